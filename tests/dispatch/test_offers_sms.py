"""A citizen's SMS to a resolved request, end to end through the hotline's SMS webhook (the
dispatch intake), a dispatcher's offer and the team's SMS answers; once on the injected clock,
once on the real one (sub-second times, UTC stored, Asia/Ho_Chi_Minh shown); the offer call's
keypress."""

from __future__ import annotations

import pytest

from dispatch.teams_keys import DISPATCH_OFFERS
from tests.dispatch.teams_support import (
    API,
    CALLER,
    PUBLIC_URL,
    RealClock,
    StartDesk,
    eventually,
)

MEMBER = "+84911000001"


@pytest.mark.parametrize("real_clock", [False, True], ids=["injected clock", "real clock"])
async def test_an_sms_to_resolved(start_desk: StartDesk, real_clock: bool) -> None:
    desk = await start_desk(clock=RealClock()) if real_clock else await start_desk()
    status, reply = await desk.sim.sms(CALLER, "SOS kiệt 12 Đoàn Thị Điểm, 4 người")
    assert status == 200
    assert "1001" in reply
    # No location from a text: no automatic offer; the dispatcher offers it by hand.
    assert await desk.offers(1) == []
    response = await desk.dispatcher.post(
        f"{API}/requests/1/offers", json={"team_id": desk.teams["Đội xuồng Phú Hội"]}
    )
    assert response.status == 201, await response.text()
    # A citizen's "ok" is not a team's answer: the hotline answers it (adds to the request).
    status, reply = await desk.sim.sms(CALLER, "ok")
    assert "bổ sung" in reply

    status, reply = await desk.sim.sms(MEMBER, "nhận 1001")
    assert status == 200
    assert "Đã ghi nhận: đội nhận yêu cầu 1001" in reply
    assert CALLER in reply
    assert await desk.state(1) == "accepted"
    # The other member is texted the details; the one who replied has them in the reply.
    confirmed = await desk.rows(
        "SELECT idempotency_key FROM outbox"
        " WHERE idempotency_key LIKE 'dispatch:offer:1:accepted:%'"
    )
    assert confirmed == [{"idempotency_key": "dispatch:offer:1:accepted:+84911000002"}]
    status, reply = await desk.sim.sms(MEMBER, "nhận 1001")  # Twilio retried, or sent twice
    assert "Đã ghi nhận" in reply
    status, reply = await desk.sim.sms(MEMBER, "ĐẾN 1001")
    assert "đã đến nơi" in reply
    assert await desk.state(1) == "on_scene"
    status, reply = await desk.sim.sms(MEMBER, "xong 1001")
    assert "đã hoàn thành" in reply
    assert await desk.state(1) == "resolved"
    (offer,) = await desk.rows("SELECT status, answered_via FROM dispatch_offers")
    assert offer == {"status": "done", "answered_via": "sms"}

    def told() -> list[str]:
        return [m["body"] for m in desk.twilio.messages if m["to"] == CALLER]

    await eventually(lambda: len(told()) >= 2)  # on the way, resolved (the receipt was the reply)
    on_the_way = [body for body in told() if "đang trên đường đến" in body]
    assert on_the_way == [
        "Đội xuồng Phú Hội đã nhận yêu cầu cứu hộ số 1001 và đang trên đường đến."
        " Hãy giữ điện thoại bên mình, ở nơi cao và an toàn. Nếu tình hình thay đổi, nhắn tin"
        " lại cho số này."
    ]
    history = await (await desk.dispatcher.get(f"{API}/requests/1/timeline")).json()
    states = [line.get("to_state") for line in history["history"] if line.get("to_state")]
    assert states == ["new", "offered", "accepted", "on_scene", "resolved"]


async def test_a_keypress_accepts_or_declines_the_offer_call(start_desk: StartDesk) -> None:
    desk = await start_desk(voice=True)
    await desk.request()
    await eventually(lambda: len(desk.twilio.calls) == 1)
    (call,) = desk.twilio.calls
    assert call["to"] == MEMBER
    twiml = desk.twilio.params[call["sid"]]["Twiml"]
    assert "Bấm phím 1 để nhận" in twiml
    assert 'language="vi-VN"' in twiml
    assert f"{PUBLIC_URL}/twilio/dispatch/offers/1/keypress" in twiml
    url = f"{PUBLIC_URL}/twilio/dispatch/offers/1/keypress"
    form = {"CallSid": call["sid"], "To": MEMBER, "From": "+8419001075", "Digits": "9"}
    status, body = await desk.sim.post(url, form)
    assert status == 200
    assert "Không nhận được phím bấm" in body
    status, body = await desk.sim.post(url, {**form, "To": "+84987654321", "Digits": "1"})
    assert status == 200
    assert "không còn chờ" in body
    assert await desk.state(1) == "offered"
    status, _ = await desk.sim.post(url, {**form, "Digits": "1"}, signature="forged")
    assert status == 403
    status, body = await desk.sim.post(url, {**form, "Digits": "1"})
    assert status == 200
    assert "đội nhận yêu cầu" in body
    assert await desk.state(1) == "accepted"
    (offer,) = await desk.rows("SELECT status, answered_via FROM dispatch_offers")
    assert offer == {"status": "accepted", "answered_via": "voice"}


async def test_an_answer_without_a_number_applies_to_the_teams_only_offer(
    start_desk: StartDesk,
) -> None:
    desk = await start_desk()
    await desk.request()
    _status, reply = await desk.sim.sms(MEMBER, "OK")
    assert "đội nhận yêu cầu 1001" in reply
    await desk.request(caller="+84905000002")
    # Kim Long… no: Vỹ Dạ got the second request (Phú Hội is full); its member answers "ok".
    offers = await desk.app[DISPATCH_OFFERS].offers_for(2)
    assert [o.team_name for o in offers] == ["Đội xuồng Vỹ Dạ"]
