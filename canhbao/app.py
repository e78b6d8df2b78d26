"""create_app: the one composition root. Every resource is a cleanup context, set up in order."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector

import alerting
import cameras
import dispatch
import feeds
import geofences
import hotline
import notify
import public
import simulator
from alerting.keys import AUTO_DRAFTER
from canhbao import auth, console, eventlog, keys, routes, stream_routes, stream_store
from canhbao.adapters.alerting import alerting_ports
from canhbao.adapters.cameras import camera_ports
from canhbao.adapters.dispatch import dispatch_ports
from canhbao.adapters.geofences import OutboxTopicSender
from canhbao.adapters.hotline import hotline_ports
from canhbao.adapters.public import public_ports
from canhbao.adapters.report import report_sources
from canhbao.adapters.simulator import simulator_ports
from canhbao.adapters.stream import close_streams, stream_ctx
from canhbao.clock import Clock, SystemClock
from canhbao.config import Config
from canhbao.db import Database, Migration
from canhbao.eventlog import EventLog
from canhbao.events import EventBus
from canhbao.health import HealthRegistry
from canhbao.heap import settled_heap_ctx
from canhbao.http import error_middleware, http_session_ctx
from canhbao.logs import request_id_middleware
from canhbao.offload import PoolLimits, ProcessPool
from dispatch.events import REQUEST_CREATED
from dispatch.teams_keys import DISPATCH_OFFERS
from exercises.report import routes as report_routes
from feeds.thresholds import THRESHOLD_CROSSED
from hotline.keys import HOTLINE_SIGNATURES
from notify import keys as notify_keys
from notify.events import PushTokenRejected

MAX_REQUEST_LINE = 65_536


def all_migrations() -> tuple[Migration, ...]:
    """Every domain's migrations, in the order the domains depend on each other."""
    return (
        *eventlog.MIGRATIONS,
        *auth.MIGRATIONS,
        *notify.MIGRATIONS,
        *feeds.MIGRATIONS,
        *geofences.MIGRATIONS,
        *alerting.MIGRATIONS,
        *hotline.MIGRATIONS,
        *dispatch.MIGRATIONS,
        *cameras.MIGRATIONS,
        *stream_store.MIGRATIONS,
    )


def create_app(
    config: Config, *, clock: Clock | None = None, remote_sender: notify.RemoteSender | None = None
) -> web.Application:
    """The web app. The outbox sender runs inside it, unless `remote_sender` links it to the
    sender in another process (`canhbao serve`'s: notify.process.create_sender_app), which then
    also runs the fan-out runner (canhbao.adapters.fanout.sender_fanout_ctx)."""
    app = web.Application(
        client_max_size=config.server.max_body_bytes,
        middlewares=[request_id_middleware, error_middleware, auth.auth_middleware],
        # A request line up to 64 KiB (aiohttp's default is 8 KiB): a search pasted into the
        # public pages' /tim?q= (10,000 characters, percent-encoded) is answered, trimmed.
        handler_args={"max_line_size": MAX_REQUEST_LINE},
    )
    app[keys.CONFIG] = config
    app[keys.CLOCK] = clock or SystemClock()
    app[keys.BUS] = EventBus()
    app[keys.HEALTH] = HealthRegistry()
    app[keys.METRICS] = _metrics_registry()
    app[keys.METRIC_REFRESHERS] = []

    app.cleanup_ctx.append(_database_ctx)
    app.cleanup_ctx.append(_event_log_ctx)
    app.cleanup_ctx.append(http_session_ctx)
    app.cleanup_ctx.append(_scheduler_ctx)
    app.cleanup_ctx.append(_offload_ctx)
    app.on_shutdown.append(_stop_offloaded_jobs)
    auth.setup(app, config)
    notify.setup(app, config, remote=remote_sender)
    feeds.setup(app, config)
    geofences.setup(app, config, topics=lambda: OutboxTopicSender(app[notify_keys.OUTBOX]))
    alerting.setup(app, config, ports=alerting_ports, run_fanout=remote_sender is None)
    # Before the hotline's context: the hotline creates rescue requests through dispatch.
    dispatch.setup(app, config, ports=dispatch_ports)
    dispatch.setup_teams(app, config, forms=lambda: app[HOTLINE_SIGNATURES])
    hotline.setup(app, config, ports=hotline_ports, voice=lambda: app[notify_keys.VOICE])
    cameras.setup(app, config, ports=camera_ports)
    public.setup(app, config, ports=public_ports)
    simulator.setup(app, config, ports=simulator_ports(app))
    # The after-action report over this service's own database (exercises.report).
    report_routes.setup(app, lambda: report_sources(app[keys.DB]), app[keys.CLOCK])
    # After every domain's context: their subscribers exist before delivery starts.
    app.cleanup_ctx.append(_durable_events_ctx)
    # The staff live stream (README "Live events and simulators"): follows what every domain
    # audits or logs, in any process; its streams end first at shutdown.
    app.cleanup_ctx.append(stream_ctx)
    app.on_shutdown.append(close_streams)
    # Last: what every context above loaded is kept out of the collector's full collections.
    app.cleanup_ctx.append(settled_heap_ctx)
    stream_routes.setup_routes(app)
    routes.setup_routes(app)
    console.setup(app)
    return app


def _metrics_registry() -> CollectorRegistry:
    # One registry per app (not prometheus_client's global): tests build many apps per process.
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


async def _database_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[keys.CONFIG]
    db = Database(config.resolve(config.database.path), config.database.busy_timeout_ms)
    await db.open()
    try:
        await db.migrate(all_migrations())
        app[keys.DB] = db
        yield
    finally:
        await db.close()


async def _scheduler_ctx(app: web.Application) -> AsyncIterator[None]:
    scheduler = AsyncIOScheduler(timezone="UTC")
    app[keys.SCHEDULER] = scheduler
    scheduler.start()
    yield
    scheduler.shutdown(wait=False)


async def _offload_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.CONFIG].offload
    pool = ProcessPool(
        PoolLimits(
            workers=settings.workers,
            time_limit_s=settings.time_limit_s,
            memory_limit_bytes=settings.memory_limit_mb << 20,
        )
    )
    app[keys.OFFLOAD] = pool
    yield
    await pool.close()


async def _stop_offloaded_jobs(app: web.Application) -> None:
    # on_shutdown runs before aiohttp waits for open requests: a request waiting on a runaway
    # job fails at once instead of holding the stop (SIGTERM) for the job's time limit.
    if keys.OFFLOAD in app:
        await app[keys.OFFLOAD].close()


async def _event_log_ctx(app: web.Application) -> AsyncIterator[None]:
    """The durable event log, for domains to append to as their contexts start."""
    events = EventLog(app[keys.DB], app[keys.CLOCK], app[keys.HEALTH])
    app[keys.EVENTS] = events
    collector = events.collector()
    app[keys.METRICS].register(collector)
    app[keys.METRIC_REFRESHERS].append(events.refresh_metrics)
    yield
    app[keys.METRICS].unregister(collector)


async def _durable_events_ctx(app: web.Application) -> AsyncIterator[None]:
    """Who acts on which durable event, then delivery from each one's cursor; stops first."""
    events = app[keys.EVENTS]
    events.subscribe("alerting.auto_draft", THRESHOLD_CROSSED, app[AUTO_DRAFTER].on_event)
    events.subscribe("dispatch.auto_offer", REQUEST_CREATED, app[DISPATCH_OFFERS].on_created)

    async def look_now(event: PushTokenRejected) -> None:
        # The sender published it after committing it to the log (here, or in serve's process
        # over the link): subscribers read it now. The log, not this, is what a crash keeps.
        events.committed()

    app[keys.BUS].subscribe(PushTokenRejected, look_now)
    await events.start()
    try:
        yield
    finally:
        await events.stop()
