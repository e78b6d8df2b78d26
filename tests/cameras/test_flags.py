"""Quality flags: frozen (by perceptual hash), dark, uniform, blurred, unreachable; each with
the time since it holds, kept across polls and cleared when it stops holding."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from cameras import store
from cameras.models import Flag, Sameness, merge_flags
from canhbao.clock import ManualClock, SystemClock
from tests.cameras.conftest import (
    Rig,
    RigFactory,
    black_frame,
    blurred_frame,
    camera_entry,
    jpeg,
    scene,
)


def flags(rig: Rig, camera_id: str = "kl1") -> dict[str, Flag]:
    return dict(rig.service.pollers[camera_id].state.flags)


async def test_a_reencoded_identical_scene_is_frozen_since_it_was_first_seen(
    rig: RigFactory, clock: ManualClock
) -> None:
    r = await rig([camera_entry("kl1", "/snap.jpg")], frozen_polls=4)
    picture = scene(3)
    started = clock.now()
    # Each still is a new JPEG encoding of the same scene: new bytes, a new file, every time.
    for poll, quality in enumerate((90, 80, 70, 60)):
        r.camera.still("/snap.jpg", jpeg(picture, quality))
        assert await r.poll("kl1") == "stored"
        assert ("frozen" in flags(r)) == (poll == 3)
        clock.advance(timedelta(minutes=5))
    assert flags(r)["frozen"].since == started

    r.camera.still("/snap.jpg", jpeg(scene(4)))
    assert await r.poll("kl1") == "stored"
    assert "frozen" not in flags(r)


async def test_a_camera_answering_304_for_ever_is_frozen(
    rig: RigFactory, clock: ManualClock
) -> None:
    r = await rig([camera_entry("kl1", "/snap.jpg")], frozen_polls=3)
    r.camera.still("/snap.jpg", jpeg(scene()), etag=True)
    outcomes = []
    for _ in range(3):
        outcomes.append(await r.poll("kl1"))
        clock.advance(timedelta(minutes=5))
    assert outcomes == ["stored", "not_modified", "not_modified"]
    assert "frozen" in flags(r)


async def test_a_black_frame_is_dark_and_uniform_and_keeps_its_since(
    rig: RigFactory, clock: ManualClock
) -> None:
    r = await rig([camera_entry("kl1", "/snap.jpg")])
    r.camera.still("/snap.jpg", black_frame())
    first = clock.now()
    await r.poll("kl1")
    clock.advance(timedelta(minutes=5))
    await r.poll("kl1")

    held = flags(r)
    assert set(held) == {"dark", "uniform"}
    assert held["dark"].since == first == held["uniform"].since
    stored = await store.load_flags(r.service.deps.db)
    assert stored["kl1"] == held

    r.camera.still("/snap.jpg", jpeg(scene()))
    await r.poll("kl1")
    assert flags(r) == {}
    assert await store.load_flags(r.service.deps.db) == {}


async def test_a_blurred_frame_is_blurred_and_a_sharp_one_is_not(rig: RigFactory) -> None:
    r = await rig([camera_entry("kl1", "/snap.jpg"), camera_entry("kl2", "/sharp.jpg")])
    r.camera.still("/snap.jpg", blurred_frame())
    r.camera.still("/sharp.jpg", jpeg(scene()))
    await r.poll("kl1")
    await r.poll("kl2")
    assert set(flags(r, "kl1")) == {"blurred"}
    assert "sharpness" in flags(r, "kl1")["blurred"].detail
    assert flags(r, "kl2") == {}


async def test_unreachable_after_failures_since_the_first_and_cleared_on_recovery(
    rig: RigFactory, clock: ManualClock
) -> None:
    r = await rig([camera_entry("kl1", "/snap.jpg")], unreachable_after_failures=2)
    r.camera.still("/snap.jpg", jpeg(scene()))
    r.camera.fault("/snap.jpg", "status_500")
    first = clock.now()
    await r.poll("kl1")
    assert "unreachable" not in flags(r)
    clock.advance(timedelta(minutes=10))
    await r.poll("kl1")
    assert flags(r)["unreachable"].since == first

    response = await r.client.get("/api/v1/cameras/kl1")
    body = await response.json()
    assert body["status"] == "failing"
    assert [f["flag"] for f in body["flags"]] == ["unreachable"]

    r.camera.fault("/snap.jpg", None)
    clock.advance(timedelta(minutes=10))
    await r.poll("kl1")
    assert "unreachable" not in flags(r)


@pytest.mark.parametrize("moment", [SystemClock().now(), datetime(2025, 11, 16, 12, 0, tzinfo=UTC)])
def test_sameness_needs_time_to_pass(moment: datetime) -> None:
    sameness = Sameness()
    for _ in range(5):
        sameness.see("00ff00ff00ff00ff", moment, 4)
    assert not sameness.frozen(5, moment)  # five stills at one instant are not a frozen feed
    assert sameness.frozen(5, moment + timedelta(microseconds=1))


def test_merge_keeps_since_of_held_flags() -> None:
    then = datetime(2025, 11, 16, 3, 0, tzinfo=UTC)
    now = then + timedelta(minutes=5)
    held = {"dark": Flag("dark", then, "old")}
    merged = merge_flags(held, {"dark": "new", "blurred": "b"}, now)  # type: ignore[dict-item]
    assert merged["dark"] == Flag("dark", then, "new")
    assert merged["blurred"].since == now


async def test_an_outage_is_logged_once_and_its_recovery_once(
    rig: RigFactory, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cameras.poller")
    r = await rig([camera_entry("kl1", "/snap.jpg")])
    r.camera.still("/snap.jpg", jpeg(scene()))
    r.camera.fault("/snap.jpg", "status_500")
    for _ in range(3):
        await r.poll("kl1")
        clock.advance(timedelta(hours=1))
    r.camera.fault("/snap.jpg", None)
    await r.poll("kl1")
    await r.poll("kl1")

    messages = [record.getMessage() for record in caplog.records if record.name == "cameras.poller"]
    assert messages == ["camera failing", "camera recovered"]
    outcomes = [f.outcome for f in await store.recent_fetches(r.service.deps.db, "kl1", 10)]
    assert outcomes == ["unchanged", "stored", "failed", "failed", "failed"]


async def test_a_camera_under_a_warning_is_polled_every_minute(
    rig: RigFactory, clock: ManualClock
) -> None:
    class Covering:
        async def covered(self, points: object) -> list[bool]:
            return [True]

    r = await rig([camera_entry("kl1", "/snap.jpg")])
    r.camera.still("/snap.jpg", jpeg(scene()))
    await r.poll("kl1")
    clock.advance(timedelta(seconds=61))
    assert r.service.due(clock.now()) == []  # every 5 minutes without a warning
    r.service._warnings = Covering()
    await r.service.refresh_coverage()
    assert r.service.due(clock.now()) == ["kl1"]
