"""Fetching and storing stills from a fake camera: every outcome recorded, bad input refused."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from cameras import store
from canhbao.clock import ManualClock
from tests.cameras.conftest import (
    Rig,
    RigFactory,
    black_frame,
    camera_entry,
    camera_exif,
    huge_jpeg,
    jpeg,
    png,
    scene,
)


async def fetches(rig: Rig, camera_id: str) -> list[Any]:
    return await store.recent_fetches(rig.service.deps.db, camera_id, 100)


def stored_files(rig: Rig) -> list[Path]:
    return sorted(p for p in rig.service.deps.files.root.rglob("*") if p.is_file())


async def test_a_jpeg_is_stored_once_with_metadata_thumbnail_and_no_exif(rig: RigFactory) -> None:
    picture = jpeg(scene(), exif=camera_exif())
    assert b"CameraMakerSecret" in picture
    r = await rig([camera_entry("kl1", "/snap.jpg")])
    r.camera.still("/snap.jpg", picture)

    assert await r.poll("kl1") == "stored"

    still = r.service.pollers["kl1"].state.latest
    assert still is not None
    assert (still.width, still.height, still.mime) == (1280, 720, "image/jpeg")
    body = r.service.deps.files.read(still.sha256)
    assert body is not None
    assert b"CameraMakerSecret" not in body
    with Image.open(r.service.deps.files.path(still.sha256)) as stored:
        assert stored.getexif() == {}
    with Image.open(r.service.deps.files.path(still.sha256, thumbnail=True)) as thumbnail:
        assert thumbnail.size == (320, 180)
    [fetch] = await fetches(r, "kl1")
    assert (fetch.outcome, fetch.status, fetch.bytes, fetch.still_id) == (
        "stored",
        200,
        len(picture),
        still.id,
    )
    assert fetch.duration_ms > 0


async def test_the_same_image_again_is_one_still_and_one_file(
    rig: RigFactory, clock: ManualClock
) -> None:
    picture = jpeg(scene())
    r = await rig([camera_entry("kl1", "/snap.jpg"), camera_entry("kl2", "/other.jpg")])
    r.camera.still("/snap.jpg", picture)
    r.camera.still("/other.jpg", picture)

    assert await r.poll("kl1") == "stored"
    first = r.service.pollers["kl1"].state.latest
    clock.advance(timedelta(minutes=5))
    assert await r.poll("kl1") == "unchanged"
    assert await r.poll("kl2") == "stored"  # another camera, the same bytes: the same file

    assert len(stored_files(r)) == 2  # the picture and its thumbnail, once
    stills = await store.stills_between(r.service.deps.db, "kl1", None, None, None, 10)
    assert len(stills) == 1
    assert first is not None
    assert stills[0].id == first.id
    assert stills[0].last_seen_at == clock.now()
    assert [f.outcome for f in await fetches(r, "kl1")] == ["unchanged", "stored"]


MODIFIED = "Wed, 03 Dec 2025 13:05:00 GMT"


@pytest.mark.parametrize(
    ("validator", "header"), [("etag", "If-None-Match"), ("last_modified", "If-Modified-Since")]
)
async def test_conditional_requests_get_304_and_store_nothing(
    rig: RigFactory, validator: str, header: str
) -> None:
    r = await rig([camera_entry("kl1", "/snap.jpg")])
    given: dict[str, Any] = {"etag": True} if validator == "etag" else {"last_modified": MODIFIED}
    r.camera.still("/snap.jpg", jpeg(scene()), **given)

    assert await r.poll("kl1") == "stored"
    assert await r.poll("kl1") == "not_modified"

    first, second = r.camera.requests_to("/snap.jpg")[:2]
    assert header not in first.headers
    assert second.headers[header] == (MODIFIED if validator == "last_modified" else first_etag(r))
    assert r.camera.not_modified == 1
    assert [(f.outcome, f.status) for f in await fetches(r, "kl1")] == [
        ("not_modified", 304),
        ("stored", 200),
    ]


def first_etag(r: Rig) -> str:
    return f'"{hashlib.sha256(r.camera.routes["/snap.jpg"].frames[0]).hexdigest()[:16]}"'


async def test_a_png_is_stored(rig: RigFactory) -> None:
    r = await rig([camera_entry("kl1", "/snap.png")])
    r.camera.still("/snap.png", png(scene()), content_type="image/png")
    assert await r.poll("kl1") == "stored"
    still = r.service.pollers["kl1"].state.latest
    assert still is not None
    assert still.mime == "image/png"


async def test_mjpeg_takes_the_first_frame_and_closes(rig: RigFactory) -> None:
    frames = [jpeg(scene(1)), jpeg(scene(2))]
    r = await rig([camera_entry("kl1", "/video", kind="mjpeg")])
    r.camera.mjpeg("/video", frames)

    assert await r.poll("kl1") == "stored"

    still = r.service.pollers["kl1"].state.latest
    assert still is not None
    assert r.service.deps.files.read(still.sha256) == frames[0]


@pytest.mark.parametrize("kind", ["snapshot", "onvif"])
@pytest.mark.parametrize("auth", ["basic", "digest"])
async def test_credentials_from_the_environment(
    rig: RigFactory, monkeypatch: pytest.MonkeyPatch, auth: str, kind: str
) -> None:
    # An ONVIF camera is fetched at the snapshot URI its GetSnapshotUri gave, usually behind
    # digest auth.
    monkeypatch.setenv("KL1_PASSWORD", "mật-khẩu")
    entry = camera_entry(
        "kl1", "/snap.jpg", auth=auth, username="admin", password_env="KL1_PASSWORD", kind=kind
    )
    r = await rig([entry])
    r.camera.still("/snap.jpg", jpeg(scene()))
    r.camera.credentials("/snap.jpg", auth, "admin", "mật-khẩu")  # type: ignore[arg-type]

    assert await r.poll("kl1") == "stored", await fetches(r, "kl1")


@pytest.mark.parametrize("auth", ["basic", "digest"])
async def test_wrong_credentials_are_a_failed_fetch(
    rig: RigFactory, monkeypatch: pytest.MonkeyPatch, auth: str
) -> None:
    monkeypatch.setenv("KL1_PASSWORD", "wrong")
    entry = camera_entry(
        "kl1", "/snap.jpg", auth=auth, username="admin", password_env="KL1_PASSWORD"
    )
    r = await rig([entry])
    r.camera.still("/snap.jpg", jpeg(scene()))
    r.camera.credentials("/snap.jpg", auth, "admin", "right")  # type: ignore[arg-type]

    assert await r.poll("kl1") == "failed"
    [fetch] = await fetches(r, "kl1")
    assert (fetch.outcome, fetch.reason, fetch.status) == ("failed", "auth_failed", 401)


def _truncated() -> bytes:
    body = jpeg(scene())
    return body[: len(body) * 2 // 3]


BAD = [
    # (what the camera does, the path's body, fault, camera fields, the recorded reason)
    ("html with status 200", jpeg(scene()), "html", {}, "not_image"),
    ("20,000 × 20,000 pixels", huge_jpeg(), None, {}, "too_many_pixels"),
    ("a 50 MB body", jpeg(scene()), "huge_body", {}, "too_large"),
    ("a slow-loris answer", jpeg(scene()), "slow", {"timeout_s": 0.5}, "timeout"),
    ("headers then nothing", jpeg(scene()), "stall", {"timeout_s": 0.5}, "timeout"),
    ("a redirect to another host", jpeg(scene()), "redirect_away", {}, "redirect_refused"),
    ("a truncated JPEG", _truncated(), None, {}, "truncated"),
    ("status 500", jpeg(scene()), "status_500", {}, "http_status"),
    ("a stream with no boundary", b"", "no_boundary", {"kind": "mjpeg"}, "bad_stream"),
    ("a stream that stalls", b"", "stall", {"kind": "mjpeg", "timeout_s": 0.5}, "timeout"),
]


@pytest.mark.parametrize(
    ("body", "fault", "fields", "reason"),
    [case[1:] for case in BAD],
    ids=[case[0] for case in BAD],
)
async def test_bad_input_is_a_recorded_failure_and_touches_nothing_else(
    rig: RigFactory, body: bytes, fault: Any, fields: dict[str, Any], reason: str
) -> None:
    r = await rig(
        [camera_entry("bad", "/bad", **fields), camera_entry("good", "/good.jpg")],
        max_bytes=5_000_000,
    )
    if fields.get("kind") == "mjpeg":
        r.camera.mjpeg("/bad", [jpeg(scene())])
    else:
        r.camera.still("/bad", body)
    r.camera.fault("/bad", fault)
    r.camera.still("/good.jpg", jpeg(scene(7)))

    bad = r.service.start_poll("bad")
    assert await r.poll("good") == "stored"  # polled while the bad one is still going
    assert await bad is None

    [fetch] = await fetches(r, "bad")
    assert (fetch.outcome, fetch.reason) == ("failed", reason)
    # The HTTP status is kept when the camera answered one (200 for a page that is no image).
    assert fetch.status == (
        200
        if reason in ("not_image", "too_many_pixels", "truncated")
        else 500
        if reason == "http_status"
        else None
    )
    assert fetch.still_id is None
    assert r.service.pollers["bad"].state.latest is None
    assert len(stored_files(r)) == 2  # only the good camera's picture and thumbnail
    assert r.service.pollers["bad"].state.status == "failing"
    assert r.service.pollers["good"].state.status == "ok"


async def test_a_failing_camera_backs_off_then_recovers(
    rig: RigFactory, clock: ManualClock
) -> None:
    r = await rig([camera_entry("kl1", "/snap.jpg")])
    r.camera.still("/snap.jpg", jpeg(scene()))
    r.camera.fault("/snap.jpg", "status_500")

    assert await r.poll("kl1") == "failed"
    assert not r.service.pollers["kl1"].due()
    assert "kl1" not in r.service.due(clock.now())
    clock.advance(timedelta(hours=1))
    r.camera.fault("/snap.jpg", None)
    assert r.service.due(clock.now()) == ["kl1"]
    [task] = await r.service.tick()
    assert (await task) is not None
    assert r.service.pollers["kl1"].state.status == "ok"


async def test_black_frame_has_no_picture_but_is_stored(rig: RigFactory) -> None:
    r = await rig([camera_entry("kl1", "/snap.jpg")])
    r.camera.still("/snap.jpg", black_frame())
    assert await r.poll("kl1") == "stored"


async def test_a_decode_past_its_time_limit_is_a_failed_fetch(rig: RigFactory) -> None:
    # Decoding runs in the shared [offload] workers: a job over its limit costs the worker
    # (replaced by the pool) and the camera a failed fetch, never the event loop.
    r = await rig([camera_entry("kl1", "/snap.jpg")], decode_time_limit_s=0.000_001)
    r.camera.still("/snap.jpg", jpeg(scene()))

    assert await r.poll("kl1") == "failed"

    [fetch] = await fetches(r, "kl1")
    assert (fetch.outcome, fetch.reason, fetch.status) == ("failed", "decode_too_slow", 200)
    assert fetch.bytes > 0
    assert stored_files(r) == []
