"""The 1900 1075 rescue hotline on Twilio: voice menu, queue, call log, callbacks, SMS SOS."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from aiohttp import web

from canhbao.config import Config
from canhbao.db import Migration
from canhbao.errors import ConfigError
from canhbao.keys import BUS, CLOCK, CONFIG, DB, METRIC_REFRESHERS, METRICS, SCHEDULER
from hotline import jobs, routes, store
from hotline.keys import HOTLINE, HOTLINE_SIGNATURES
from hotline.metrics import hotline_metrics
from hotline.ports import HotlinePorts
from hotline.service import Hotline
from hotline.signature import WebhookSignatures
from notify.ports import VoiceCaller

MIGRATIONS: tuple[Migration, ...] = store.MIGRATIONS

PortsFactory = Callable[[web.Application], HotlinePorts]


def setup(
    app: web.Application,
    config: Config,
    *,
    ports: PortsFactory,
    voice: Callable[[], VoiceCaller],
) -> None:
    """Check [hotline] (and the webhook auth token: provider "twilio" without it refuses to
    start), add the routes and the context that runs the hotline. `ports` builds what the
    hotline reads from other domains, `voice` the notify port that places its callbacks; the
    composition root passes both, and they run when the hotline's context starts (after the
    contexts of the domains it reads)."""
    check_config(config)
    app[HOTLINE_SIGNATURES] = WebhookSignatures(config)

    async def hotline_ctx(app: web.Application) -> AsyncIterator[None]:
        hotline = Hotline(
            config=app[CONFIG],
            db=app[DB],
            clock=app[CLOCK],
            bus=app[BUS],
            voice=voice(),
            ports=ports(app),
        )
        app[HOTLINE] = hotline
        await hotline.recover()
        job = jobs.schedule(app[SCHEDULER], hotline, config.hotline.callback_poll_interval_s)
        try:
            yield
        finally:
            job.remove()
            await hotline.drain()

    app.cleanup_ctx.append(hotline_ctx)
    app[METRIC_REFRESHERS].append(hotline_metrics(app[METRICS], app))
    routes.setup_routes(app)


def check_config(config: Config) -> None:
    settings = config.hotline
    if not settings.voice.startswith("Google.vi-VN-"):
        raise ConfigError("hotline.voice: only Google vi-VN voices speak Vietnamese")
    if config.telephony.provider == "local" and not settings.local_auth_token:
        raise ConfigError("hotline.local_auth_token: required when telephony.provider = 'local'")
    for key in ("gather_timeout_s", "operator_ring_timeout_s", "address_max_length_s"):
        if getattr(settings, key) < 1:
            raise ConfigError(f"hotline.{key}: must be at least 1")
    for key in ("operator_answer_timeout_s", "average_handle_time_s", "callback_poll_interval_s"):
        if getattr(settings, key) <= 0:
            raise ConfigError(f"hotline.{key}: must be greater than 0")
    if not settings.callback_delays_min or any(d < 0 for d in settings.callback_delays_min):
        raise ConfigError("hotline.callback_delays_min: one or more minutes, none negative")
    if not settings.queue_name or settings.queue_name == settings.callback_queue_name:
        raise ConfigError("hotline.callback_queue_name: must differ from hotline.queue_name")
    if settings.fallback_number and not settings.fallback_number.startswith("+"):
        raise ConfigError("hotline.fallback_number: must be in E.164 form, e.g. +842343822222")
