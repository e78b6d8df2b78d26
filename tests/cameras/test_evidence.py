"""Stills as evidence: the cameras in a warning's area are offered, a chosen still becomes a
CAP <resource> (mimeType, size, uri, SHA-1 digest) and the issued CAP stays XSD-valid."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from urllib.parse import urlsplit

from alerting.cap import alert_xml
from alerting.models import GEOCODE_WARD, Area, Geocode, Resource, alert_to_dict
from tests.alerting.conftest import alert, assert_valid, info
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
    assert (await lan.post(f"/api/v1/alerts/{identifier}/submit")).status == 200
    assert (await minh.post(f"/api/v1/alerts/{identifier}/approve")).status == 200
    issued = await minh.post(f"/api/v1/alerts/{identifier}/issue")
    assert issued.status == 200, await issued.text()

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
