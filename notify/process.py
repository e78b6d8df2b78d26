"""The composition of `canhbao serve`'s own process: the outbox sender and nothing else.

Kept apart from canhbao.app (which imports every domain) so that serve's process imports only
what sending needs; the web process, which serve starts first, migrates the database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import CollectorRegistry, ProcessCollector

import notify
from canhbao import keys
from canhbao.clock import Clock, SystemClock
from canhbao.config import Config
from canhbao.db import Database
from canhbao.events import EventBus
from canhbao.heap import settled_heap_ctx
from canhbao.http import http_session_ctx
from notify import keys as notify_keys
from notify.sender_link import WatchedHealth


def create_sender_app(config: Config, *, clock: Clock | None = None) -> web.Application:
    """The database (already migrated), the shared HTTP session and the outbox sender; no
    routes. Its health and metrics reach the web process's /healthz and /metrics over the link
    (notify.SENDER_END)."""
    app = web.Application()
    app[keys.CONFIG] = config
    app[keys.CLOCK] = clock or SystemClock()
    app[keys.BUS] = EventBus()
    app[keys.HEALTH] = WatchedHealth()
    registry = CollectorRegistry()
    # Prefixed: the web process shows these beside its own process_* figures.
    ProcessCollector(namespace="outbox_sender", registry=registry)
    app[keys.METRICS] = registry
    app[keys.METRIC_REFRESHERS] = []
    app[notify_keys.ON_KICK] = []
    app.cleanup_ctx.append(_database_ctx)
    app.cleanup_ctx.append(http_session_ctx)
    notify.setup_sender(app, config)
    app.cleanup_ctx.append(settled_heap_ctx)  # last: canhbao.heap
    return app


async def _database_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[keys.CONFIG]
    db = Database(config.resolve(config.database.path), config.database.busy_timeout_ms)
    await db.open()
    try:
        app[keys.DB] = db
        yield
    finally:
        await db.close()
