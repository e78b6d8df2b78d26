"""Hotline gauges for /metrics, read from the database at each scrape (the log is the truth)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from aiohttp import web
from prometheus_client import Gauge

from canhbao import keys
from canhbao.clock import utc_text

CALLBACK_STATUSES = ("open", "calling", "reached", "exhausted", "closed")


def hotline_metrics(app: web.Application) -> Callable[[], Awaitable[None]]:
    """Register the gauges in the app's registry; returns the refresher run before a scrape."""
    registry = app[keys.METRICS]
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
    rescue_open = Gauge(
        "hotline_rescue_requests_new",
        "Rescue requests not yet triaged",
        registry=registry,
    )

    async def refresh() -> None:
        db = app[keys.DB]
        by_status = dict.fromkeys(CALLBACK_STATUSES, 0)
        for row in await db.fetch_all(
            "SELECT status, COUNT(*) AS n FROM hotline_callbacks GROUP BY status"
        ):
            by_status[row["status"]] = row["n"]
        for status, count in by_status.items():
            callbacks.labels(status=status).set(count)
        since = utc_text(app[keys.CLOCK].now() - timedelta(hours=24))
        calls.clear()
        for row in await db.fetch_all(
            "SELECT kind, COALESCE(status, 'in-progress') AS status, COUNT(*) AS n"
            " FROM hotline_calls WHERE received_at >= ? GROUP BY kind, 2",
            (since,),
        ):
            calls.labels(kind=row["kind"], status=row["status"]).set(row["n"])
        new = await db.fetch_one(
            "SELECT COUNT(*) FROM hotline_rescue_requests WHERE status = 'new'"
        )
        rescue_open.set(new[0] if new else 0)

    return refresh
