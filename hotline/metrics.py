"""Hotline gauges for /metrics, read from the database at each scrape (the log is the truth)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge

from canhbao import keys
from hotline import store

CALLBACK_STATUSES = ("open", "calling", "reached", "exhausted", "closed")


def hotline_metrics(
    registry: CollectorRegistry, app: web.Application
) -> Callable[[], Awaitable[None]]:
    """Register the gauges in the app's registry; returns the refresher run before a scrape
    (it reads the database and the clock from the app once they are set up)."""
    callbacks = Gauge(
        "hotline_callbacks",
        "Callback tasks by status (exhausted ones need an operator)",
        ["status"],
        registry=registry,
    )
    calls = Gauge(
        "hotline_calls_24h",
        "Calls received in the last 24 hours, by kind and final status",
        ["kind", "status"],
        registry=registry,
    )

    async def refresh() -> None:
        db = app[keys.DB]
        by_status = dict.fromkeys(CALLBACK_STATUSES, 0)
        by_status.update(await store.count_tasks_by_status(db))
        for status, count in by_status.items():
            callbacks.labels(status=status).set(count)
        since = app[keys.CLOCK].now() - timedelta(hours=24)
        calls.clear()
        for kind, status, count in await store.count_calls_since(db, since):
            calls.labels(kind=kind, status=status).set(count)

    return refresh
