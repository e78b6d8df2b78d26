"""Stills as evidence: the cameras in a warning's area are offered, a chosen still becomes a
CAP <resource> (mimeType, size, uri, SHA-1 digest) and the issued CAP stays XSD-valid."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from urllib.parse import urlsplit

from alerting.cap import alert_xml
from alerting.json_form import alert_to_dict
from alerting.models import GEOCODE_WARD, Area, Geocode, Resource
from canhbao.clock import ManualClock
from tests.alerting.conftest import alert, assert_valid, info
from tests.alerting.test_workflow import river_values
from tests.cameras.conftest import RigFactory, camera_entry, jpeg, png, scene
from tests.conftest import StaffFactory
from tests.geofences.conftest import load_hue

POLYGON = ((16.44, 107.54), (16.44, 107.58), (16.47, 107.58), (16.47, 107.54), (16.44, 107.54))
WITHIN = " ".join(f"{lat},{lon}" for lat, lon in POLYGON)


async def test_a_chosen_still_is_attached_and_the_issued_cap_validates(
    rig: RigFactory, staff: StaffFactory
) -> None:
    r = await rig(
        [
            camera_entry("kl1", "/a.jpg"),
            camera_entry("kl2", "/b.png"),
            camera_entry("far", "/c.jpg", lat=16.7, lon=107.2),
        ]
    )
    r.camera.still("/a.jpg", jpeg(scene(1)))
    r.camera.still("/b.png", png(scene(2)), content_type="image/png")
    r.camera.still("/c.jpg", jpeg(scene(3)))
    for camera_id in ("kl1", "kl2", "far"):
        await r.poll(camera_id)
    await load_hue(r.client)
    lan = await staff(r.client, "lan", roles=["issuer"])
    minh = await staff(r.client, "minh", roles=["approver"])

    # Composing: the cameras inside the area are offered with their latest stills.
    offered = await (await lan.get("/api/v1/cameras", params={"within": WITHIN})).json()
    assert [c["id"] for c in offered["cameras"]] == ["kl1", "kl2"]
    resources = []
    for camera in offered["cameras"]:
        answer = await lan.get(f"/api/v1/camera-stills/{camera['latest']['id']}/cap-resource")
        assert answer.status == 200, await answer.text()
        resources.append(await answer.json())
    for resource, camera in zip(resources, offered["cameras"], strict=True):
        body = await (await r.client.get(urlsplit(resource["uri"]).path)).read()
        assert resource["size"] == len(body)
        assert resource["digest"] == hashlib.sha1(body, usedforsecurity=False).hexdigest()
        assert resource["mimeType"] == camera["latest"]["mime"]
        assert resource["resourceDesc"].startswith(f"Ảnh camera {camera['name']} lúc ")

    area = Area("Phường Kim Long", (POLYGON,), (Geocode(GEOCODE_WARD, "hue.kim-long"),))
    now = r.service.clock.now()
    draft = alert_to_dict(
        alert(
            infos=(
                info("vi-VN", areas=(area,), expires=now + timedelta(hours=6)),
                info("en-US", areas=(area,), expires=now + timedelta(hours=6)),
            )
        )
    )
    for block in draft["info"]:
        block["resource"] = resources
    created = await lan.post("/api/v1/alerts", json=draft)
    assert created.status == 201, await created.text()
    identifier = (await created.json())["identifier"]
    # Each step acts on the version its person saw (alerting refuses a stale one).
    for user, action in ((lan, "submit"), (minh, "approve"), (minh, "issue")):
        seen = (await (await user.get(f"/api/v1/alerts/{identifier}")).json())["version"]
        done = await user.post(f"/api/v1/alerts/{identifier}/{action}", json={"version": seen})
        assert done.status == 200, await done.text()

    public = await (await r.client.get(f"/api/v1/public/alerts/{identifier}")).json()
    assert public["resources"] == [
        {"description": x["resourceDesc"], "mimeType": x["mimeType"], "uri": x["uri"]}
        for x in resources
    ]
    document = await (await r.client.get(f"/cap/alerts/{identifier}.xml")).read()
    assert_valid(document)
    for resource in resources:
        assert resource["digest"].encode() in document
        assert resource["uri"].encode() in document


def test_an_alert_with_still_resources_validates_against_the_oasis_schema() -> None:
    still = Resource(
        "Ảnh camera Đường Kim Long lúc 10:05 ngày 16/11/2025",
        "image/jpeg",
        "http://127.0.0.1:8080/api/v1/camera-images/" + "a" * 64,
        48213,
        hashlib.sha1(b"x", usedforsecurity=False).hexdigest(),
    )
    document = alert_xml(alert(infos=(info("vi-VN", resources=(still,)),)))
    assert_valid(document)
    assert b"<digest>" in document


async def test_cap_resources_need_staff_and_a_real_still(
    rig: RigFactory, staff: StaffFactory
) -> None:
    r = await rig([camera_entry("kl1", "/a.jpg")])
    assert (await r.client.get("/api/v1/camera-stills/1/cap-resource")).status == 401
    lan = await staff(r.client, "lan", roles=["issuer"])
    for still_id in ("1", "0", "x", "99999999999999999999999"):
        answer = await lan.get(f"/api/v1/camera-stills/{still_id}/cap-resource")
        assert answer.status == 404, still_id


async def test_composing_offers_the_cameras_in_the_area_and_attaches_chosen_stills(
    rig: RigFactory, staff: StaffFactory, clock: ManualClock
) -> None:
    """The whole path through alerting's EvidenceSource port: a template draft over the
    camera's ward, the offer, `evidence` still ids, CAP resources in each language, the
    issued CAP XSD-valid, the public alert showing them, and the still kept by retention."""
    r = await rig(
        [
            camera_entry("kl1", "/a.jpg"),
            camera_entry("far", "/c.jpg", lat=16.7, lon=107.2),
        ],
        retention={"keep_all_days": 1.0, "hourly_days": 2.0},
    )
    await load_hue(r.client)
    r.camera.still("/a.jpg", jpeg(scene(1)))
    r.camera.still("/c.jpg", jpeg(scene(3)))
    await r.poll("kl1")
    await r.poll("far")
    lan = await staff(r.client, "lan", roles=["issuer"])
    minh = await staff(r.client, "minh", roles=["approver"])
    assert await r.service.place_wards() == ["kl1"]  # the wards came after the cameras
    camera = await (await lan.get("/api/v1/cameras/kl1")).json()
    ward = camera["ward"]["code"]
    still_id = camera["latest"]["id"]

    body = {"template": "river_flood_iii", "ward_codes": [ward], "values": river_values()}
    created = await lan.post("/api/v1/alerts", json=body)
    assert created.status == 201, await created.text()
    identifier = (await created.json())["identifier"]

    offer = await lan.get(f"/api/v1/alerts/{identifier}/evidence")
    assert offer.status == 200, await offer.text()
    offered = await offer.json()
    assert [(o["camera_id"], o["still_id"], o["attached"]) for o in offered["offered"]] == [
        ("kl1", still_id, False)
    ]
    assert offered["offered"][0]["url"] == camera["latest"]["url"]
    assert offered["attached"] == []

    version = (await created.json())["version"]
    edited = await lan.put(
        f"/api/v1/alerts/{identifier}",
        params={"version": str(version)},
        json={**body, "evidence": [still_id]},
    )
    assert edited.status == 200, await edited.text()
    infos = (await edited.json())["alert"]["info"]
    image = await (await r.client.get(urlsplit(camera["latest"]["url"]).path)).read()
    for block in infos:
        [resource] = block["resource"]
        assert resource["uri"] == camera["latest"]["url"]
        assert resource["size"] == len(image)
        assert resource["digest"] == hashlib.sha1(image, usedforsecurity=False).hexdigest()
        assert resource["mimeType"] == "image/jpeg"
    descriptions = {block["language"]: block["resource"][0]["resourceDesc"] for block in infos}
    assert descriptions["vi-VN"].startswith("Ảnh camera Camera kl1 lúc ")
    assert descriptions["en-US"].startswith("Camera Camera kl1 at ")
    again = await (await lan.get(f"/api/v1/alerts/{identifier}/evidence")).json()
    assert [o["attached"] for o in again["offered"]] == [True]
    assert [a["uri"] for a in again["attached"]] == [camera["latest"]["url"]]

    for user, action in ((lan, "submit"), (minh, "approve"), (minh, "issue")):
        seen = (await (await user.get(f"/api/v1/alerts/{identifier}")).json())["version"]
        done = await user.post(f"/api/v1/alerts/{identifier}/{action}", json={"version": seen})
        assert done.status == 200, await done.text()
    document = await (await r.client.get(f"/cap/alerts/{identifier}.xml")).read()
    assert_valid(document)
    assert camera["latest"]["url"].encode() in document
    public = await (await r.client.get(f"/api/v1/public/alerts/{identifier}")).json()
    assert [x["uri"] for x in public["resources"]] == [camera["latest"]["url"]]

    # Long after the warning, with newer stills since: the attached one is still served.
    clock.advance(timedelta(days=3))
    r.camera.still("/a.jpg", jpeg(scene(9)))
    await r.poll("kl1")
    await r.service.run_retention()
    assert (await r.client.get(urlsplit(camera["latest"]["url"]).path)).status == 200


async def test_unknown_evidence_is_refused_naming_the_still(
    rig: RigFactory, staff: StaffFactory
) -> None:
    r = await rig([camera_entry("kl1", "/a.jpg")])
    await load_hue(r.client)
    lan = await staff(r.client, "lan", roles=["issuer"])
    body = {"template": "river_flood_iii", "ward_codes": ["hue.kim-long"], "values": river_values()}
    for evidence, status in (([987654], 422), (["x"], 422), ([0], 422), ([1] * 21, 422)):
        answer = await lan.post("/api/v1/alerts", json={**body, "evidence": evidence})
        assert answer.status == status, (evidence, await answer.text())
    unknown = await lan.post("/api/v1/alerts", json={**body, "evidence": [987654]})
    assert (await unknown.json())["error"]["code"] == "unknown_still"
    assert (await r.client.get("/api/v1/alerts/x/evidence")).status == 401
    assert (await lan.get("/api/v1/alerts/nope/evidence")).status == 404
