"""Offers end to end on the injected clock: a new request goes to the nearest capable team by
push and SMS (through the FCM and Twilio doubles, driven by the real libraries); no answer in
time → the next team → escalation; a decline; a team that was not offered; a restart with an
offer pending whose deadline still fires at the right time."""

from __future__ import annotations

import json
from datetime import timedelta

from canhbao import keys
from canhbao.clock import ManualClock, parse_utc
from dispatch.escalation import HEALTH_NAME
from dispatch.teams_keys import DISPATCH_DEADLINES
from tests.conftest import AppClient
from tests.dispatch.teams_support import (
    API,
    CALLER,
    DUTY_PHONE,
    PUSH_TOKEN,
    StartDesk,
    eventually,
)

PHU_HOI, VY_DA, KIM_LONG, TRUCK = (
    "Đội xuồng Phú Hội",
    "Đội xuồng Vỹ Dạ",
    "Đội xuồng Kim Long",
    "Đội xe tải Phú Hội",
)
ACK = timedelta(seconds=180)


async def test_a_new_request_is_offered_to_the_nearest_boat_by_push_and_sms(
    start_desk: StartDesk,
) -> None:
    desk = await start_desk()
    created = await desk.request(water="roof")
    # The truck team is nearer, but the water is on the roof: a boat is needed.
    assert await desk.offers(created["id"]) == [{"id": 1, "team": PHU_HOI, "status": "pending"}]
    assert await desk.state(created["id"]) == "offered"
    # The offer's messages were committed with it: SMS to both members, a push to the app.
    queued = await desk.rows(
        "SELECT channel, idempotency_key FROM outbox WHERE idempotency_key LIKE 'dispatch:offer:%'"
        " ORDER BY id"
    )
    assert [row["channel"] for row in queued] == ["push", "sms", "sms"]
    messages = await desk.sent_sms(3)  # the requester's receipt and the two members
    offers = [m for m in messages if m["to"] in ("+84911000001", "+84911000002")]
    assert len(offers) == 2
    assert "CỨU HỘ 1001" in offers[0]["body"]
    assert "NHAN 1001" in offers[0]["body"]
    assert "3 phút" in offers[0]["body"]
    await eventually(lambda: len(desk.fcm.double.messages) == 1)
    (push,) = desk.fcm.double.messages
    assert push["token"] == PUSH_TOKEN
    assert push["data"]["request_number"] == "1001"

    response = await desk.dispatcher.get(f"{API}/requests/{created['id']}/offers")
    assert response.status == 200
    (offer,) = (await response.json())["offers"]
    assert offer["team"]["name"] == PHU_HOI
    assert "gần nhất" in offer["reason"]


async def test_no_answer_moves_to_the_next_team_then_escalates(
    start_desk: StartDesk, clock: ManualClock
) -> None:
    desk = await start_desk(max_failed_offers=3)
    created = await desk.request()
    request_id = created["id"]

    clock.advance(ACK - timedelta(seconds=1))
    assert await desk.expire() == 0  # not yet: the deadline is the offer's time + 180 s
    clock.advance(timedelta(seconds=1))
    assert await desk.expire() == 1
    assert [o["team"] for o in await desk.offers(request_id)] == [PHU_HOI, VY_DA]
    assert await desk.state(request_id) == "offered"

    clock.advance(ACK)
    assert await desk.expire() == 1
    clock.advance(ACK)
    assert await desk.expire() == 1
    assert await desk.offers(request_id) == [
        {"id": 1, "team": PHU_HOI, "status": "timed_out"},
        {"id": 2, "team": VY_DA, "status": "timed_out"},
        {"id": 3, "team": KIM_LONG, "status": "timed_out"},
    ]
    assert await desk.state(request_id) == "triaged"

    # Escalated: the console's event, the duty dispatcher's SMS, /healthz and /metrics.
    (event,) = await desk.rows(
        "SELECT payload FROM event_log WHERE type = 'dispatch.request_escalated'"
    )
    assert json.loads(event["payload"])["number"] == "1001"
    messages = await desk.sent_sms(1)
    await eventually(lambda: any(m["to"] == DUTY_PHONE for m in desk.twilio.messages))
    (alarm,) = [m for m in desk.twilio.messages if m["to"] == DUTY_PHONE]
    assert "1001" in alarm["body"]
    assert "sau 3 lần mời" in alarm["body"]
    assert messages
    health = await (await desk.client.get("/healthz")).json()
    assert health["components"][HEALTH_NAME]["status"] == "degraded"
    metrics = await (await desk.client.get("/metrics")).text()
    assert "dispatch_escalated_requests 1.0" in metrics
    listed = await (await desk.dispatcher.get(f"{API}/escalations")).json()
    assert [e["request_id"] for e in listed["escalations"]] == [request_id]

    # A dispatcher assigns by hand: the alarm clears.
    response = await desk.dispatcher.post(
        f"{API}/requests/{request_id}/offers", json={"team_id": desk.teams[VY_DA]}
    )
    assert response.status == 201, await response.text()
    offer = await response.json()
    response = await desk.dispatcher.post(
        f"{API}/offers/{offer['id']}/answer", json={"action": "accept"}
    )
    assert response.status == 200, await response.text()
    health = await (await desk.client.get("/healthz")).json()
    assert health["components"][HEALTH_NAME]["status"] == "ok"


async def test_no_team_left_escalates_at_once(start_desk: StartDesk, clock: ManualClock) -> None:
    desk = await start_desk(max_failed_offers=5)
    created = await desk.request()
    for _ in range(3):  # the three boat teams, one after the other
        clock.advance(ACK)
        await desk.expire()
    (escalation,) = await desk.rows("SELECT failed_offers, reason FROM dispatch_escalations")
    assert escalation["failed_offers"] == 3
    assert "không có đội phù hợp" in escalation["reason"]
    assert "3 đội đã được mời trước đó" in escalation["reason"]
    assert await desk.state(created["id"]) == "triaged"


async def test_a_decline_by_sms_goes_to_the_next_team(start_desk: StartDesk) -> None:
    desk = await start_desk()
    created = await desk.request()
    status, reply = await desk.sim.sms("+84911000002", "  Không   1001 ")
    assert status == 200
    assert "từ chối yêu cầu 1001" in reply
    assert [(o["team"], o["status"]) for o in await desk.offers(created["id"])] == [
        (PHU_HOI, "declined"),
        (VY_DA, "pending"),
    ]
    (row,) = await desk.rows("SELECT answered_via, answered_by FROM dispatch_offers WHERE id = 1")
    assert row == {"answered_via": "sms", "answered_by": f"team:{desk.teams[PHU_HOI]}:+84911000002"}


async def test_a_team_not_offered_is_refused_and_an_unknown_number_told_so(
    start_desk: StartDesk,
) -> None:
    desk = await start_desk()
    created = await desk.request()
    status, reply = await desk.sim.sms("+84913000001", "NHAN 1001")  # Kim Long's member
    assert status == 200
    assert "không giao cho đội của bạn" in reply
    status, reply = await desk.sim.sms("+84987654321", "nhan 1001")
    assert status == 200
    assert "chưa đăng ký trong đội cứu hộ nào" in reply
    status, reply = await desk.sim.sms("+84911000001", "NHAN 9999")
    assert "Không có yêu cầu cứu hộ số 9999" in reply
    assert await desk.offers(created["id"]) == [{"id": 1, "team": PHU_HOI, "status": "pending"}]
    # The team API refuses it too: 403, not the offer changed.
    response = await desk.dispatcher.post(f"{API}/teams/{desk.teams[KIM_LONG]}/token")
    token = (await response.json())["token"]
    response = await desk.client.post(
        f"{API}/team/offers/1/answer",
        json={"action": "accept"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status == 403
    assert (await response.json())["error"]["code"] == "not_offered"
    assert await desk.state(created["id"]) == "offered"


async def test_the_team_app_answers_and_the_requester_is_told_the_team_not_its_phones(
    start_desk: StartDesk,
) -> None:
    desk = await start_desk()
    created = await desk.request()
    response = await desk.dispatcher.post(f"{API}/teams/{desk.teams[PHU_HOI]}/token")
    assert response.status == 201
    bearer = {"Authorization": f"Bearer {(await response.json())['token']}"}
    mine = await (await desk.client.get(f"{API}/team/offers", headers=bearer)).json()
    assert [o["request_number"] for o in mine["offers"]] == ["1001"]
    for action, state in (
        ("accept", "accepted"),
        ("en_route", "en_route"),
        ("on_scene", "on_scene"),
    ):
        response = await desk.client.post(
            f"{API}/team/offers/1/answer", json={"action": action}, headers=bearer
        )
        assert response.status == 200, await response.text()
        assert await desk.state(created["id"]) == state
    told = await desk.rows(
        "SELECT payload FROM outbox WHERE idempotency_key LIKE ? ",
        (f"dispatch:{created['id']}:on_the_way:%",),
    )
    (body,) = [json.loads(row["payload"])["body"] for row in told]
    assert body.startswith("Đội xuồng Phú Hội đã nhận yêu cầu cứu hộ số 1001")
    assert "+8491100000" not in body
    # The team's members get the requester's phone.
    confirmed = await desk.rows(
        "SELECT payload FROM outbox WHERE idempotency_key LIKE 'dispatch:offer:1:accepted:%'"
    )
    assert len(confirmed) == 2
    assert CALLER in json.loads(confirmed[0]["payload"])["body"]


async def test_a_restart_with_an_offer_pending_still_times_it_out_on_time(
    start_desk: StartDesk, app_client: AppClient, clock: ManualClock
) -> None:
    desk = await start_desk()
    created = await desk.request()
    config = desk.app[keys.CONFIG]
    await desk.client.close()  # the process stops with the offer pending

    clock.advance(ACK - timedelta(seconds=30))
    client = await app_client(config=config, clock=clock)
    assert client.app is not None
    db = client.app[keys.DB]
    rows = await db.fetch_all("SELECT status, expires_at FROM dispatch_offers ORDER BY id")
    assert [r["status"] for r in rows] == ["pending"]  # start-up timed out nothing early
    # The new process's timer is armed for the stored deadline (30 s ahead), not a poll.
    timer = client.app[DISPATCH_DEADLINES]
    assert await timer.look_now() == 0
    assert timer.armed_for == parse_utc(rows[0]["expires_at"])

    clock.advance(timedelta(seconds=30))
    assert await timer.look_now() == 1
    rows = await db.fetch_all(
        "SELECT t.name, o.status FROM dispatch_offers o JOIN dispatch_teams t ON t.id = o.team_id"
        " WHERE o.request_id = ? ORDER BY o.id",
        (created["id"],),
    )
    assert [tuple(r) for r in rows] == [(PHU_HOI, "timed_out"), (VY_DA, "pending")]


async def test_offers_that_fell_due_while_stopped_time_out_at_start(
    start_desk: StartDesk, app_client: AppClient, clock: ManualClock
) -> None:
    desk = await start_desk()
    await desk.request()
    config = desk.app[keys.CONFIG]
    await desk.client.close()
    clock.advance(ACK + timedelta(minutes=10))
    client = await app_client(config=config, clock=clock)
    assert client.app is not None
    rows = await client.app[keys.DB].fetch_all("SELECT status FROM dispatch_offers ORDER BY id")
    assert [r["status"] for r in rows] == ["timed_out", "pending"]


async def test_the_claim_lock_holds_for_offers_by_hand(
    start_desk: StartDesk, staff: object
) -> None:
    desk = await start_desk(auto_offer=False)
    created = await desk.request()
    assert await desk.offers(created["id"]) == []  # no automatic offer
    from tests.conftest import StaffFactory

    assert callable(staff)
    make: StaffFactory = staff  # type: ignore[assignment]  # the fixture's factory
    lan = await make(desk.client, "lan", roles=["dispatcher"])
    response = await lan.post(f"{API}/requests/{created['id']}/claim")
    assert response.status == 200, await response.text()
    response = await desk.dispatcher.post(f"{API}/requests/{created['id']}/offers", json={})
    assert response.status == 409
    assert (await response.json())["error"]["holder"] == "user:lan"
    response = await lan.post(f"{API}/requests/{created['id']}/offers", json={})
    assert response.status == 201, await response.text()
    assert (await response.json())["team"]["name"] == PHU_HOI
    # Reassign to another team, then release: the request waits for a team again.
    response = await lan.post(
        f"{API}/requests/{created['id']}/reassign", json={"team_id": desk.teams[VY_DA]}
    )
    assert response.status == 201
    response = await lan.post(f"{API}/requests/{created['id']}/release")
    assert response.status == 200
    assert await desk.offers(created["id"]) == [
        {"id": 1, "team": PHU_HOI, "status": "withdrawn"},
        {"id": 2, "team": VY_DA, "status": "withdrawn"},
    ]
    assert await desk.state(created["id"]) == "triaged"
    response = await desk.dispatcher.post(f"{API}/requests/{created['id']}/release")
    assert response.status == 409
