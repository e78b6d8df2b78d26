"""Retention: all recent stills, then one an hour, then none; under a disk cap oldest first;
never a still taken while an issued warning covered the camera."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from alerting.models import GEOCODE_WARD, Area, Geocode
from cameras import store
from cameras.errors import CameraError
from cameras.models import Kept, Policy, plan_retention
from canhbao.clock import ManualClock
from tests.alerting.conftest import alert, info, workflow_of
from tests.cameras.conftest import Rig, RigFactory, camera_entry, jpeg, scene
from tests.geofences.conftest import load_hue

T0 = datetime(2025, 11, 1, 0, 0, tzinfo=UTC)
POLICY = Policy(keep_all=timedelta(days=7), hourly=timedelta(days=90), max_disk_bytes=10**12)


def kept(still_id: int, at: datetime, camera: str = "c", sha: str = "", size: int = 100) -> Kept:
    return Kept(still_id, camera, at, at, sha or f"{still_id:064x}", size)


def test_recent_stills_are_all_kept_older_ones_one_an_hour_oldest_none() -> None:
    now = T0 + timedelta(days=100)
    recent = [kept(i, now - timedelta(days=1, minutes=5 * i)) for i in range(1, 4)]
    # Twelve stills five minutes apart in one hour, ten days ago: one stays.
    hour = now - timedelta(days=10)
    hour = hour.replace(minute=0)
    older = [kept(100 + i, hour + timedelta(minutes=5 * i)) for i in range(12)]
    ancient = [kept(200, now - timedelta(days=91))]

    plan = plan_retention([*recent, *older, *ancient], {}, now, POLICY)

    assert plan.delete == {*(100 + i for i in range(1, 12)), 200}
    assert plan.reasons == {"hourly": 11, "age": 1}


def test_stills_in_a_warning_window_are_kept_whatever_their_age() -> None:
    now = T0 + timedelta(days=200)
    start = T0 + timedelta(hours=1)
    windows = {"c": [(start, start + timedelta(hours=2))], "open": [(start, None)]}
    inside = [kept(i, start + timedelta(minutes=i)) for i in range(1, 6)]
    outside = [kept(10, start - timedelta(minutes=1)), kept(11, start + timedelta(hours=3))]
    ongoing = [kept(20, now - timedelta(days=30), camera="open")]

    plan = plan_retention([*inside, *outside, *ongoing], windows, now, POLICY)

    assert plan.delete == {10, 11}
    assert plan.protected == 6


def test_a_still_a_warning_carries_as_evidence_is_kept_whatever_its_age_or_the_cap() -> None:
    now = T0 + timedelta(days=200)
    old = [kept(1, T0), kept(2, T0 + timedelta(minutes=5))]
    pinned = Kept(
        3, "c", T0 + timedelta(minutes=10), T0 + timedelta(minutes=10), "c" * 64, 100, True
    )
    policy = Policy(keep_all=timedelta(days=7), hourly=timedelta(days=90), max_disk_bytes=0)
    plan = plan_retention([*old, pinned], {}, now, policy)
    assert plan.delete == {1, 2}
    assert plan.protected == 1
    assert plan.over_cap_bytes == 100


def test_a_still_spanning_into_a_window_is_kept() -> None:
    # First fetched before the warning, seen again (unchanged) during it.
    start = T0 + timedelta(hours=1)
    still = Kept(1, "c", start - timedelta(hours=1), start + timedelta(minutes=1), "a" * 64, 1)
    plan = plan_retention([still], {"c": [(start, None)]}, T0 + timedelta(days=200), POLICY)
    assert plan.delete == frozenset()


def test_over_the_disk_cap_the_oldest_go_first_but_never_warning_stills() -> None:
    now = T0 + timedelta(days=1)
    stills = [kept(i, T0 + timedelta(minutes=i), size=100) for i in range(10)]
    windows = {"c": [(T0, T0 + timedelta(seconds=30))]}  # covers still 0 only
    policy = Policy(timedelta(days=7), timedelta(days=90), max_disk_bytes=650)

    plan = plan_retention(stills, windows, now, policy)

    assert plan.delete == {1, 2, 3, 4}
    assert plan.reasons == {"disk": 4}


def test_an_image_shared_by_two_stills_frees_space_only_with_both() -> None:
    now = T0 + timedelta(days=1)
    shared = "b" * 64
    stills = [
        kept(1, T0, sha=shared, size=500),
        kept(2, T0 + timedelta(minutes=1), camera="d", sha=shared, size=500),
        kept(3, T0 + timedelta(minutes=2), size=500),
    ]
    policy = Policy(timedelta(days=7), timedelta(days=90), max_disk_bytes=600)
    assert plan_retention(stills, {}, now, policy).delete == {1, 2}


async def _issue_over_kim_long(rig: Rig) -> str:
    await load_hue(rig.client)
    workflow = workflow_of(rig.client)
    polygon = ((16.44, 107.54), (16.44, 107.58), (16.47, 107.58), (16.47, 107.54), (16.44, 107.54))
    area = Area("Phường Kim Long", (polygon,), (Geocode(GEOCODE_WARD, "hue.kim-long"),))
    now = rig.service.clock.now()
    draft = alert(
        infos=(
            info("vi-VN", areas=(area,), expires=now + timedelta(hours=6), resources=()),
            info("en-US", areas=(area,), expires=now + timedelta(hours=6), resources=()),
        )
    )
    stored = await workflow.create(draft, "user:lan")
    await workflow.submit(stored.identifier, "user:lan")
    await workflow.approve(stored.identifier, "user:minh")
    await workflow.issue(stored.identifier, "user:minh")
    return stored.identifier


async def test_stills_under_an_issued_warning_survive_retention(
    rig: RigFactory, clock: ManualClock
) -> None:
    r = await rig(
        [camera_entry("kl1", "/a.jpg"), camera_entry("far", "/b.jpg", lat=16.7, lon=107.2)],
        retention={"keep_all_days": 1.0, "hourly_days": 2.0},
    )
    r.camera.still("/b.jpg", jpeg(scene(50)))
    seed = 0

    async def poll_both() -> None:
        nonlocal seed
        seed += 1
        r.camera.still("/a.jpg", jpeg(scene(seed)))
        await r.poll("kl1")
        await r.poll("far")

    await poll_both()  # before the warning
    clock.advance(timedelta(seconds=30))
    identifier = await _issue_over_kim_long(r)
    assert await r.service.refresh_coverage() == {"kl1"}
    assert r.service.interval(r.service.pollers["kl1"].camera) == 60.0
    assert r.service.interval(r.service.pollers["far"].camera) == 300.0
    during = clock.now()
    for _ in range(3):
        clock.advance(timedelta(minutes=1))
        await poll_both()
    clock.advance(timedelta(hours=7))  # the warning has expired
    assert await r.service.refresh_coverage() == set()
    clock.advance(timedelta(minutes=5))
    await poll_both()  # after it

    clock.advance(timedelta(days=3))
    plan = await r.service.run_retention()

    left = await store.stills_between(r.service.deps.db, "kl1", None, None, None, 100)
    assert [s.fetched_at for s in reversed(left)] == [
        during + timedelta(minutes=m) for m in (1, 2, 3)
    ]
    assert await store.stills_between(r.service.deps.db, "far", None, None, None, 100) == []
    assert plan.protected == 3
    files = {p.name for p in r.service.deps.files.root.rglob("*") if p.is_file()}
    assert files == {s.sha256 for s in left} | {f"{s.sha256}.thumb" for s in left}
    assert identifier

    metrics = await (await r.client.get("/metrics")).text()
    assert 'canhbao_cameras_retention_deleted_total{what="stills"} 3.0' in metrics
    assert "canhbao_cameras_stored_files 6.0" in metrics


@pytest.mark.parametrize("days", [0.5, 2.0])
async def test_fetch_records_are_kept_for_their_days(
    rig: RigFactory, clock: ManualClock, days: float
) -> None:
    r = await rig([camera_entry("kl1", "/a.jpg")], fetches_keep_days=1.0)
    r.camera.still("/a.jpg", jpeg(scene()))
    await r.poll("kl1")
    clock.advance(timedelta(days=days))
    await r.service.run_retention()
    left = await store.recent_fetches(r.service.deps.db, "kl1", 10)
    assert len(left) == (1 if days < 1 else 0)


class FailingCoverage:
    async def covered(self, points: object) -> list[bool]:
        raise CameraError("alerting is down")


async def test_a_failing_warning_lookup_keeps_what_was_known(
    rig: RigFactory, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    r = await rig([camera_entry("kl1", "/a.jpg")])
    await _issue_over_kim_long(r)
    assert await r.service.refresh_coverage() == {"kl1"}
    r.service._warnings = FailingCoverage()

    clock.advance(timedelta(minutes=1))
    assert await r.service.refresh_coverage() == {"kl1"}
    assert "warnings covering cameras unknown" in caplog.text
    assert await store.open_windows(r.service.deps.db) == {
        "kl1": clock.now() - timedelta(minutes=1)
    }


async def test_over_the_disk_cap_the_oldest_files_go_and_metrics_show_what_is_left(
    rig: RigFactory, clock: ManualClock
) -> None:
    r = await rig([camera_entry("kl1", "/a.jpg")])
    for seed in (1, 2, 3):
        r.camera.still("/a.jpg", jpeg(scene(seed)))
        await r.poll("kl1")
        clock.advance(timedelta(minutes=5))
    stills = await store.stills_between(r.service.deps.db, "kl1", None, None, None, 10)
    root = r.service.deps.files.root

    def size(sha: str) -> int:
        return sum(p.stat().st_size for p in root.rglob(f"{sha}*") if p.is_file())

    newest_two = size(stills[0].sha256) + size(stills[1].sha256)
    retention = dataclasses.replace(r.service.settings.retention, max_disk_bytes=newest_two)
    r.service.settings = dataclasses.replace(r.service.settings, retention=retention)

    plan = await r.service.run_retention()

    assert plan.delete == {stills[2].id}
    assert plan.reasons == {"disk": 1}
    on_disk = [p for p in root.rglob("*") if p.is_file()]
    assert {p.name.removesuffix(".thumb") for p in on_disk} == {s.sha256 for s in stills[:2]}
    metrics = await (await r.client.get("/metrics")).text()
    assert f"canhbao_cameras_stored_bytes {float(sum(p.stat().st_size for p in on_disk))}" in (
        metrics
    )
    assert "canhbao_cameras_stored_files 4.0" in metrics
    assert 'canhbao_cameras_retention_deleted_total{what="files"} 2.0' in metrics
    assert "canhbao_cameras_over_cap_bytes 0.0" in metrics
