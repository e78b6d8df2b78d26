"""A Test alert reaches the enrolled test audience only, marked as a test; never the public."""

from __future__ import annotations

from typing import Any

import pytest

from alerting.keys import ALERTING
from canhbao import keys
from canhbao.audit import list_audit
from notify import keys as notify_keys
from tests.alerting.conftest import Client
from tests.alerting.test_delivery import INSIDE_SQUARE, VULNERABLE, body
from tests.alerting.test_workflow import issue
from tests.conftest import AppClient, StaffFactory
from tests.geofences.conftest import Register, eventually, fcm_token

TEST_PHONE = "+84905000999"


async def test_admins_enrol_and_remove_the_test_audience_audited(
    app_client: AppClient, staff: StaffFactory
) -> None:
    client = await app_client()
    anh = await staff(client, "anh", roles=["admin"])
    lan = await staff(client, "lan", roles=["issuer", "approver"])
    path = "/api/v1/alerting/test-audience"
    token = fcm_token()
    assert (await lan.post(path, json={"kind": "phone", "address": TEST_PHONE})).status == 403
    device = await anh.post(path, json={"kind": "device", "address": token, "label": "Máy trực 1"})
    assert device.status == 201, await device.text()
    phone = await anh.post(path, json={"kind": "phone", "address": TEST_PHONE, "language": "en"})
    assert phone.status == 201
    again = await anh.post(path, json={"kind": "phone", "address": TEST_PHONE})
    assert (again.status, (await again.json())["error"]["code"]) == (422, "invalid_member")
    for bad in (
        {"kind": "phone", "address": "0905000999"},
        {"kind": "device", "address": "short"},
        {"kind": "pager", "address": TEST_PHONE},
        {"kind": "phone", "address": TEST_PHONE, "language": "fr"},
        {"kind": "phone", "address": 84905000999},
    ):
        refused = await anh.post(path, json=bad)
        assert refused.status in (400, 422), bad
    unknown = await anh.post(path, json={"kind": "phone", "address": "+84905000998", "x": 1})
    assert (await unknown.json())["error"]["keys"] == ["x"]
    listed = await (await anh.get(path)).json()
    assert [(m["kind"], m["address"]) for m in listed["members"]] == [
        ("device", token),
        ("phone", TEST_PHONE),
    ]
    phone_id = (await phone.json())["id"]
    assert (await anh.delete(f"{path}/{phone_id}")).status == 200
    assert (await anh.delete(f"{path}/{phone_id}")).status == 404
    assert (await anh.delete(f"{path}/{2**70}")).status == 404
    assert client.app is not None
    entries = await list_audit(client.app[keys.DB], entity="alert_test_audience")
    assert [(e.action, e.actor) for e in reversed(entries)] == [
        ("alert_test_audience.enrol", "user:anh"),
        ("alert_test_audience.enrol", "user:anh"),
        ("alert_test_audience.remove", "user:anh"),
    ]


@pytest.mark.parametrize(
    ("status", "marker"), [("Test", "[THỬ NGHIỆM]"), ("Exercise", "[DIỄN TẬP]")]
)
async def test_a_test_alert_reaches_only_the_test_audience_with_a_marker(
    world: dict[str, Any], staff: StaffFactory, register: Register, status: str, marker: str
) -> None:
    client: Client = world["client"]
    fcm, twilio = world["fcm"], world["twilio"]
    assert client.app is not None
    # The public in the area: a device by its ward's topic and one by token, and a contact.
    public = await register(client, at=INSIDE_SQUARE)
    await register(client, areas=["hue.kim-tra"])
    lan = await staff(client, "lan", roles=["issuer"])
    anh = await staff(client, "anh", roles=["approver", "admin"])
    contact = await anh.post(
        "/api/v1/contacts",
        json={
            "name": "Bà Nguyễn Thị Hoa", "phone": VULNERABLE, "vulnerable": True,
            "location": {"lon": INSIDE_SQUARE[0], "lat": INSIDE_SQUARE[1]},
        },
    )  # fmt: skip
    assert contact.status in (200, 201)
    test_token = fcm_token()
    path = "/api/v1/alerting/test-audience"
    assert (await anh.post(path, json={"kind": "device", "address": test_token})).status == 201
    assert (await anh.post(path, json={"kind": "phone", "address": TEST_PHONE})).status == 201

    created = await lan.post("/api/v1/alerts", json={**body(), "status": status})
    assert created.status == 201, await created.text()
    identifier = (await created.json())["identifier"]
    preview = await (await lan.get(f"/api/v1/alerts/{identifier}/plan")).json()
    assert preview["test_audience"] is True
    assert preview["totals"] == {"devices": 1, "by_topic": 0, "by_token": 1, "by_sms": 1}
    issued = await issue(lan, anh, identifier)
    assert issued["plan"]["messages"] == {"condition": 0, "token": 1, "sms": 1}

    outbox = client.app[notify_keys.OUTBOX]

    async def sent(n: int) -> bool:
        counts = await outbox.counts(identifier)
        return sum(c.get("sent", 0) for c in counts.values()) == n

    await eventually(lambda: sent(2))
    assert [m.get("token") or m.get("condition") for m in fcm.messages] == [test_token]
    assert fcm.messages[0]["notification"]["title"] == f"{marker} Cảnh báo lũ khẩn cấp trên sông Bồ"
    assert fcm.messages[0]["notification"]["body"].startswith(f"{marker} ")
    assert public["token"] not in str(fcm.messages)
    assert [m["to"] for m in twilio.messages] == [TEST_PHONE]
    assert twilio.messages[0]["body"].startswith(f"{marker} Cảnh báo lũ khẩn cấp")
    assert twilio.calls == []  # the vulnerable contact is not called either

    # Nor does the public see it in the feed or the app's API.
    assert identifier.encode() not in await (await client.get("/cap/alerts.atom")).read()
    by_area = await (await client.get("/api/v1/public/alerts?area=hue.kim-tra")).json()
    assert by_area["alerts"] == []
    assert (await client.get(f"/api/v1/public/alerts/{identifier}")).status == 404
    assert await client.app[ALERTING].in_force_at() == []
