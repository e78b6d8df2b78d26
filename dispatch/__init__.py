"""Rescue dispatch: requests from every channel (calls, SMS, the app, operators), triage,
priority, duplicates, the claim lock; teams, offers and escalation build on them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

from aiohttp import web

from canhbao.config import Config
from canhbao.db import Migration
from canhbao.imagefiles import ImageFiles
from canhbao.keys import CLOCK, DB, EVENTS, METRIC_REFRESHERS, METRICS
from dispatch import app_routes, report_routes, routes, store
from dispatch.app_intake import AppIntake
from dispatch.keys import DISPATCH_APP, DISPATCH_MERGER, DISPATCH_REQUESTS
from dispatch.merging import Merger
from dispatch.metrics import dispatch_metrics
from dispatch.photos import PHOTO_MAX_BYTES
from dispatch.ports import DispatchPorts
from dispatch.requests import Requests

MIGRATIONS: tuple[Migration, ...] = store.MIGRATIONS

PortsFactory = Callable[[web.Application], DispatchPorts]


def setup(app: web.Application, config: Config, *, ports: PortsFactory) -> None:
    """Add the routes and the context that builds the requests' service. `ports` builds what
    dispatch reads from other domains (wards, warnings, devices, the outbox); it runs when the
    context starts, after the contexts of the domains it reads, and before the hotline's (the
    hotline creates requests through dispatch)."""

    async def dispatch_ctx(app: web.Application) -> AsyncIterator[None]:
        requests = Requests(
            app[DB],
            app[CLOCK],
            app[EVENTS],
            ports(app),
            sms_sender=config.telephony.hotline_number,
        )
        app[DISPATCH_REQUESTS] = requests
        app[DISPATCH_MERGER] = Merger(requests)
        app[DISPATCH_APP] = AppIntake(requests, ImageFiles(photos_dir(config)), max_photo_bytes)
        yield

    max_photo_bytes = min(PHOTO_MAX_BYTES, config.server.max_body_bytes)
    app.cleanup_ctx.append(dispatch_ctx)
    app[METRIC_REFRESHERS].append(dispatch_metrics(app[METRICS], app))
    routes.setup_routes(app)
    app_routes.setup_routes(app)
    report_routes.setup_routes(app)


def photos_dir(config: Config) -> Path:
    """Photos sent with requests live beside the database, content-addressed."""
    return config.resolve(config.database.path).parent / "dispatch-photos"
