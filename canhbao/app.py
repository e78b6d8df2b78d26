"""create_app: the one composition root. Every resource is a cleanup context, set up in order."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import timedelta

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector

import alerting
import feeds
import geofences
import hotline
import notify
from alerting.auto import AUTO_DRAFTER
from alerting.errors import AlertingError
from alerting.workflow import Workflow
from canhbao import auth, eventlog, keys, routes
from canhbao.clock import Clock, SystemClock
from canhbao.config import Config
from canhbao.db import Database, Migration
from canhbao.eventlog import EventLog
from canhbao.events import EventBus
from canhbao.health import HealthRegistry
from canhbao.http import error_middleware, http_session_ctx
from canhbao.logs import request_id_middleware
from canhbao.offload import PoolLimits, ProcessPool
from feeds import levels as feed_levels
from feeds.errors import FeedError
from feeds.keys import FEEDS
from feeds.pipeline import Pipeline
from feeds.thresholds import THRESHOLD_CROSSED
from geofences.devices import DeviceRegistry
from geofences.errors import GeofenceError
from hotline import texts as hotline_texts
from hotline.errors import SourceUnavailable
from hotline.models import KnownLocation
from hotline.ports import HotlinePorts, StationLevel, WarningInForce


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
    )


def create_app(config: Config, *, clock: Clock | None = None) -> web.Application:
    app = web.Application(
        client_max_size=config.server.max_body_bytes,
        middlewares=[request_id_middleware, error_middleware, auth.auth_middleware],
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
    notify.setup(app, config)
    feeds.setup(app, config)
    geofences.setup(app, config)
    alerting.setup(app, config)
    hotline.setup(app, config, ports=_hotline_ports)
    # After every domain's context: their subscribers exist before delivery starts.
    app.cleanup_ctx.append(_durable_events_ctx)
    routes.setup_routes(app)
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


# --- the hotline's ports, over feeds, alerting and geofences --------------------------------


def _hotline_ports(app: web.Application) -> HotlinePorts:
    """Built when the hotline's context starts: the other domains' contexts ran before it."""
    return HotlinePorts(
        flood=FeedsFloodInfo(app[FEEDS].pipeline, app[keys.CLOCK]),
        warnings=AlertingWarnings(app[keys.ALERTING]),
        locations=GeofencesLocations(app[keys.GEOFENCES]),
    )


class AlertingWarnings:
    """The hotline's WarningSource over alerting's workflow: issued warnings in force at the
    caller's known place, or anywhere in the province when the place is not known."""

    SEVERE = frozenset({"Severe", "Extreme"})

    def __init__(self, workflow: Workflow) -> None:
        self._workflow = workflow

    async def in_force(self, location: KnownLocation | None) -> list[WarningInForce] | None:
        try:
            if location is None:
                alerts = await self._workflow.in_force_at()
            else:
                alerts = await self._workflow.in_force_at(location.lon, location.lat)
        except AlertingError as err:
            raise SourceUnavailable(f"warnings in force: {err}") from err
        warnings = []
        for alert in alerts:
            info = alert.info("vi-VN") or alert.infos[0]
            warnings.append(WarningInForce(info.headline, info.severity in self.SEVERE))
        return warnings


class GeofencesLocations:
    """The hotline's LocationSource over geofences' registry: the app device or phone-only
    contact that registered this number."""

    def __init__(self, registry: DeviceRegistry) -> None:
        self._registry = registry

    async def locate(self, phone: str) -> KnownLocation | None:
        try:
            found = await self._registry.location_for_phone(phone)
        except GeofenceError as err:
            raise SourceUnavailable(f"location of a phone: {err}") from err
        if found is None:
            return None
        if found.source == "contact":
            description = ", ".join(part for part in (found.address, found.ward) if part)
        else:
            description = hotline_texts.near_ward(found.ward).vi if found.ward else ""
        return KnownLocation(
            lat=found.lat,
            lon=found.lon,
            accuracy_m=found.accuracy_m,
            located_at=found.located_at,
            description=description,
            source=found.source,
        )


class FeedsFloodInfo:
    """The hotline's FloodInfoSource over feeds' pipeline: its stations, their recent good
    water levels, and feeds' own band and trend rules."""

    # A reading older than this is not read out as the current level.
    FRESH_READING = timedelta(hours=3)
    TREND_WINDOW = timedelta(hours=6)

    def __init__(self, pipeline: Pipeline, clock: Clock) -> None:
        self._pipeline = pipeline
        self._clock = clock

    async def levels(self, station_ids: Sequence[str]) -> list[StationLevel]:
        stations = self._pipeline.stations
        now = self._clock.now()
        found: list[StationLevel] = []
        for station_id in station_ids:
            station = stations.get(station_id)
            if station is None:
                continue
            try:
                points = await self._pipeline.recent_water_levels(
                    station_id, now - self.TREND_WINDOW
                )
            except FeedError as err:
                raise SourceUnavailable(f"water levels of {station_id}: {err}") from err
            if not points or now - points[-1][0] > self.FRESH_READING:
                found.append(StationLevel(station.id, station.name, station.river, None))
                continue
            observed_at, value = points[-1]
            thresholds = station.thresholds
            trend = feed_levels.trend(points)
            found.append(
                StationLevel(
                    station.id,
                    station.name,
                    station.river,
                    value,
                    feed_levels.band(value, thresholds) if thresholds is not None else 0,
                    trend.direction if trend else None,
                    trend.rate_m_per_h if trend else None,
                    observed_at,
                )
            )
        return found


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
    await events.start()
    try:
        yield
    finally:
        await events.stop()
