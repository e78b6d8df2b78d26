"""SMS SOS end to end: keywords with their own marks, the people count, capped addresses, and a
second text that adds to the sender's open request."""

from __future__ import annotations

from canhbao import keys
from hotline.models import ADDRESS_MAX_CHARS, RescueRequestCreated
from tests.hotline.conftest import CALLER, StartLine


async def test_other_vowels_marks_are_not_a_call_for_help(start_line: StartLine) -> None:
    line = await start_line()
    for body in ("Cửu Long hôm nay mưa to", "Cừu nhà tôi bị lạc ra đồng"):
        status, reply = await line.sim.sms(CALLER, body)
        assert status == 200
        assert "Cần cứu hộ, nhắn: SOS" in reply
    assert await line.rows("SELECT * FROM dispatch_requests") == []


async def test_the_people_count_is_read_from_the_text(start_line: StartLine) -> None:
    line = await start_line()
    await line.sim.sms(CALLER, "cuu kiet 3 Huynh Thuc Khang, 4 nguoi")
    (request,) = await line.rows("SELECT people, address FROM dispatch_requests")
    assert request == {"people": 4, "address": "kiet 3 Huynh Thuc Khang, 4 nguoi"}


async def test_a_very_long_text_is_stored_capped(start_line: StartLine) -> None:
    line = await start_line()
    status, _ = await line.sim.sms(CALLER, "SOS " + "nhà ngập " * 500)
    assert status == 200
    (request,) = await line.rows("SELECT address FROM dispatch_requests")
    assert len(request["address"]) == ADDRESS_MAX_CHARS


async def test_a_second_text_adds_to_the_open_request(start_line: StartLine) -> None:
    line = await start_line()
    events: list[RescueRequestCreated] = []

    async def created(event: RescueRequestCreated) -> None:
        events.append(event)

    line.app[keys.BUS].subscribe(RescueRequestCreated, created)
    await line.sim.sms(CALLER, "SOS kiệt 12 Đoàn Thị Điểm")
    status, reply = await line.sim.sms(CALLER, "Cứu, nhà có 5 người, 2 người già")
    assert status == 200
    status, reply_plain = await line.sim.sms(CALLER, "nước lên tới mái rồi")  # no keyword
    (request,) = await line.rows("SELECT number, address, people FROM dispatch_requests")
    assert request["address"] == (
        "kiệt 12 Đoàn Thị Điểm; nhà có 5 người, 2 người già; nước lên tới mái rồi"
    )
    assert request["people"] == 5
    assert f"yêu cầu số {request['number']}" in reply
    assert "bổ sung" in reply
    assert "bổ sung" in reply_plain
    assert len(events) == 1  # one request, created once


async def test_once_the_request_is_closed_a_new_text_makes_a_new_one(
    start_line: StartLine,
) -> None:
    line = await start_line()
    await line.sim.sms(CALLER, "SOS kiệt 12 Đoàn Thị Điểm")
    await line.app[keys.DB].execute("UPDATE dispatch_requests SET state = 'resolved'")
    await line.sim.sms(CALLER, "SOS lại ngập, 3 người")
    requests = await line.rows("SELECT state, people FROM dispatch_requests ORDER BY id")
    assert requests == [{"state": "resolved", "people": None}, {"state": "new", "people": 3}]


async def test_another_number_does_not_join_someone_elses_request(start_line: StartLine) -> None:
    line = await start_line()
    await line.sim.sms(CALLER, "SOS kiệt 12 Đoàn Thị Điểm")
    await line.sim.sms("+84905999999", "SOS 4 Lê Lợi")
    assert len(await line.rows("SELECT * FROM dispatch_requests")) == 2
