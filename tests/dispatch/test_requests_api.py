"""Requests through the staff API: an operator types one in, it moves through its states,
bad input is named, two dispatchers race for its claim."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from canhbao.clock import ManualClock
from tests.conftest import AppClient, StaffFactory
from tests.dispatch.conftest import CALLER, HUE, rows

API = "/api/v1/dispatch/requests"


async def test_an_operator_request_is_stored_audited_and_its_caller_texted(
    app_client: AppClient, staff: StaffFactory
) -> None:
    client = await app_client()
    lan = await staff(client, "lan", roles=["operator"])
    body = {
        "caller": CALLER,
        **HUE,
        "accuracy_m": 30.0,
        "address": "kiệt 5 Chi Lăng",
        "people": 4,
        "vulnerabilities": ["elderly", "child"],
        "water": "roof",
        "notes": "gọi từ đài phát thanh phường",
    }
    response = await lan.post(API, json=body)
    assert response.status == 201, await response.text()
    created = await response.json()
    assert created["number"] == "1001"
    assert created["state"] == "new"
    assert created["priority"] == "high"
    assert created["phones"] == [CALLER]
    assert created["location"]["accuracy_m"] == 30.0
    (sms,) = await rows(client, "SELECT channel, payload FROM outbox")
    assert sms["channel"] == "sms"
    assert "đã nhận yêu cầu số 1001" in sms["payload"]
    (event,) = await rows(client, "SELECT type FROM event_log")
    assert event["type"] == "dispatch.request_created"
    (audit,) = await rows(
        client, "SELECT actor, action FROM audit_log WHERE entity = 'rescue_request'"
    )
    assert audit == {"actor": "user:lan", "action": "rescue_request.create"}


async def test_a_request_moves_through_every_state_with_its_timeline(
    app_client: AppClient, staff: StaffFactory, clock: ManualClock
) -> None:
    client = await app_client()
    minh = await staff(client, "minh", roles=["dispatcher"])
    created = await (await minh.post(API, json={"caller": CALLER, **HUE})).json()
    path = f"{API}/{created['id']}"
    for state in ("triaged", "offered", "accepted", "en_route", "on_scene", "resolved"):
        clock.advance(timedelta(minutes=5))
        response = await minh.post(f"{path}/state", json={"state": state})
        assert response.status == 200, await response.text()
    timeline = await (await minh.get(f"{path}/timeline")).json()
    assert [e["to_state"] for e in timeline["history"]] == [
        "new",
        "triaged",
        "offered",
        "accepted",
        "en_route",
        "on_scene",
        "resolved",
    ]
    assert {e["actor"] for e in timeline["history"]} == {"user:minh"}
    closed = await minh.post(f"{path}/state", json={"state": "cancelled"})
    assert closed.status == 409
    assert (await closed.json())["error"]["allowed"] == []
    texts = [r["payload"] for r in await rows(client, "SELECT payload FROM outbox ORDER BY id")]
    assert len(texts) == 2
    assert "đã hoàn thành" in texts[1]


async def test_bad_input_is_named_and_nothing_is_written(
    app_client: AppClient, staff: StaffFactory
) -> None:
    client = await app_client()
    lan = await staff(client, "lan", roles=["operator"])
    for body, field in (
        ({"lat": 48.85, "lon": 2.35}, "lat"),
        ({"lat": 16.46, "lon": 2.35}, "lon"),
        ({"people": 0}, "people"),
        ({"people": 1001}, "people"),
        ({"caller": "0905 123 456"}, "caller"),
        ({"caller": "+84=cmd"}, "caller"),
    ):
        response = await lan.post(API, json=body)
        assert response.status == 422, body
        assert (await response.json())["error"]["field"] == field
    for path in (f"{API}/999", f"{API}/999/timeline"):
        assert (await lan.get(path)).status == 404
    assert (await lan.post(f"{API}/999/state", json={"state": "triaged"})).status == 404
    assert await rows(client, "SELECT * FROM dispatch_requests") == []
    assert await rows(client, "SELECT * FROM outbox") == []
    assert await rows(client, "SELECT * FROM event_log") == []


async def test_two_dispatchers_race_for_a_claim_and_one_wins(
    app_client: AppClient, staff: StaffFactory, clock: ManualClock
) -> None:
    client = await app_client()
    minh = await staff(client, "minh", roles=["dispatcher"])
    hoa = await staff(client, "hoa", roles=["dispatcher"])
    created = await (await minh.post(API, json={"caller": CALLER})).json()
    path = f"{API}/{created['id']}"
    first, second = await asyncio.gather(minh.post(f"{path}/claim"), hoa.post(f"{path}/claim"))
    statuses = sorted([first.status, second.status])
    assert statuses == [200, 409]
    loser = second if second.status == 409 else first
    winner = "user:hoa" if loser is first else "user:minh"
    refused = (await loser.json())["error"]
    assert refused["code"] == "claimed"
    assert refused["holder"] == winner
    # The loser cannot move it either, until the claim expires.
    loser_login = minh if winner == "user:hoa" else hoa
    moved = await loser_login.post(f"{path}/state", json={"state": "triaged"})
    assert moved.status == 409
    assert (await moved.json())["error"]["holder"] == winner
    clock.advance(timedelta(minutes=11))
    moved = await loser_login.post(f"{path}/state", json={"state": "triaged"})
    assert moved.status == 200


async def test_an_admin_breaks_a_claim_and_a_dispatcher_cannot(
    app_client: AppClient, staff: StaffFactory
) -> None:
    client = await app_client()
    minh = await staff(client, "minh", roles=["dispatcher"])
    hoa = await staff(client, "hoa", roles=["dispatcher"])
    boss = await staff(client, "boss", roles=["admin"])
    created = await (await minh.post(API, json={"caller": CALLER})).json()
    path = f"{API}/{created['id']}"
    assert (await minh.post(f"{path}/claim")).status == 200
    assert (await hoa.delete(f"{path}/claim")).status == 409
    assert (await hoa.delete(f"{path}/claim?force=true")).status == 403
    broken = await boss.delete(f"{path}/claim?force=true")
    assert (await broken.json())["claim"] is None
    assert (await hoa.post(f"{path}/claim")).status == 200
    kinds = [
        e["detail"].get("claim")
        for e in (await (await minh.get(f"{path}/timeline")).json())["history"]
        if e["kind"] == "claim"
    ]
    assert kinds == ["claimed", "broken", "claimed"]


async def test_priority_override_needs_a_reason_and_is_kept(
    app_client: AppClient, staff: StaffFactory
) -> None:
    client = await app_client()
    minh = await staff(client, "minh", roles=["dispatcher"])
    created = await (await minh.post(API, json={"caller": CALLER, "water": "none"})).json()
    assert created["priority"] == "low"
    path = f"{API}/{created['id']}/priority"
    assert (await minh.post(path, json={"priority": "emergency"})).status == 422
    response = await minh.post(path, json={"priority": "emergency", "reason": "sản phụ"})
    changed = await response.json()
    assert (changed["priority"], changed["priority_computed"]) == ("emergency", "low")
    assert changed["priority_reason"] == "sản phụ"


async def test_open_requests_come_by_priority_then_age(
    app_client: AppClient, staff: StaffFactory, clock: ManualClock
) -> None:
    client = await app_client()
    lan = await staff(client, "lan", roles=["operator"])
    for water in ("none", "in_water", "none", "roof"):
        await lan.post(API, json={"water": water})
        clock.advance(timedelta(minutes=1))
    listed = (await (await lan.get(f"{API}/open")).json())["rescue_requests"]
    assert [(r["number"], r["priority"]) for r in listed] == [
        ("1002", "emergency"),
        ("1004", "high"),
        ("1001", "low"),
        ("1003", "low"),
    ]
