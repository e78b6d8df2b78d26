"""A team's live offer or job ends when its request is changed by other hands: cancelled,
unfounded, sent back to triaged by a dispatcher, merged away as a duplicate, resolved by a
dispatcher, released or reassigned. Each time: the offer is withdrawn (done, for a resolved
request), the team is told by SMS (every member, through the Twilio double) and by push to its
app (through the FCM double), its place is free again, and the deadline no longer fires."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from canhbao.clock import ManualClock
from tests.dispatch.teams_support import API, CALLER, PUSH_TOKEN, Desk, StartDesk, eventually

PHU_HOI = "Đội xuồng Phú Hội"
MEMBERS = ("+84911000001", "+84911000002")
ACK = timedelta(seconds=180)


def told_team(desk: Desk) -> list[str]:
    """What the Twilio double delivered to the Phú Hội team's first member, in order."""
    return [m["body"] for m in desk.twilio.messages if m["to"] == MEMBERS[0]]


async def withdrawn_push(desk: Desk, offer_id: int) -> dict[str, object]:
    def found() -> list[dict[str, object]]:
        return [
            m
            for m in desk.fcm.double.messages
            if m["data"].get("kind") == "dispatch_offer_withdrawn"
            and m["data"].get("offer_id") == str(offer_id)
        ]

    await eventually(lambda: len(found()) == 1)
    (push,) = found()
    return push


async def team_jobs(desk: Desk) -> list[dict[str, object]]:
    return await desk.rows(
        "SELECT id FROM dispatch_offers WHERE team_id = ? AND status IN ('pending', 'accepted')",
        (desk.teams[PHU_HOI],),
    )


@pytest.mark.parametrize(
    ("state", "words"),
    [
        ("cancelled", "THU HỒI: yêu cầu cứu hộ 1001 đã hủy."),
        ("unfounded", "THU HỒI: yêu cầu cứu hộ 1001 đã đóng vì không cần cứu hộ."),
        ("triaged", "THU HỒI: yêu cầu cứu hộ 1001 đã được điều phối viên giao lại."),
    ],
)
async def test_a_request_changed_by_hand_withdraws_its_pending_offer(
    start_desk: StartDesk, clock: ManualClock, state: str, words: str
) -> None:
    desk = await start_desk()
    created = await desk.request()  # offered to Phú Hội at once
    await eventually(lambda: len(told_team(desk)) == 1)  # the offer
    response = await desk.dispatcher.post(
        f"{API}/requests/{created['id']}/state", json={"state": state, "reason": "gọi lại xác nhận"}
    )
    assert response.status == 200, await response.text()

    assert await desk.offers(created["id"]) == [{"id": 1, "team": PHU_HOI, "status": "withdrawn"}]
    assert await team_jobs(desk) == []  # its place is free again
    await eventually(lambda: len(told_team(desk)) == 2)
    withdrawn = told_team(desk)[1]
    assert withdrawn.startswith(words)
    assert "không cần trả lời và không cần đến nơi" in withdrawn
    push = await withdrawn_push(desk, 1)
    assert push["token"] == PUSH_TOKEN
    assert push["notification"] == {"title": "Thu hồi yêu cầu cứu hộ 1001", "body": withdrawn}
    # The deadline is dropped: nothing times out, nothing goes to the next team.
    clock.advance(ACK * 2)
    assert await desk.expire() == 0
    assert len(await desk.offers(created["id"])) == 1
    (audit,) = await desk.rows(
        "SELECT actor FROM audit_log WHERE action = 'dispatch_offer.withdraw'"
    )
    assert audit["actor"] == "user:minh"


async def test_a_merge_withdraws_the_absorbed_requests_offer(start_desk: StartDesk) -> None:
    desk = await start_desk(auto_offer=False)
    first = await desk.request()
    # The same family texts again from a neighbour's phone, 20 m away: a proposed duplicate.
    second = await desk.request(caller="+84905999888", lat=16.4638, lon=107.5910)
    response = await desk.dispatcher.post(
        f"{API}/requests/{second['id']}/offers", json={"team_id": desk.teams[PHU_HOI]}
    )
    assert response.status == 201, await response.text()
    proposals = await (await desk.dispatcher.get(f"{API}/duplicates")).json()
    (proposal,) = proposals["proposals"]
    response = await desk.dispatcher.post(f"{API}/duplicates/{proposal['id']}/merge")
    assert response.status == 200, await response.text()

    assert await desk.offers(second["id"]) == [{"id": 1, "team": PHU_HOI, "status": "withdrawn"}]
    assert await desk.state(second["id"]) == "duplicate"
    assert await team_jobs(desk) == []
    await eventually(lambda: len(told_team(desk)) == 2)
    assert told_team(desk)[1].startswith(
        f"THU HỒI: yêu cầu cứu hộ {second['number']} trùng với yêu cầu {first['number']},"
        " đã gộp vào yêu cầu đó."
    )
    await withdrawn_push(desk, 1)
    # The kept request waits for a team, and the team may be offered it.
    response = await desk.dispatcher.post(f"{API}/requests/{first['id']}/offers", json={})
    assert response.status == 201, await response.text()
    assert (await response.json())["team"]["name"] == PHU_HOI


async def test_a_job_resolved_by_a_dispatcher_is_done_and_the_team_thanked(
    start_desk: StartDesk,
) -> None:
    desk = await start_desk()
    created = await desk.request()
    for action in ("accept", "on_scene"):
        response = await desk.dispatcher.post(f"{API}/offers/1/answer", json={"action": action})
        assert response.status == 200, await response.text()
    response = await desk.dispatcher.post(
        f"{API}/requests/{created['id']}/state", json={"state": "resolved", "reason": "qua radio"}
    )
    assert response.status == 200, await response.text()

    assert await desk.offers(created["id"]) == [{"id": 1, "team": PHU_HOI, "status": "done"}]
    assert await team_jobs(desk) == []
    await eventually(lambda: any("đã được điều phối viên đóng" in body for body in told_team(desk)))
    assert told_team(desk)[-1] == (
        "Yêu cầu cứu hộ 1001 đã được điều phối viên đóng: đã hoàn thành. Cảm ơn đội."
    )
    # The requester is told it is resolved, once.
    resolved = await desk.rows(
        "SELECT payload FROM outbox WHERE idempotency_key = ?",
        (f"dispatch:{created['id']}:resolved:{CALLER}",),
    )
    assert len(resolved) == 1


async def test_the_teams_own_done_is_not_told_back_as_a_withdrawal(
    start_desk: StartDesk,
) -> None:
    desk = await start_desk()
    created = await desk.request()
    for action in ("accept", "on_scene", "done"):
        response = await desk.dispatcher.post(f"{API}/offers/1/answer", json={"action": action})
        assert response.status == 200, await response.text()
    assert await desk.state(created["id"]) == "resolved"
    assert await desk.offers(created["id"]) == [{"id": 1, "team": PHU_HOI, "status": "done"}]
    assert await desk.rows("SELECT id FROM outbox WHERE idempotency_key LIKE '%:withdrawn:%'") == []


async def test_release_and_reassign_tell_the_team_it_was_taken_off(
    start_desk: StartDesk,
) -> None:
    desk = await start_desk()
    created = await desk.request()
    response = await desk.dispatcher.post(f"{API}/offers/1/answer", json={"action": "accept"})
    assert response.status == 200, await response.text()
    response = await desk.dispatcher.post(
        f"{API}/requests/{created['id']}/reassign", json={"team_id": desk.teams["Đội xuồng Vỹ Dạ"]}
    )
    assert response.status == 201, await response.text()
    assert [o["status"] for o in await desk.offers(created["id"])] == ["withdrawn", "pending"]
    assert await team_jobs(desk) == []
    withdrawn = await desk.rows(
        "SELECT payload FROM outbox WHERE idempotency_key LIKE 'dispatch:offer:1:withdrawn:%'"
        " AND channel = 'sms' ORDER BY id"
    )
    assert [json.loads(row["payload"])["to"] for row in withdrawn] == list(MEMBERS)
    assert "đã được điều phối viên giao lại" in json.loads(withdrawn[0]["payload"])["body"]

    response = await desk.dispatcher.post(f"{API}/requests/{created['id']}/release")
    assert response.status == 200, await response.text()
    vy_da = await desk.rows(
        "SELECT payload FROM outbox WHERE idempotency_key LIKE 'dispatch:offer:2:withdrawn:%'"
    )
    assert [json.loads(row["payload"])["to"] for row in vy_da] == ["+84912000001"]


@pytest.mark.parametrize("how", ["duty", "replace"])
async def test_a_team_going_off_duty_gives_up_its_pending_offer_at_once(
    start_desk: StartDesk, how: str
) -> None:
    desk = await start_desk()
    created = await desk.request()  # offered to Phú Hội at once
    await eventually(lambda: len(told_team(desk)) == 1)
    team_id = desk.teams[PHU_HOI]
    if how == "duty":
        response = await desk.dispatcher.post(
            f"{API}/teams/{team_id}/duty", json={"on_duty": False}
        )
    else:
        team = await (await desk.dispatcher.get(f"{API}/teams/{team_id}")).json()
        body = {k: team[k] for k in ("name", "capabilities", "capacity", "members")}
        body |= {"base_lat": team["base"]["lat"], "base_lon": team["base"]["lon"]}
        response = await desk.dispatcher.put(
            f"{API}/teams/{team_id}", json=body | {"on_duty": False}
        )
    assert response.status == 200, await response.text()

    # Withdrawn with its reason, and the request offered to the next team without waiting
    # for the acknowledgement timeout.
    assert [(o["team"], o["status"]) for o in await desk.offers(created["id"])] == [
        (PHU_HOI, "withdrawn"),
        ("Đội xuồng Vỹ Dạ", "pending"),
    ]
    assert await team_jobs(desk) == []
    await eventually(lambda: len(told_team(desk)) == 2)
    assert told_team(desk)[1].startswith(
        "THU HỒI: đội đã chuyển sang nghỉ trực nên yêu cầu cứu hộ 1001 được chuyển cho đội khác."
    )
    (audit,) = await desk.rows(
        "SELECT actor, after FROM audit_log WHERE action = 'dispatch_offer.withdraw'"
    )
    assert audit["actor"] == "user:minh"
    assert json.loads(audit["after"])["reason"] == "team_off_duty"


async def test_an_accepted_job_stays_with_a_team_going_off_duty(start_desk: StartDesk) -> None:
    desk = await start_desk()
    created = await desk.request()
    response = await desk.dispatcher.post(f"{API}/offers/1/answer", json={"action": "accept"})
    assert response.status == 200, await response.text()

    response = await desk.dispatcher.post(
        f"{API}/teams/{desk.teams[PHU_HOI]}/duty", json={"on_duty": False}
    )

    assert response.status == 200, await response.text()
    assert [o["status"] for o in await desk.offers(created["id"])] == ["accepted"]
