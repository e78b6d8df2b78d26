"""A request from the citizen app: the requester is told by push to that device (through the FCM
double, driven by firebase-admin's wire format) and by SMS when the device registered a phone:
received with its number, a team on the way (its name, never a member's phone), resolved."""

from __future__ import annotations

from typing import Any

import pytest

from canhbao import keys
from geofences.keys import GEOFENCES
from tests.dispatch.teams_support import API, HUE, Desk, StartDesk, eventually
from tests.geofences.conftest import Register

SOS = "/api/v1/rescue-requests"
MEMBER_PHONES = ("+84911000001", "+84911000002")


def pushed_to(desk: Desk, token: str) -> list[dict[str, Any]]:
    return [m for m in desk.fcm.double.messages if m["token"] == token]


@pytest.mark.parametrize("phone", [None, "0905 777 888"], ids=["no phone", "with a phone"])
async def test_an_app_requester_is_told_by_push_and_sms(
    start_desk: StartDesk, register: Register, phone: str | None
) -> None:
    desk = await start_desk()
    fields = {"phone": phone} if phone else {}
    device = await register(desk.client, at=(HUE["lon"], HUE["lat"]), **fields)
    body = {"device_id": device["device_id"], **HUE, "people": 2, "water": "roof"}
    response = await desk.client.post(SOS, json=body, headers={"X-Device-Secret": device["secret"]})
    assert response.status == 201, await response.text()
    number = (await response.json())["number"]
    await desk.app[keys.EVENTS].settled()  # the automatic offer follows the durable log
    for action in ("accept", "on_scene", "done"):
        answered = await desk.dispatcher.post(f"{API}/offers/1/answer", json={"action": action})
        assert answered.status == 200, await answered.text()

    await eventually(lambda: len(pushed_to(desk, device["token"])) == 3)
    received, on_the_way, resolved = pushed_to(desk, device["token"])
    assert received["notification"]["title"] == f"Yêu cầu cứu hộ số {number}"
    assert received["notification"]["body"].startswith(
        f"Tổng đài cứu hộ 1900 1075 đã nhận yêu cầu số {number}."
    )
    # Only a phone on the request can text TINH TRANG; without one, the app shows the state.
    assert received["notification"]["body"].endswith(
        "Xem tình trạng yêu cầu trong ứng dụng."
        if phone is None
        else f"Nhắn TINH TRANG {number} để biết tình trạng."
    )
    assert on_the_way["notification"]["body"].startswith(
        f"Đội xuồng Phú Hội đã nhận yêu cầu cứu hộ số {number} và đang trên đường đến."
    )
    assert not any(p in on_the_way["notification"]["body"] for p in MEMBER_PHONES)
    assert resolved["notification"]["body"].startswith(f"Yêu cầu cứu hộ số {number} đã hoàn thành.")
    assert [p["data"]["news"] for p in (received, on_the_way, resolved)] == [
        "received",
        "on_the_way",
        "resolved",
    ]
    texted = await desk.rows(
        "SELECT idempotency_key FROM outbox WHERE channel = 'sms'"
        " AND idempotency_key LIKE 'dispatch:1:%' ORDER BY id"
    )
    if phone is None:
        assert texted == []  # no phone registered: the push is the only way to tell them
    else:
        assert [row["idempotency_key"].split(":")[2] for row in texted] == [
            "received",
            "on_the_way",
            "resolved",
        ]


async def test_a_device_whose_token_was_dropped_is_not_pushed(
    start_desk: StartDesk, register: Register
) -> None:
    desk = await start_desk()
    device = await register(desk.client, phone="0905 777 888")
    body = {"device_id": device["device_id"], **HUE, "people": 2}
    # FCM refused the device's token (the registry forgot it) before the SOS.
    assert await desk.app[GEOFENCES].drop_token(device["token"], "UNREGISTERED")
    response = await desk.client.post(SOS, json=body, headers={"X-Device-Secret": device["secret"]})
    assert response.status == 201, await response.text()
    queued = await desk.rows(
        "SELECT channel FROM outbox WHERE idempotency_key LIKE 'dispatch:1:received:%'"
    )
    assert [row["channel"] for row in queued] == ["sms"]
