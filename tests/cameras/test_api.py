"""The cameras API: public reads (lists, places, paged stills, cached images) and the staff
registry (audited)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from canhbao.audit import list_audit
from canhbao.clock import ManualClock, utc_text
from tests.cameras.conftest import LAT, LON, Rig, RigFactory, camera_entry, jpeg, scene
from tests.conftest import StaffFactory
from tests.geofences.conftest import PHU_XUAN, load_hue

# Around the Kim Long cameras (CAP order: lat,lon; closed).
AROUND = "16.45,107.55 16.45,107.57 16.47,107.57 16.47,107.55 16.45,107.55"
ELSEWHERE = "16.50,107.60 16.50,107.62 16.52,107.62 16.52,107.60 16.50,107.60"


async def _two_cameras(rig: RigFactory) -> Rig:
    r = await rig(
        [
            camera_entry("kl1", "/a.jpg"),
            camera_entry("far", "/b.jpg", lat=16.55, lon=107.45, name="Phú Ốc"),
        ]
    )
    r.camera.still("/a.jpg", jpeg(scene(1)))
    r.camera.still("/b.jpg", jpeg(scene(2)))
    return r


async def test_list_shows_latest_still_age_and_flags(rig: RigFactory, clock: ManualClock) -> None:
    r = await _two_cameras(rig)
    await r.poll("kl1")
    clock.advance(timedelta(seconds=90))

    body = await (await r.client.get("/api/v1/cameras")).json()

    by_id = {camera["id"]: camera for camera in body["cameras"]}
    assert by_id["far"]["latest"] is None
    latest = by_id["kl1"]["latest"]
    assert latest["age_s"] == 90.0
    assert latest["url"].endswith(f"/api/v1/camera-images/{latest['sha256']}")
    assert latest["latest_url"].endswith("/api/v1/cameras/kl1/still")
    assert by_id["kl1"]["flags"] == []
    assert by_id["kl1"]["status"] == "ok"


@pytest.mark.parametrize(
    ("query", "ids"),
    [
        (f"within={AROUND}", ["kl1"]),
        (f"within={ELSEWHERE}", []),
        (f"near={LAT},{LON}&radius_m=1000", ["kl1"]),
        (f"near={LAT},{LON}&radius_m=50000", ["kl1", "far"]),
    ],
)
async def test_cameras_within_a_polygon_or_near_a_point(
    rig: RigFactory, query: str, ids: list[str]
) -> None:
    r = await _two_cameras(rig)
    body = await (await r.client.get(f"/api/v1/cameras?{query}")).json()
    assert [camera["id"] for camera in body["cameras"]] == ids


@pytest.mark.parametrize(
    "query",
    [
        "within=16.45,107.55 16.45,107.57 16.47,107.57",  # three pairs
        "within=16.45,107.55 16.45,107.57 16.47,107.57 16.47,107.55",  # not closed
        "within=16.45,107.55 16.47,107.57 16.45,107.57 16.47,107.55 16.45,107.55",  # crosses
        "within=a,b c,d e,f g,h a,b",
        "near=16.4",
        "near=nan,107",
        "near=95,107",
        "near=16.4,107.5&radius_m=-1",
        "near=16.4,107.5&radius_m=99999999",
    ],
)
async def test_bad_places_are_4xx(rig: RigFactory, query: str) -> None:
    r = await _two_cameras(rig)
    response = await r.client.get(f"/api/v1/cameras?{query}")
    # 422: a parameter outside its schema (radius_m); 400: a place that cannot be read.
    assert response.status == (422 if "radius_m" in query else 400), await response.text()


async def test_stills_are_paged_newest_first_within_since_and_until(
    rig: RigFactory, clock: ManualClock
) -> None:
    r = await rig([camera_entry("kl1", "/a.jpg")])
    times = []
    for seed in range(5):
        r.camera.still("/a.jpg", jpeg(scene(seed)))
        times.append(clock.now())
        await r.poll("kl1")
        clock.advance(timedelta(minutes=5))

    page = await (await r.client.get("/api/v1/cameras/kl1/stills?limit=2")).json()
    assert [s["fetched_at"] for s in page["stills"]] == [utc_text(times[4]), utc_text(times[3])]
    rest = await (
        await r.client.get(f"/api/v1/cameras/kl1/stills?limit=2&before_id={page['next_before_id']}")
    ).json()
    assert [s["fetched_at"] for s in rest["stills"]] == [utc_text(times[2]), utc_text(times[1])]

    window = await r.client.get(
        "/api/v1/cameras/kl1/stills",
        params={"since": utc_text(times[1]), "until": utc_text(times[3])},
    )
    body = await window.json()
    assert [s["fetched_at"] for s in body["stills"]] == [utc_text(times[2]), utc_text(times[1])]
    assert body["next_before_id"] is None


@pytest.mark.parametrize(
    "query",
    ["since=yesterday", "since=2025-11-16T10:00:00", "limit=0", "limit=201", "before_id=x"],
)
async def test_bad_still_queries_are_422(rig: RigFactory, query: str) -> None:
    r = await _two_cameras(rig)
    response = await r.client.get(f"/api/v1/cameras/kl1/stills?{query}")
    assert response.status == 422
    assert (await response.json())["error"]["field"] == query.partition("=")[0]


async def test_images_carry_strong_etags_and_answer_304(rig: RigFactory) -> None:
    r = await _two_cameras(rig)
    await r.poll("kl1")
    camera = await (await r.client.get("/api/v1/cameras/kl1")).json()
    sha = camera["latest"]["sha256"]

    image = await r.client.get(f"/api/v1/camera-images/{sha}")
    assert image.status == 200
    assert image.content_type == "image/jpeg"
    assert image.headers["ETag"] == f'"{sha}"'
    assert "immutable" in image.headers["Cache-Control"]
    assert len(await image.read()) == camera["latest"]["bytes"]
    thumb = await r.client.get(f"/api/v1/camera-images/{sha}/thumbnail")
    assert thumb.status == 200
    assert thumb.headers["ETag"] == f'"{sha}-t"'

    for header in (f'"{sha}"', f'W/"{sha}"', f'"other", "{sha}"', "*"):
        again = await r.client.get(
            f"/api/v1/camera-images/{sha}", headers={"If-None-Match": header}
        )
        assert again.status == 304, header
        assert again.headers["ETag"] == f'"{sha}"'

    latest = await r.client.get("/api/v1/cameras/kl1/still")
    assert latest.status == 200
    assert latest.headers["Cache-Control"] == "public, max-age=60"
    assert latest.headers["ETag"] == f'"{sha}"'
    revalidated = await r.client.get(
        "/api/v1/cameras/kl1/still", headers={"If-None-Match": f'"{sha}"'}
    )
    assert revalidated.status == 304
    # A new picture: the same URL answers the new one.
    r.camera.still("/a.jpg", jpeg(scene(9)))
    await r.poll("kl1")
    changed = await r.client.get("/api/v1/cameras/kl1/still", headers={"If-None-Match": f'"{sha}"'})
    assert changed.status == 200
    assert changed.headers["ETag"] != f'"{sha}"'
    # The new picture's validator answers the next revalidation, thumbnail included, with
    # the same headers a 200 carries.
    for path, tag in (("still", changed.headers["ETag"]), ("thumbnail", None)):
        full = await r.client.get(f"/api/v1/cameras/kl1/{path}")
        assert full.status == 200
        tag = tag or full.headers["ETag"]
        again = await r.client.get(f"/api/v1/cameras/kl1/{path}", headers={"If-None-Match": tag})
        assert again.status == 304, path
        assert again.headers["ETag"] == full.headers["ETag"] == tag
        assert again.headers["Cache-Control"] == full.headers["Cache-Control"]
        assert "X-Request-Id" in again.headers


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/camera-images/" + "0" * 64,
        "/api/v1/camera-images/../../etc/passwd",
        "/api/v1/camera-images/" + "A" * 64,
        "/api/v1/cameras/far/still",
        "/api/v1/cameras/nope/still",
        "/api/v1/cameras/nope",
        "/api/v1/cameras/nope/stills",
    ],
)
async def test_missing_things_are_404(rig: RigFactory, path: str) -> None:
    r = await _two_cameras(rig)
    assert (await r.client.get(path)).status == 404


NEW = {
    "id": "an-cuu-1",
    "name": "Cầu An Cựu",
    "lat": 16.455,
    "lon": 107.6,
    "url": "http://192.0.2.20/snapshot.jpg",
    "watches": "Đường Hùng Vương đoạn cầu An Cựu",
}


async def test_staff_register_change_and_retire_cameras_audited(
    rig: RigFactory, staff: StaffFactory
) -> None:
    r = await _two_cameras(rig)
    admin = await staff(r.client, "lan", roles=["admin"])

    created = await admin.post("/api/v1/cameras", json=NEW)
    assert created.status == 201, await created.text()
    assert (await created.json())["origin"] == "api"
    changed = await admin.patch("/api/v1/cameras/an-cuu-1", json={"name": "Cầu An Cựu (bắc)"})
    assert changed.status == 200
    assert (await (await r.client.get("/api/v1/cameras/an-cuu-1")).json())["name"] == (
        "Cầu An Cựu (bắc)"
    )
    assert "an-cuu-1" in r.service.pollers
    retired = await admin.delete("/api/v1/cameras/an-cuu-1")
    assert retired.status == 200
    assert (await r.client.get("/api/v1/cameras/an-cuu-1")).status == 404
    assert "an-cuu-1" not in r.service.pollers

    entries = await list_audit(r.service.deps.db, entity="camera", entity_id="an-cuu-1")
    assert [e.action for e in entries] == [
        "cameras.camera.retire",
        "cameras.camera.update",
        "cameras.camera.create",
    ]
    assert entries[1].before is not None
    assert entries[1].before["name"] == "Cầu An Cựu"
    assert all(e.actor.endswith("lan") for e in entries)


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"url": "ftp://192.0.2.20/x.jpg"}, 400, "url"),
        ({"url": "http://user:pw@192.0.2.20/x.jpg"}, 400, "url"),
        ({"lat": 91}, 422, "lat"),
        ({"lat": "16"}, 422, "lat"),
        ({"kind": "rtsp"}, 422, "kind"),
        ({"auth": "digest"}, 400, "password_env"),
        ({"auth": "digest", "username": "a", "password_env": "NOT_SET_ANYWHERE"}, 400, None),
        ({"id": "../x"}, 400, "id"),
        ({"colour": "red"}, 422, "colour"),
        ({"interval_s": 1}, 400, "interval_s"),
        ({"id": "kl1"}, 409, None),
    ],
)
async def test_bad_registrations_are_refused(
    rig: RigFactory, staff: StaffFactory, change: dict[str, Any], status: int, field: str | None
) -> None:
    r = await _two_cameras(rig)
    admin = await staff(r.client, "lan", roles=["admin"])
    response = await admin.post("/api/v1/cameras", json={**NEW, **change})
    assert response.status == status, await response.text()
    if field is not None:
        assert (await response.json())["error"]["field"] == field


async def test_config_cameras_are_changed_in_config_only(
    rig: RigFactory, staff: StaffFactory
) -> None:
    r = await _two_cameras(rig)
    admin = await staff(r.client, "lan", roles=["admin"])
    assert (await admin.patch("/api/v1/cameras/kl1", json={"name": "x"})).status == 409
    assert (await admin.delete("/api/v1/cameras/kl1")).status == 409


async def test_registry_needs_admin_and_fetches_need_staff(
    rig: RigFactory, staff: StaffFactory
) -> None:
    r = await _two_cameras(rig)
    assert (await r.client.post("/api/v1/cameras", json=NEW)).status == 401
    issuer = await staff(r.client, "minh", roles=["issuer"])
    assert (await issuer.post("/api/v1/cameras", json=NEW)).status == 403
    assert (await r.client.get("/api/v1/cameras/kl1/fetches")).status == 401
    polled = await issuer.post("/api/v1/cameras/kl1/poll")
    assert polled.status == 200
    assert (await polled.json())["fetch"]["outcome"] == "stored"
    fetches = await (await issuer.get("/api/v1/cameras/kl1/fetches")).json()
    assert [f["outcome"] for f in fetches["fetches"]] == ["stored"]


async def test_a_camera_is_placed_in_its_ward_from_geofences(
    rig: RigFactory, staff: StaffFactory
) -> None:
    r = await _two_cameras(rig)
    await load_hue(r.client)
    admin = await staff(r.client, "lan", roles=["admin"])
    lon, lat = PHU_XUAN
    created = await admin.post("/api/v1/cameras", json={**NEW, "lat": lat, "lon": lon})
    ward = (await created.json())["ward"]
    assert ward is not None
    assert ward["name"] == "Phú Xuân"
    listed = await (await r.client.get("/api/v1/cameras/an-cuu-1")).json()
    assert listed["ward"] == ward


async def test_a_camera_whose_password_variable_is_gone_does_not_stop_start_up(
    rig: RigFactory, staff: StaffFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AN_CUU_PASSWORD", "secret")
    r = await _two_cameras(rig)
    admin = await staff(r.client, "lan", roles=["admin"])
    fields = {"auth": "digest", "username": "admin", "password_env": "AN_CUU_PASSWORD"}
    assert (await admin.post("/api/v1/cameras", json={**NEW, **fields})).status == 201
    monkeypatch.delenv("AN_CUU_PASSWORD")

    await r.service.load([])  # as at the next start-up

    assert "an-cuu-1" not in r.service.pollers
    health = await (await r.client.get("/healthz")).json()
    assert health["components"]["cameras.an-cuu-1"]["status"] == "failing"
    assert health["status"] == "ok"
