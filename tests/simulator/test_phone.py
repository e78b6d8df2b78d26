"""The phone simulator through the real app: a warning issued to a ward reaches a device by its
ward's topic (Vietnamese) and another by its own token (English), as the Local push provider
recorded them."""

from __future__ import annotations

import shapely

from geofences.keys import GEOFENCES
from notify import keys as notify_keys
from simulator.models import condition_holds
from tests.alerting.test_delivery import INSIDE_SQUARE, body
from tests.alerting.test_workflow import issue
from tests.conftest import AppClient, StaffFactory
from tests.geofences.conftest import Register, eventually, load_hue

API = "/api/v1/simulator"


async def test_a_warning_shows_on_the_phones_it_reached_in_their_language(
    app_client: AppClient, staff: StaffFactory, register: Register
) -> None:
    client = await app_client()
    app = client.app
    assert app is not None
    await load_hue(client)
    registry = app[GEOFENCES]
    kim_tra = registry.catalog.geometry[registry.catalog.by_code["hue.kim-tra"].id]
    inside = shapely.get_coordinates(kim_tra.representative_point())[0].tolist()
    by_topic = await register(client, at=tuple(inside))
    by_token = await register(client, at=INSIDE_SQUARE, language="en")
    elsewhere = await register(client, at=(107.59, 16.46))  # Phú Xuân, outside the area
    lan = await staff(client, "lan", roles=["issuer"])
    minh = await staff(client, "minh", roles=["approver"])

    async def subscribed() -> bool:
        found = await (await lan.get(f"{API}/devices")).json()
        topics = {d["device_id"]: d["topics"] for d in found["devices"]}
        return "area-hue.kim-tra" in topics.get(by_topic["device_id"], [])

    await eventually(subscribed, 30)
    created = await lan.post("/api/v1/alerts", json=body("2099-01-01T00:00:00+00:00"))
    assert created.status == 201, await created.text()
    identifier = (await created.json())["identifier"]
    await issue(lan, minh, identifier)
    outbox = app[notify_keys.OUTBOX]

    async def sent() -> bool:
        counts = await outbox.counts(identifier)
        return counts.get("push", {}).get("sent", 0) >= 3

    await eventually(sent, 30)

    shown = await (await lan.get(f"{API}/devices/{by_topic['device_id']}/notifications")).json()
    (warning,) = shown["notifications"]
    assert warning["title"] == "Cảnh báo lũ khẩn cấp trên sông Bồ"
    assert warning["language"] == "vi"
    assert warning["identifier"] == identifier
    assert warning["via"] == "condition"
    english = await (await lan.get(f"{API}/devices/{by_token['device_id']}/notifications")).json()
    (warning,) = english["notifications"]
    assert warning["title"] == "Urgent flood warning on the Bồ river"
    assert warning["language"] == "en"
    assert warning["via"] == "token"
    assert warning["target"] == "this device"
    none = await (await lan.get(f"{API}/devices/{elsewhere['device_id']}/notifications")).json()
    assert none["notifications"] == []
    unknown = await lan.get(f"{API}/devices/no-such-device/notifications")
    assert unknown.status == 404


def test_conditions_are_read_as_fcm_reads_them() -> None:
    topics = frozenset({"area-a", "area-b"})
    cases: list[tuple[str, bool]] = [
        ("'area-a' in topics", True),
        ("'area-c' in topics", False),
        ("'area-c' in topics || 'area-b' in topics", True),
        ("'area-a' in topics && 'area-c' in topics", False),
        ("'area-a' in topics && ('area-c' in topics || 'area-b' in topics)", True),
        ("!('area-a' in topics) || 'area-c' in topics", False),
        ("'area-c' in topics || 'area-a' in topics && 'area-b' in topics", True),
    ]
    for condition, expected in cases:
        assert condition_holds(condition, topics) is expected, condition
