"""One camera's polling: fetch, check, store, flag; through canhbao.polling's lifecycle (one
attempt at a time, backoff, the outage logged once and its recovery once).

Every fetch is recorded whatever its outcome; nothing from a failed one is stored; a failure
(or a bug) in one camera never touches another (each has its own state and lock).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp

from cameras import store
from cameras.cpu import StillDecoder
from cameras.errors import CameraError, FetchFailed, ImageRejected
from cameras.fetching import CameraClient
from cameras.files import ImageFiles
from cameras.images import Limits
from cameras.models import (
    Camera,
    Fetch,
    Flag,
    FlagName,
    Measures,
    Sameness,
    Still,
    Thresholds,
    image_flags,
    merge_flags,
)
from canhbao.clock import Clock
from canhbao.db import Database
from canhbao.health import HealthRegistry
from canhbao.http import Validators
from canhbao.polling import Poller, PollState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PollSettings:
    timeout_s: float
    max_bytes: int
    backoff_max_s: float
    unreachable_after: int
    limits: Limits
    thresholds: Thresholds


@dataclass
class CameraState(PollState):
    latest: Still | None = None
    flags: dict[FlagName, Flag] = field(default_factory=dict)
    sameness: Sameness = field(default_factory=Sameness)
    validators: Validators = ("", "")
    picture_flags: dict[FlagName, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {**super().as_json(), "flags": [flag.as_json() for flag in self.flags.values()]}


@dataclass(frozen=True)
class Polled:
    outcome: str
    still: Still | None


class CameraPoller:
    def __init__(
        self,
        camera: Camera,
        client: CameraClient,
        settings: PollSettings,
        *,
        interval_s: float,
        session: aiohttp.ClientSession,
        db_store: StoreDeps,
        clock: Clock,
        health: HealthRegistry,
    ) -> None:
        self.camera = camera
        self.state = CameraState(camera.id)
        self._client = client
        self._settings = settings
        self._session = session
        self._deps = db_store
        self._clock = clock
        # The failure of the attempt in progress: error, bytes, milliseconds, HTTP status.
        self._failure: tuple[FetchFailed | ImageRejected, int, float, int | None] | None = None
        self._polling = Poller(
            self.state,
            self._attempt,
            describe=lambda polled: polled.outcome,
            expected=(CameraError,),
            interval_s=interval_s,
            backoff_max_s=settings.backoff_max_s,
            clock=clock,
            health=health,
            health_name=f"cameras.{camera.id}",
            log=log,
            subject="camera",
        )

    def due(self) -> bool:
        """False while backing off after failures."""
        return self._polling.due()

    async def poll(self) -> Polled | None:
        """Fetch once and record what came of it; never raises."""
        self._failure = None
        polled = await self._polling.poll()
        if polled is None:
            await self._record_failure()
        return polled

    async def _record_failure(self) -> None:
        state, now = self.state, self.state.last_attempt_at or self._clock.now()
        error, size, duration_ms, status = self._failure or (None, 0, 0.0, None)
        reason = error.reason if error is not None else "crashed"
        holding = {name: flag.detail for name, flag in state.flags.items()}
        if state.consecutive_failures >= self._settings.unreachable_after:
            holding["unreachable"] = f"{state.consecutive_failures} failed fetches: {reason}"
        flags = merge_flags(state.flags, holding, now)
        if "unreachable" in flags and state.failing_since is not None:
            flags["unreachable"] = Flag("unreachable", state.failing_since, holding["unreachable"])
        changed = flags != state.flags
        state.flags = flags
        fetch = Fetch(self.camera.id, now, status, size, duration_ms, "failed", reason)
        await store.record_fetch(self._deps.db, fetch, flags if changed else None)

    async def _attempt(self, now: datetime) -> Polled:
        settings, state = self._settings, self.state
        started = time.monotonic()
        try:
            got = await self._client.fetch(
                self._session,
                timeout_s=self.camera.timeout_s or settings.timeout_s,
                max_bytes=settings.max_bytes,
                validators=state.validators if self.camera.kind != "mjpeg" else None,
            )
        except FetchFailed as err:
            self._failure = (err, 0, (time.monotonic() - started) * 1000, err.status)
            raise
        fetched_ms = (time.monotonic() - started) * 1000
        if got.body is None:
            return await self._not_modified(now, fetched_ms)
        try:
            image = await self._deps.decoder.analyse(got.body, settings.limits)
        except ImageRejected as err:
            self._failure = (err, len(got.body), fetched_ms, got.status)
            raise
        await asyncio.to_thread(self._deps.files.write, image.sha256, image.body, image.thumbnail)
        state.picture_flags = image_flags(
            Measures(image.mean, image.stddev, image.sharpness), settings.thresholds
        )
        state.sameness.see(image.phash, now, settings.thresholds.frozen_max_distance)
        flags = self._flags(now)
        fetch = Fetch(self.camera.id, now, got.status, len(got.body), fetched_ms, "stored")
        still = await store.record_still(
            self._deps.db, self.camera.id, image, fetch, flags if flags != state.flags else None
        )
        state.flags = flags
        outcome = (
            "unchanged" if state.latest is not None and state.latest.id == still.id else "stored"
        )
        state.latest = still
        state.validators = got.validators
        return Polled(outcome, still)

    async def _not_modified(self, now: datetime, fetched_ms: float) -> Polled:
        state = self.state
        if state.latest is not None:
            state.sameness.see(
                state.latest.phash, now, self._settings.thresholds.frozen_max_distance
            )
        flags = self._flags(now)
        fetch = Fetch(
            self.camera.id,
            now,
            304,
            0,
            fetched_ms,
            "not_modified",
            still_id=state.latest.id if state.latest else None,
        )
        await store.record_fetch(self._deps.db, fetch, flags if flags != state.flags else None)
        state.flags = flags
        return Polled("not_modified", state.latest)

    def _flags(self, now: datetime) -> dict[FlagName, Flag]:
        state, thresholds = self.state, self._settings.thresholds
        holding = dict(state.picture_flags)
        sameness = state.sameness
        flags = merge_flags(state.flags, holding, now)
        if sameness.frozen(thresholds.frozen_polls, now) and sameness.since is not None:
            # Frozen since the unchanged picture was first seen.
            flags["frozen"] = Flag(
                "frozen", sameness.since, f"the same picture in {sameness.polls} stills"
            )
        return flags


@dataclass(frozen=True)
class StoreDeps:
    """What every camera's poller shares: the database, the image files, the decoder."""

    db: Database
    files: ImageFiles
    decoder: StillDecoder
