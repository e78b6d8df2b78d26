"""The live stream's in-process sources: calls moving through the hotline (its bus events), a
warning's delivery progress, components' health and cameras' flags, each emitted into the
stream's recorder.

Delivery progress is read, not pushed: the sends happen in serve's process, which writes their
outcomes to the outbox; this watcher reads an issued warning's counts at most every
`[stream] delivery_interval_s` (and, on a busy database, no more often than twenty times the
time a read took, so counting a 100,000-message fan-out never crowds the hotline's webhooks)
and emits `delivery.progress` when they changed, until nothing is left to send.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from canhbao.clock import Clock, utc_text
from canhbao.health import HealthRegistry
from canhbao.stream import StreamEvent, StreamRecorder
from canhbao.stream_catalogue import (
    AUDIENCES,
    CallEvent,
    CameraFlagEvent,
    DeliveryProgressEvent,
    SourceHealthEvent,
)
from hotline.events import CallMoved

log = logging.getLogger(__name__)

# A warning is watched at most this long after its last change (a stuck delivery stops being
# reported; its report is still at /api/v1/alerts/{id}/delivery).
WATCH_IDLE_S = 3600.0
# Outbox statuses that mean "done" for the progress figures.
SENT = ("sent",)
FAILED = ("failed", "dead", "cancelled", "withdrawn", "expired")

_STAGES = {"menu": "call.menu", "queued": "call.queued", "left": "call.left"}

DeliveryReport = Callable[[str], Awaitable[Mapping[str, object]]]


def _event(
    model: CallEvent | DeliveryProgressEvent | SourceHealthEvent | CameraFlagEvent,
) -> StreamEvent:
    data = model.model_dump(mode="json", exclude={"type"}, exclude_none=True)
    return StreamEvent(model.type, AUDIENCES[model.type], data)


def call_moved(recorder: StreamRecorder, clock: Clock) -> Callable[[CallMoved], Awaitable[None]]:
    """The bus handler: a call's move as a stream event (never waits: emit only queues it)."""

    async def handle(event: CallMoved) -> None:
        recorder.emit(
            _event(
                CallEvent(
                    type=_STAGES[event.stage],  # type: ignore[arg-type]  # the three stages
                    at=utc_text(clock.now()),
                    call_sid=event.call_sid,
                    caller=event.caller or None,
                    status=event.status,
                    queue_position=event.position,
                    wait_s=event.waited_s,
                )
            )
        )

    return handle


@dataclass
class _Watched:
    last: tuple[int, int, int, int] | None = None
    changed_at: float = field(default_factory=time.monotonic)


def progress(report: Mapping[str, object], targeted: int) -> tuple[int, int, int, int]:
    """(targeted, sent, failed, pending) from a delivery report's per-channel counts."""
    sent = failed = pending = 0
    channels = report.get("channels")
    if isinstance(channels, Mapping):
        for counts in channels.values():
            if not isinstance(counts, Mapping):
                continue
            for status, count in counts.items():
                if status in SENT:
                    sent += int(count)
                elif status in FAILED:
                    failed += int(count)
                else:
                    pending += int(count)
    return max(targeted, sent + failed + pending), sent, failed, pending


class LiveSources:
    """Watches issued warnings' delivery and the components' health, on one short tick."""

    def __init__(
        self,
        recorder: StreamRecorder,
        clock: Clock,
        health: HealthRegistry,
        report: DeliveryReport,
        targeted: Callable[[str], Awaitable[int]],
        interval_s: float,
        camera_flags: Callable[[], Mapping[str, frozenset[str]]] = dict,
    ) -> None:
        self._recorder = recorder
        self._clock = clock
        self._health = health
        self._report = report
        self._targeted = targeted
        self._interval_s = interval_s
        self._watched: dict[str, _Watched] = {}
        self._health_seen: dict[str, str] = {}
        self._camera_flags = camera_flags
        self._flags_seen: dict[str, frozenset[str]] = {}
        self._task: asyncio.Task[None] | None = None
        self._next_read = 0.0

    def watch(self, identifier: str) -> None:
        """An issued warning: report its delivery until nothing is left to send."""
        self._watched.setdefault(identifier, _Watched())

    def start(self) -> None:
        self._health_seen = {n: s.status for n, s in self._health.components.items()}
        self._flags_seen = dict(self._camera_flags())
        self._task = asyncio.create_task(self._run(), name="stream.live")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                self.check_health()
                self.check_cameras()
                await self.check_delivery()
            except Exception:
                log.exception("stream: live sources failed; trying again")

    def check_health(self) -> None:
        for name, state in list(self._health.components.items()):
            # A component first heard of is news only if it is not ok.
            before = self._health_seen.get(name, "ok")
            self._health_seen[name] = state.status
            if before != state.status:
                self._recorder.emit(
                    _event(
                        SourceHealthEvent(
                            type="source.health",
                            at=utc_text(self._clock.now()),
                            component=name,
                            status=state.status,
                            detail=state.detail[:500],
                        )
                    )
                )

    def check_cameras(self) -> None:
        """The cameras' flags, as their pollers hold them in this process (no reads)."""
        for camera_id, flags in self._camera_flags().items():
            before = self._flags_seen.get(camera_id, frozenset())
            self._flags_seen[camera_id] = flags
            if flags != before:
                self._recorder.emit(
                    _event(
                        CameraFlagEvent(
                            type="camera.flagged",
                            at=utc_text(self._clock.now()),
                            camera_id=camera_id,
                            flags=sorted(flags),
                        )
                    )
                )

    async def check_delivery(self) -> None:
        if not self._watched or time.monotonic() < self._next_read:
            return
        started = time.monotonic()
        for identifier, watched in list(self._watched.items()):
            report = await self._report(identifier)
            figures = progress(report, await self._targeted(identifier))
            now = time.monotonic()
            if figures != watched.last:
                watched.last, watched.changed_at = figures, now
                targeted, sent, failed, pending = figures
                self._recorder.emit(
                    _event(
                        DeliveryProgressEvent(
                            type="delivery.progress",
                            at=utc_text(self._clock.now()),
                            identifier=identifier,
                            targeted=targeted,
                            sent=sent,
                            failed=failed,
                            pending=pending,
                        )
                    )
                )
            if figures[3] == 0 and figures[1] + figures[2] >= figures[0] > 0:
                del self._watched[identifier]
            elif now - watched.changed_at > WATCH_IDLE_S:
                del self._watched[identifier]
        # On a busy database the counting waits longer: at most a twentieth of the time reading.
        self._next_read = time.monotonic() + 19 * (time.monotonic() - started)
