"""The running cameras domain (cameras.keys.CAMERAS): the registry, one poller per camera,
which cameras a warning covers, retention, and what the routes read."""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import aiohttp

from cameras import store
from cameras.errors import CameraConflict, CameraError, CameraInvalid, CameraNotFound
from cameras.fetching import CameraClient, Credentials
from cameras.models import Camera, Plan, Policy, Validator, plan_retention
from cameras.poller import CameraPoller, Polled, PollSettings, StoreDeps
from cameras.ports import WardLocator, WarningCoverage
from canhbao.audit import record_audit
from canhbao.clock import Clock
from canhbao.config import CamerasConfig
from canhbao.health import HealthRegistry

log = logging.getLogger(__name__)

# How often the cameras ask whether an issued warning covers them (each ask reads the warnings
# in force once, for every camera together).
COVERAGE_EVERY = timedelta(seconds=30)


@dataclass
class Counters:
    fetches: dict[str, int] = field(default_factory=dict)
    deleted_stills: int = 0
    deleted_files: int = 0
    retention_runs: int = 0
    over_cap_bytes: int = 0


class Cameras:
    def __init__(
        self,
        settings: CamerasConfig,
        poll_settings: PollSettings,
        deps: StoreDeps,
        *,
        session: aiohttp.ClientSession,
        clock: Clock,
        health: HealthRegistry,
        wards: WardLocator,
        warnings: WarningCoverage,
        environ: Mapping[str, str],
    ) -> None:
        self.settings = settings
        self.poll_settings = poll_settings
        self.deps = deps
        self.clock = clock
        self.pollers: dict[str, CameraPoller] = {}
        self.covered: set[str] = set()
        self.counters = Counters()
        self._session = session
        self._health = health
        self._wards = wards
        self._warnings = warnings
        self._environ = environ
        self._first_due: dict[str, datetime] = {}
        self._coverage_at: datetime | None = None
        self._slots = asyncio.Semaphore(settings.max_concurrent)
        self._running: dict[str, asyncio.Task[Polled | None]] = {}
        # The latest still's validator per (camera, thumbnail), rebuilt when the picture changes.
        self._validators: dict[tuple[str, bool], Validator] = {}
        self._latest_cache = f"public, max-age={settings.image_cache_s}"

    # -- registry -------------------------------------------------------------------------

    async def load(self, configured: list[Camera]) -> None:
        """Adopt the config's cameras (they replace what the database had for them), then start
        a poller for every enabled camera."""
        db, now = self.deps.db, self.clock.now()
        before = await store.config_camera_ids(db)
        async with db.transaction() as conn:
            for camera in configured:
                await store.save_camera(conn, await self._placed(camera), now)
            for gone in sorted(before - {camera.id for camera in configured}):
                await store.retire_camera(conn, gone, now)
        flags = await store.load_flags(db)
        latest = await store.latest_stills(db)
        for camera in await store.load_cameras(db):
            try:
                self._start(camera)
            except CameraInvalid as err:
                # A camera added over the API whose password variable is gone: the others
                # still start; this one shows as failing until its variable is back.
                log.warning("camera not polled", extra={"camera": camera.id, "error": str(err)})
                self._health.report(f"cameras.{camera.id}", "failing", str(err), critical=False)
                continue
            poller = self.pollers.get(camera.id)
            if poller is not None:
                poller.state.flags = flags.get(camera.id, {})
                poller.state.latest = latest.get(camera.id)
        self.covered = set(await store.open_windows(db))

    async def _placed(self, camera: Camera) -> Camera:
        ward = await self._wards.ward_at(camera.lon, camera.lat)
        return Camera(
            **{
                **camera.__dict__,
                "ward_code": ward.code if ward else "",
                "ward_name": ward.name if ward else "",
            }
        )

    def _credentials(self, camera: Camera) -> Credentials | None:
        if camera.auth == "none":
            return None
        password = self._environ.get(camera.password_env, "")
        if not password:
            raise CameraInvalid(
                "password_env", f"environment variable {camera.password_env} is not set"
            )
        return Credentials(camera.username, password)

    def _start(self, camera: Camera) -> None:
        old = self.pollers.pop(camera.id, None)
        self._health.components.pop(f"cameras.{camera.id}", None)
        if not camera.enabled:
            return
        poller = CameraPoller(
            camera,
            CameraClient(camera, self._credentials(camera)),
            self.poll_settings,
            interval_s=self.interval(camera),
            session=self._session,
            db_store=self.deps,
            clock=self.clock,
            health=self._health,
        )
        if old is not None:
            poller.state.latest, poller.state.flags = old.state.latest, old.state.flags
        self.pollers[camera.id] = poller
        # Spread first polls over up to a minute (stable per camera), so 500 cameras do not
        # all start in step.
        spread = min(self.interval(camera), 60.0) * (zlib.crc32(camera.id.encode()) % 1000) / 1000
        self._first_due[camera.id] = self.clock.now() + timedelta(seconds=spread)

    async def save(self, camera: Camera, actor: str, *, creating: bool) -> Camera:
        """Create or change a camera from the staff API, audited in the same transaction."""
        placed = await self._placed(camera)
        self._credentials(placed)  # a missing secret is refused now, not at the first poll
        db, now = self.deps.db, self.clock.now()
        async with db.transaction() as conn:
            found = await store.get_camera(conn, camera.id)
            before = found[0] if found and not found[1] else None
            if creating and before is not None:
                raise CameraConflict(f"camera {camera.id!r} exists")
            if not creating and before is None:
                raise CameraNotFound(camera.id)
            if before is not None and before.origin == "config":
                raise CameraConflict("a camera from config.toml is changed there")
            await store.save_camera(conn, placed, now)
            await record_audit(
                conn,
                at=now,
                actor=actor,
                action="cameras.camera.create" if creating else "cameras.camera.update",
                entity="camera",
                entity_id=camera.id,
                before=before.as_fields() if before else None,
                after=placed.as_fields(),
            )
        self._start(placed)
        return placed

    async def retire(self, camera_id: str, actor: str) -> None:
        db, now = self.deps.db, self.clock.now()
        async with db.transaction() as conn:
            found = await store.get_camera(conn, camera_id)
            if found is None or found[1]:
                raise CameraNotFound(camera_id)
            if found[0].origin == "config":
                raise CameraConflict("a camera from config.toml is removed there")
            await store.retire_camera(conn, camera_id, now)
            await record_audit(
                conn,
                at=now,
                actor=actor,
                action="cameras.camera.retire",
                entity="camera",
                entity_id=camera_id,
                before=found[0].as_fields(),
                after=None,
            )
        self.pollers.pop(camera_id, None)
        self._health.components.pop(f"cameras.{camera_id}", None)

    async def camera(self, camera_id: str) -> Camera:
        found = await store.get_camera(self.deps.db.reader, camera_id)
        if found is None or found[1]:
            raise CameraNotFound(camera_id)
        return found[0]

    async def place_wards(self) -> list[str]:
        """Place every camera in its ward again (areas are re-imported while we run); returns
        the ids of those whose ward changed. A derived fact, so not audited."""
        moved = []
        for camera in await store.load_cameras(self.deps.db):
            placed = await self._placed(camera)
            if (placed.ward_code, placed.ward_name) != (camera.ward_code, camera.ward_name):
                moved.append(placed)
        if moved:
            async with self.deps.db.transaction() as conn:
                for camera in moved:
                    await store.save_camera(conn, camera, self.clock.now())
            for camera in moved:
                poller = self.pollers.get(camera.id)
                if poller is not None:
                    poller.camera = camera
            log.info("cameras placed in new wards", extra={"cameras": [c.id for c in moved]})
        return [camera.id for camera in moved]

    # -- polling --------------------------------------------------------------------------

    def interval(self, camera: Camera) -> float:
        normal = camera.interval_s or self.settings.interval_s
        if camera.id in self.covered:
            return min(normal, self.settings.warning_interval_s)
        return normal

    def due(self, now: datetime) -> list[str]:
        found = []
        for camera_id, poller in self.pollers.items():
            if camera_id in self._running or not poller.due():
                continue
            last = poller.state.last_attempt_at
            if last is None:
                if now >= self._first_due.get(camera_id, now):
                    found.append(camera_id)
            elif now >= last + timedelta(seconds=self.interval(poller.camera)):
                found.append(camera_id)
        return found

    async def tick(self) -> list[asyncio.Task[Polled | None]]:
        """The scheduled job: look at warnings when it is time, then start every due poll
        (at most max_concurrent fetch at once). Returns the polls started."""
        now = self.clock.now()
        if self._coverage_at is None or now - self._coverage_at >= COVERAGE_EVERY:
            await self.refresh_coverage()
            await self.place_wards()
        return [self.start_poll(camera_id) for camera_id in self.due(now)]

    def start_poll(self, camera_id: str) -> asyncio.Task[Polled | None]:
        running = self._running.get(camera_id)
        if running is not None:
            return running
        task = asyncio.create_task(self._poll(camera_id), name=f"camera-poll-{camera_id}")
        self._running[camera_id] = task
        task.add_done_callback(lambda _: self._running.pop(camera_id, None))
        return task

    async def poll(self, camera_id: str) -> Polled | None:
        """Poll one camera now and wait for it (staff's "poll now", tests)."""
        if camera_id not in self.pollers:
            raise CameraNotFound(camera_id)
        return await self.start_poll(camera_id)

    async def _poll(self, camera_id: str) -> Polled | None:
        async with self._slots:
            poller = self.pollers.get(camera_id)
            if poller is None:
                return None
            polled = await poller.poll()
        outcome = polled.outcome if polled is not None else "failed"
        self.counters.fetches[outcome] = self.counters.fetches.get(outcome, 0) + 1
        return polled

    async def stop(self) -> None:
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- warnings -------------------------------------------------------------------------

    async def refresh_coverage(self) -> set[str]:
        """Ask which cameras an issued warning covers now; open and close their windows
        (stills in a window are kept for good)."""
        now = self.clock.now()
        self._coverage_at = now
        cameras = [poller.camera for poller in self.pollers.values()]
        try:
            answers = await self._warnings.covered([(c.lon, c.lat) for c in cameras])
        except CameraError as err:
            # Keep what was known (a window stays open rather than closing on a hiccup).
            log.warning("warnings covering cameras unknown", extra={"error": str(err)})
            return self.covered
        covered = {camera.id for camera, yes in zip(cameras, answers, strict=True) if yes}
        opened = sorted(covered - self.covered)
        closed = sorted(self.covered - covered)
        if opened or closed:
            await store.change_windows(self.deps.db, opened, closed, now)
            log.info("cameras under a warning changed", extra={"opened": opened, "closed": closed})
        self.covered = covered
        return covered

    # -- retention ------------------------------------------------------------------------

    async def run_retention(self) -> Plan:
        retention = self.settings.retention
        now = self.clock.now()
        policy = Policy(
            keep_all=timedelta(days=retention.keep_all_days),
            hourly=timedelta(days=retention.hourly_days),
            max_disk_bytes=retention.max_disk_bytes,
        )
        stills = await store.kept_stills(self.deps.db)
        windows = await store.warning_windows(self.deps.db)
        plan = plan_retention(stills, windows, now, policy)
        freed = await store.delete_stills(
            self.deps.db, plan.delete, now - timedelta(days=self.settings.fetches_keep_days)
        )
        for sha256 in freed:
            await asyncio.to_thread(self.deps.files.delete, sha256)
        for poller in self.pollers.values():
            latest = poller.state.latest
            if latest is not None and latest.id in plan.delete:
                poller.state.latest = None
        self.counters.deleted_stills += len(plan.delete)
        self.counters.deleted_files += 2 * len(freed)
        self.counters.retention_runs += 1
        self.counters.over_cap_bytes = plan.over_cap_bytes
        if plan.delete:
            log.info(
                "camera stills deleted",
                extra={"stills": len(plan.delete), "images": len(freed), **plan.reasons},
            )
        if plan.over_cap_bytes:
            log.warning(
                "camera stills over the disk cap; the rest were taken under warnings",
                extra={"over_bytes": plan.over_cap_bytes},
            )
        return plan

    # -- reading --------------------------------------------------------------------------

    def latest_validator(self, camera_id: str, thumbnail: bool) -> Validator | None:
        """The validator of the camera's latest still (from its poller's memory: no I/O), or
        None when none is known in memory."""
        poller = self.pollers.get(camera_id)
        latest = poller.state.latest if poller is not None else None
        if latest is None:
            return None
        found = self._validators.get((camera_id, thumbnail))
        if found is None or found.sha256 != latest.sha256:
            found = Validator.of(latest.sha256, thumbnail, self._latest_cache)
            self._validators[(camera_id, thumbnail)] = found
        return found

    def status(self, camera_id: str) -> dict[str, Any]:
        poller = self.pollers.get(camera_id)
        if poller is None:
            return {"status": "disabled", "flags": [], "under_warning": False}
        state = poller.state
        return {
            "status": state.status,
            "flags": [flag.as_json() for flag in state.flags.values()],
            "under_warning": camera_id in self.covered,
        }
