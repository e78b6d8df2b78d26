"""Outbound channels: push (FCM), SMS and voice (Twilio), and the durable outbox that sends them.

Where the outbox sender runs is the caller's choice (see the README's "Processes"): in the same
process as the web app (`setup` without a remote sender: tests, `Local` development), or in
`canhbao serve`'s own process (`setup_sender`) while the web process enqueues and reads
(`setup` with a RemoteSender), the two linked by notify.sender_link.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from canhbao import keys as shell_keys
from canhbao.config import Config, read_secret
from canhbao.db import Migration
from canhbao.errors import ConfigError
from notify import keys, local, outbox, routes
from notify.errors import SenderBusy
from notify.journal import SentJournal
from notify.outbox import Outbox
from notify.outbox_worker import OutboxWorker
from notify.ports import PushSender, SmsSender, VoiceCaller
from notify.sender_link import SenderEnd, WatchedHealth, WebEnd

log = logging.getLogger(__name__)

__all__ = ["MIGRATIONS", "SENDER_END", "RemoteSender", "SenderBusy", "setup", "setup_sender"]

MIGRATIONS: tuple[Migration, ...] = (*outbox.MIGRATIONS, *local.MIGRATIONS)

# The sender's end of the link to the web process (set by setup_sender's context).
SENDER_END = web.AppKey("notify_sender_end", SenderEnd)


@dataclass(frozen=True)
class RemoteSender:
    """The outbox sender runs in another process: the socket to it, and what this process does
    if that socket closes (the sender's process is gone)."""

    sock: socket.socket
    on_lost: Callable[[], None]


def setup(app: web.Application, config: Config, *, remote: RemoteSender | None = None) -> None:
    """Check the chosen providers' secrets now (a real provider without them refuses to start),
    and add the context that builds the providers and the outbox, and runs the outbox worker
    here unless `remote` says it runs in another process."""
    _check(config)
    app.cleanup_ctx.append(_notify_ctx if remote is None else _remote_ctx(remote))
    routes.setup_routes(app)


def setup_sender(app: web.Application, config: Config) -> None:
    """The outbox sender alone, for `canhbao serve`'s own process: providers, outbox, worker and
    the sender's end of the link (SENDER_END). The app's HEALTH must be a WatchedHealth."""
    _check(config)
    app.cleanup_ctx.append(_sender_ctx)


def _check(config: Config) -> None:
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


async def _notify_ctx(app: web.Application) -> AsyncIterator[None]:
    """Providers, the outbox and its worker in this process."""
    async with _running_worker(app):
        yield


async def _sender_ctx(app: web.Application) -> AsyncIterator[None]:
    """The worker (in this process, which sends and nothing else) and its end of the link."""
    health = app[shell_keys.HEALTH]
    if not isinstance(health, WatchedHealth):
        raise TypeError("setup_sender needs a WatchedHealth as the app's HEALTH")
    database = app[shell_keys.DB].path
    with _sender_lock(database.with_name(database.name + "-sender.lock")):
        async with _running_worker(app) as worker:
            others = app.get(keys.ON_KICK, [])
            refreshers = app[shell_keys.METRIC_REFRESHERS]

            def kick() -> None:
                worker.kick()
                for listener in others:
                    listener()

            async def refresh() -> None:
                for refresher in refreshers:
                    await refresher()

            app[SENDER_END] = SenderEnd(
                health, app[shell_keys.METRICS], app[shell_keys.BUS], kick, refresh
            )
            yield


def _remote_ctx(remote: RemoteSender) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        """Providers and the outbox here (to enqueue, read, and call operators); the worker runs
        in the process at the link's other end."""
        config = app[shell_keys.CONFIG]
        closers: list[Callable[[], Awaitable[None]]] = []
        try:
            _providers(app, config, closers)
            reader, writer = await asyncio.open_connection(sock=remote.sock)
            shell = app[shell_keys.HEALTH], app[shell_keys.BUS], app[shell_keys.CLOCK]
            end = WebEnd(reader, writer, *shell, remote.on_lost)
            app[keys.OUTBOX].on_enqueue(end.kick)
            app[shell_keys.METRICS].register(end)
            end.start()
            try:
                yield
            finally:
                await end.close()
        finally:
            await _close_all(closers)

    return ctx


@contextlib.contextmanager
def _sender_lock(path: Path) -> Iterator[None]:
    """One sender per database: the recovery of rows left `sending` and the sent journal assume
    no other process is sending them. The kernel drops the lock when its holder dies."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SenderBusy(
                f"another process sends from this database's outbox (it holds {path})"
            ) from None
        yield
    finally:
        os.close(fd)


def _providers(
    app: web.Application, config: Config, closers: list[Callable[[], Awaitable[None]]]
) -> Outbox:
    push = _push_sender(app, config, closers)
    sms, voice = _telephony(app, config, closers)
    box = Outbox(app[shell_keys.DB], app[shell_keys.CLOCK])
    app[keys.PUSH] = push
    app[keys.SMS] = sms
    app[keys.VOICE] = voice
    app[keys.OUTBOX] = box
    return box


async def _close_all(closers: list[Callable[[], Awaitable[None]]]) -> None:
    for close in reversed(closers):
        try:
            await close()
        except Exception:
            log.exception("closing a notify provider failed")


@contextlib.asynccontextmanager
async def _running_worker(app: web.Application) -> AsyncIterator[OutboxWorker]:
    """Providers, the outbox and its worker; on the way down the worker stops first, so nothing
    is mid-send when the providers close."""
    config = app[shell_keys.CONFIG]
    closers: list[Callable[[], Awaitable[None]]] = []
    try:
        box = _providers(app, config, closers)
        database = app[shell_keys.DB].path
        journal = SentJournal(database.with_name(database.name + "-sent"))
        closers.append(_closing(journal))
        worker = OutboxWorker(
            box,
            app[keys.PUSH],
            app[keys.SMS],
            app[keys.VOICE],
            config.outbox,
            app[shell_keys.CLOCK],
            app[shell_keys.BUS],
            app[shell_keys.HEALTH],
            app[shell_keys.METRICS],
            shutdown_timeout_s=config.server.shutdown_timeout_s,
            journal=journal,
        )
        app[shell_keys.METRIC_REFRESHERS].append(worker.refresh_metrics)
        worker.start()
        try:
            yield worker
        finally:
            await worker.stop()
    finally:
        await _close_all(closers)


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
            config.push.firebase, app[shell_keys.HTTP], clock=app[shell_keys.CLOCK]
        )
        closers.append(firebase.close)
        return firebase
    return local.LocalPush(app[shell_keys.DB], app[shell_keys.CLOCK])


def _telephony(
    app: web.Application, config: Config, closers: list[Callable[[], Awaitable[None]]]
) -> tuple[SmsSender, VoiceCaller]:
    if config.telephony.provider == "twilio":
        from notify.twilio import TwilioTelephony  # the twilio library: only when chosen

        twilio = TwilioTelephony.from_config(config.telephony.twilio)
        closers.append(twilio.close)
        return twilio, twilio
    telephony = local.LocalTelephony(app[shell_keys.DB], app[shell_keys.CLOCK])
    return telephony, telephony
