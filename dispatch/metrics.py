"""Dispatch gauges for /metrics, read from the database at each scrape (the rows are the truth)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge

from canhbao import keys
from dispatch import store
from dispatch.models import State


def dispatch_metrics(
    registry: CollectorRegistry, app: web.Application
) -> Callable[[], Awaitable[None]]:
    """Register the gauges in the app's registry; returns the refresher run before a scrape."""
    requests = Gauge(
        "dispatch_requests",
        "Rescue requests by state (new ones wait for triage)",
        ["state"],
        registry=registry,
    )

    async def refresh() -> None:
        counts = await store.count_by_state(app[keys.DB])
        for state in State:
            requests.labels(state=state.value).set(counts.get(state.value, 0))

    return refresh
