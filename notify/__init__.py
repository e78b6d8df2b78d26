"""Outbound channels: push (FCM), SMS and voice (Twilio), and the durable outbox that sends them."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from canhbao import keys
from canhbao.config import Config, read_secret
from canhbao.db import Migration
from canhbao.errors import ConfigError
from notify import local, outbox, routes
from notify.journal import SentJournal
from notify.outbox import Outbox
from notify.outbox_worker import OutboxWorker
from notify.ports import PushSender, SmsSender, VoiceCaller

log = logging.getLogger(__name__)

MIGRATIONS: tuple[Migration, ...] = (*outbox.MIGRATIONS, *local.MIGRATIONS)


def setup(app: web.Application, config: Config) -> None:
    """Check the chosen providers' secrets now (a real provider without them refuses to start),
    and add the context that builds the providers and runs the outbox worker."""
    for key in ("poll_interval_s", "sms_per_second", "voice_per_second"):
        if getattr(config.outbox, key) <= 0:
            raise ConfigError(f"outbox.{key}: must be greater than 0")
    if config.push.provider == "firebase":
        firebase = config.push.firebase
        read_secret(firebase.credentials_env, "push.firebase.credentials_env")
    if config.telephony.provider == "twilio":
        twilio = config.telephony.twilio
        read_secret(twilio.account_sid_env, "telephony.twilio.account_sid_env")
        read_secret(twilio.auth_token_env, "telephony.twilio.auth_token_env")
    app.cleanup_ctx.append(_notify_ctx)
    routes.setup_routes(app)


async def _notify_ctx(app: web.Application) -> AsyncIterator[None]:
    """Providers, the outbox and its worker; on the way down the worker stops first, so nothing
    is mid-send when the providers close."""
    config = app[keys.CONFIG]
    closers: list[Callable[[], Awaitable[None]]] = []
    try:
        push = _push_sender(app, config, closers)
        sms, voice = _telephony(app, config, closers)
        box = Outbox(app[keys.DB], app[keys.CLOCK])
        database = app[keys.DB].path
        journal = SentJournal(database.with_name(database.name + "-sent"))
        closers.append(_closing(journal))
        app[keys.PUSH] = push
        app[keys.SMS] = sms
        app[keys.VOICE] = voice
        app[keys.OUTBOX] = box
        worker = OutboxWorker(
            box,
            push,
            sms,
            voice,
            config.outbox,
            app[keys.CLOCK],
            app[keys.BUS],
            app[keys.HEALTH],
            app[keys.METRICS],
            shutdown_timeout_s=config.server.shutdown_timeout_s,
            journal=journal,
        )
        app[keys.METRIC_REFRESHERS].append(worker.refresh_metrics)
        worker.start()
        try:
            yield
        finally:
            await worker.stop()
    finally:
        for close in reversed(closers):
            try:
                await close()
            except Exception:
                log.exception("closing a notify provider failed")


def _closing(journal: SentJournal) -> Callable[[], Awaitable[None]]:
    async def close() -> None:
        journal.close()

    return close


def _push_sender(
    app: web.Application, config: Config, closers: list[Callable[[], Awaitable[None]]]
) -> PushSender:
    if config.push.provider == "firebase":
        from notify.firebase import FirebasePush  # google-auth and friends: only when chosen

        firebase = FirebasePush.from_config(
            config.push.firebase, app[keys.HTTP], clock=app[keys.CLOCK]
        )
        closers.append(firebase.close)
        return firebase
    return local.LocalPush(app[keys.DB], app[keys.CLOCK])


def _telephony(
    app: web.Application, config: Config, closers: list[Callable[[], Awaitable[None]]]
) -> tuple[SmsSender, VoiceCaller]:
    if config.telephony.provider == "twilio":
        from notify.twilio import TwilioTelephony  # the twilio library: only when chosen

        twilio = TwilioTelephony.from_config(config.telephony.twilio)
        closers.append(twilio.close)
        return twilio, twilio
    telephony = local.LocalTelephony(app[keys.DB], app[keys.CLOCK])
    return telephony, telephony
