"""The link between the outbox sender (in `canhbao serve`'s own process) and the web process.

One socket, one JSON object per line. The sender's end sends what the web process must show or
act on; the web's end sends what the sender must hear at once:

    sender → web  {"health": {name: [status, detail, since, critical]}}   on change, and every
                  {"metrics": "<Prometheus text>"}                       SNAPSHOT_S seconds
                  {"event": ["PushTokenRejected", token, code]}           as they happen
    web → sender  {"kick": 1}                                             rows were enqueued

Rows themselves never cross it: they are in the database, which both processes open (WAL); the
kick only saves the sender its poll interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from canhbao.clock import Clock, parse_utc, utc_text
from canhbao.events import EventBus
from canhbao.health import ComponentState, HealthRegistry
from notify.events import PushTokenRejected

log = logging.getLogger(__name__)

SNAPSHOT_S = 1.0
# Without a word from the sender for this long, the web process reports the outbox failing.
SILENT_S = 10.0
MAX_LINE = 16 * 1024 * 1024  # a metrics snapshot is a few kB; this only bounds a bad peer
EVENT_BUFFER = 100_000  # token rejections held while no web process is connected


class WatchedHealth(HealthRegistry):
    """A HealthRegistry that calls `on_change` when a component's status or detail changes."""

    def __init__(self) -> None:
        super().__init__()
        self.on_change: Callable[[], None] = lambda: None

    def report(
        self,
        name: str,
        status: Any,
        detail: str = "",
        *,
        at: datetime | None = None,
        critical: bool = True,
    ) -> None:
        before = self.components.get(name)
        super().report(name, status, detail, at=at, critical=critical)
        if before is None or (before.status, before.detail) != (status, detail):
            self.on_change()


def _health_message(health: HealthRegistry) -> bytes:
    body = {
        name: [state.status, state.detail, utc_text(state.since) if state.since else None,
               state.critical]
        for name, state in health.components.items()
    }  # fmt: skip
    return _line({"health": body})


def _line(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


class SenderEnd:
    """The sender's side, in serve's process: what it reports reaches the connected web process;
    a kick from it wakes the sender."""

    def __init__(
        self,
        health: WatchedHealth,
        metrics: CollectorRegistry,
        bus: EventBus,
        kick: Callable[[], None],
        refresh: Callable[[], Any],
    ) -> None:
        self._health = health
        self._metrics = metrics
        self._kick = kick
        self._refresh = refresh  # before each metrics snapshot (queue depth from the database)
        self._writer: asyncio.StreamWriter | None = None
        self._events: list[bytes] = []
        self._changed = asyncio.Event()
        health.on_change = self._changed.set

        async def forward(event: PushTokenRejected) -> None:
            line = _line({"event": ["PushTokenRejected", event.token, event.code]})
            if self._writer is not None and not self._writer.is_closing():
                self._writer.write(line)
            elif len(self._events) < EVENT_BUFFER:
                self._events.append(line)

        bus.subscribe(PushTokenRejected, forward)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Talk to one web process until its end closes."""
        self._writer = writer
        for line in self._events:
            writer.write(line)
        self._events.clear()
        snapshots = asyncio.create_task(self._snapshots(writer), name="sender-link-snapshots")
        try:
            while line := await reader.readline():
                with contextlib.suppress(ValueError, AttributeError):
                    if json.loads(line).get("kick"):
                        self._kick()
        finally:
            snapshots.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await snapshots
            if self._writer is writer:
                self._writer = None

    async def _snapshots(self, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        next_metrics = 0.0
        while not writer.is_closing():
            self._changed.clear()
            writer.write(_health_message(self._health))
            if loop.time() >= next_metrics:
                try:
                    await self._refresh()
                except Exception:  # a busy database: the next snapshot tries again
                    log.debug("refreshing the sender's metrics failed", exc_info=True)
                writer.write(_line({"metrics": generate_latest(self._metrics).decode()}))
                next_metrics = loop.time() + SNAPSHOT_S
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, next_metrics - loop.time())):
                    await self._changed.wait()


class WebEnd:
    """The web process's side: mirrors the sender's health into this process's /healthz and its
    metrics into /metrics, publishes its events on this process's bus, and kicks it when rows
    are enqueued here."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        health: HealthRegistry,
        bus: EventBus,
        clock: Clock,
        on_lost: Callable[[], None],
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._health = health
        self._bus = bus
        self._clock = clock
        self._on_lost = on_lost
        self._metrics_text = ""
        self._heard = time.monotonic()
        self._silent = False
        self._kick_pending = False
        self._tasks: list[asyncio.Task[None]] = []
        # Until the sender's first word: the web process has just started, not the sender failed.
        health.report("outbox", "ok", "waiting for the sender process", at=clock.now())

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._read(), name="sender-link-read"),
            asyncio.create_task(self._watch(), name="sender-link-watch"),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()

    def kick(self) -> None:
        """Rows were enqueued: wake the sender (at most one kick per loop turn)."""
        if self._kick_pending or self._writer.is_closing():
            return
        self._kick_pending = True
        asyncio.get_running_loop().call_soon(self._send_kick)

    def _send_kick(self) -> None:
        self._kick_pending = False
        if not self._writer.is_closing():
            self._writer.write(_line({"kick": 1}))

    def collect(self) -> Iterator[Metric]:
        """The sender's last metrics, for this process's registry (a custom collector)."""
        if self._metrics_text:
            yield from text_string_to_metric_families(self._metrics_text)

    async def _read(self) -> None:
        try:
            while line := await self._reader.readline():
                self._heard = time.monotonic()
                try:
                    message = json.loads(line)
                except ValueError:
                    log.warning("unreadable line from the sender process")
                    continue
                await self._handle(message)
        except (ConnectionError, asyncio.IncompleteReadError, ValueError) as err:
            log.warning("link to the sender process broken", extra={"error": repr(err)})
        log.warning("the sender process closed its link; stopping the web process")
        self._on_lost()

    async def _handle(self, message: dict[str, Any]) -> None:
        if "health" in message:
            self._silent = False
            for name, (status, detail, since, critical) in message["health"].items():
                self._health.report(
                    name, status, detail, at=parse_utc(since) if since else None,
                    critical=critical,
                )  # fmt: skip
        elif "metrics" in message:
            self._metrics_text = message["metrics"]
        elif "event" in message:
            kind, token, code = message["event"]
            if kind == "PushTokenRejected":
                await self._bus.publish(PushTokenRejected(token, code))

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(SNAPSHOT_S)
            quiet = time.monotonic() - self._heard
            if quiet >= SILENT_S and not self._silent:
                self._silent = True
                previous = self._health.components.get("outbox", ComponentState())
                self._health.report(
                    "outbox", "failing",
                    f"no word from the sender process for {quiet:.0f} s", at=self._clock.now(),
                    critical=previous.critical,
                )  # fmt: skip
