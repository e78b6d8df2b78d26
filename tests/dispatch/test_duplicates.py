"""Duplicates: the same phone within 6 h, or another open request within 100 m within 2 h, is
proposed; a dispatcher merges (both timelines, earliest time, highest priority, every phone)
or rejects; nothing is deleted."""

from __future__ import annotations

from datetime import timedelta

from canhbao.clock import ManualClock
from tests.conftest import AppClient, StaffFactory
from tests.dispatch.conftest import CALLER, HUE, rows

API = "/api/v1/dispatch"
OTHER = "+84914000001"
# About 60 m north-east of HUE; and about 300 m away.
NEAR = {"lat": HUE["lat"] + 0.0004, "lon": HUE["lon"] + 0.0004}
FAR = {"lat": HUE["lat"] + 0.0027, "lon": HUE["lon"]}


async def test_same_phone_and_nearby_requests_are_proposed_within_their_windows(
    app_client: AppClient, staff: StaffFactory, clock: ManualClock
) -> None:
    client = await app_client()
    lan = await staff(client, "lan", roles=["operator"])
    await lan.post(f"{API}/requests", json={"caller": CALLER, **HUE})  # 1001
    clock.advance(timedelta(minutes=30))
    await lan.post(f"{API}/requests", json={"caller": CALLER})  # 1002: same phone
    await lan.post(f"{API}/requests", json={"caller": OTHER, **NEAR})  # 1003: 60 m from 1001
    await lan.post(f"{API}/requests", json={"caller": "+84914000002", **FAR})  # 1004: 300 m
    clock.advance(timedelta(hours=3))
    await lan.post(f"{API}/requests", json={"caller": "+84914000003", **HUE})  # 1005: too late
    clock.advance(timedelta(hours=4))
    await lan.post(f"{API}/requests", json={"caller": CALLER})  # 1006: 7 h after 1002
    listed = (await (await lan.get(f"{API}/duplicates")).json())["proposals"]
    pairs = sorted((p["request"], p["candidate"], p["reason"]) for p in listed)
    assert pairs == [
        ("1002", "1001", "same_phone"),
        ("1003", "1001", "nearby"),
    ]
    nearby = next(p for p in listed if p["reason"] == "nearby")
    assert 40 < nearby["distance_m"] < 80


async def test_a_merge_keeps_both_histories_the_earliest_time_highest_priority_every_phone(
    app_client: AppClient, staff: StaffFactory, clock: ManualClock
) -> None:
    client = await app_client()
    minh = await staff(client, "minh", roles=["dispatcher"])
    first = await (
        await minh.post(f"{API}/requests", json={"caller": CALLER, **HUE, "water": "none"})
    ).json()
    await minh.post(f"{API}/requests/{first['id']}/state", json={"state": "triaged"})
    clock.advance(timedelta(minutes=10))
    second = await (
        await minh.post(
            f"{API}/requests",
            json={"caller": OTHER, **NEAR, "water": "in_water", "people": 6},
        )
    ).json()
    (proposal,) = (await (await minh.get(f"{API}/duplicates")).json())["proposals"]
    response = await minh.post(f"{API}/duplicates/{proposal['id']}/merge")
    assert response.status == 200, await response.text()
    kept = await response.json()
    assert kept["number"] == first["number"]
    assert kept["created_at"] == first["created_at"]
    assert kept["priority"] == "emergency"
    assert kept["water"] == "in_water"
    assert kept["people"] == 6
    assert kept["phones"] == sorted([CALLER, OTHER])
    absorbed = await (await minh.get(f"{API}/requests/{second['id']}")).json()
    assert (absorbed["state"], absorbed["duplicate_of"]) == ("duplicate", first["number"])
    history = (await (await minh.get(f"{API}/requests/{first['id']}/timeline")).json())["history"]
    merged_from = [e for e in history if e["detail"].get("merged_from") == second["number"]]
    assert [e["kind"] for e in merged_from][:1] == ["created"]
    assert any(e["kind"] == "merge" for e in history)
    again = await minh.post(f"{API}/duplicates/{proposal['id']}/merge")
    assert again.status == 409
    assert (await minh.post(f"{API}/duplicates/999/merge")).status == 404
    assert len(await rows(client, "SELECT * FROM dispatch_requests")) == 2


async def test_a_rejected_proposal_leaves_both_requests_open(
    app_client: AppClient, staff: StaffFactory
) -> None:
    client = await app_client()
    minh = await staff(client, "minh", roles=["dispatcher"])
    await minh.post(f"{API}/requests", json={"caller": CALLER})
    await minh.post(f"{API}/requests", json={"caller": CALLER})
    (proposal,) = (await (await minh.get(f"{API}/duplicates")).json())["proposals"]
    rejected = await minh.post(f"{API}/duplicates/{proposal['id']}/reject")
    assert (await rejected.json())["status"] == "rejected"
    states = [r["state"] for r in await rows(client, "SELECT state FROM dispatch_requests")]
    assert states == ["new", "new"]
    assert (await minh.get(f"{API}/duplicates")).status == 200
    assert (await (await minh.get(f"{API}/duplicates")).json())["proposals"] == []
    assert (await minh.post(f"{API}/duplicates/{proposal['id']}/merge")).status == 409


async def test_a_request_a_team_has_accepted_cannot_be_merged_away(
    app_client: AppClient, staff: StaffFactory, clock: ManualClock
) -> None:
    client = await app_client()
    minh = await staff(client, "minh", roles=["dispatcher"])
    await minh.post(f"{API}/requests", json={"caller": CALLER})
    clock.advance(timedelta(minutes=1))
    second = await (await minh.post(f"{API}/requests", json={"caller": CALLER})).json()
    for state in ("offered", "accepted"):
        await minh.post(f"{API}/requests/{second['id']}/state", json={"state": state})
    (proposal,) = (await (await minh.get(f"{API}/duplicates")).json())["proposals"]
    refused = await minh.post(f"{API}/duplicates/{proposal['id']}/merge")
    assert refused.status == 409
    assert "en_route" in (await refused.json())["error"]["allowed"]
    assert (await (await minh.get(f"{API}/duplicates")).json())["proposals"] != []
