"""Calls end to end: the simulator plays Twilio against the real app and the Twilio double."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from canhbao import keys
from hotline.models import KnownLocation, RescueRequestCreated
from hotline.ports import StationLevel, WarningInForce
from tests.hotline.conftest import CALLER, HOTLINE_NUMBER, OPERATOR_PHONE, PUBLIC_URL, StartLine

GREETING_START = "Xin chào. Đây là Tổng đài cứu hộ"


async def test_greeting_names_the_hotline_and_offers_three_choices(start_line: StartLine) -> None:
    line = await start_line()
    call = await line.sim.incoming(CALLER)
    assert call.transcript.startswith(GREETING_START)
    assert "bấm phím 1" in call.transcript
    assert "bấm phím 3" in call.transcript
    row = await line.call_row(call.sid)
    assert (row["kind"], row["from_number"], row["to_number"]) == (
        "inbound",
        CALLER,
        HOTLINE_NUMBER,
    )


async def test_a_severe_warning_is_spoken_first_and_rescue_offered_before_anything_else(
    start_line: StartLine,
) -> None:
    line = await start_line()
    line.warnings.warnings = [WarningInForce("Lũ lớn trên sông Hương, sông Bồ", severe=True)]
    call = await line.sim.incoming(CALLER)
    text = call.transcript
    assert "cảnh báo nguy hiểm: Lũ lớn trên sông Hương, sông Bồ" in text
    assert text.index("bấm phím 1 ngay") < text.index("bấm phím 2")


async def test_flood_information_is_read_in_natural_vietnamese(start_line: StartLine) -> None:
    line = await start_line()
    observed = datetime(2025, 11, 16, 2, 0, tzinfo=UTC)
    line.flood.levels_by_id = {
        "71520": StationLevel("71520", "Kim Long", "Hương", 3.2, 2, "rising", 0.12, observed),
        "71518": StationLevel("71518", "Phú Ốc", "Bồ", None),
    }
    line.warnings.warnings = [WarningInForce("Cảnh báo lũ cấp độ ba tại Huế", severe=False)]
    call = await line.sim.incoming(CALLER)
    await call.press("2")
    text = call.transcript
    assert (
        "Mực nước sông Hương tại Kim Long là ba mét hai mươi, ở mức báo động hai, đang lên"
        " khoảng mười hai xăng-ti-mét mỗi giờ." in text
    )
    assert "Hiện chưa có số liệu mới của trạm Phú Ốc." in text
    assert "Hiện có một cảnh báo đang có hiệu lực. Cảnh báo lũ cấp độ ba tại Huế." in text
    await call.silence()
    assert call.state == "ended"
    row = await line.call_row(call.sid)
    assert row["outcome"] == "informed"
    assert row["menu_path"] == "flood"
    # A caller who heard what they called for is not an abandoned call: no callback.
    assert await line.rows("SELECT * FROM hotline_callbacks") == []


async def test_unknown_warnings_are_not_claimed_to_be_none(start_line: StartLine) -> None:
    line = await start_line()
    call = await line.sim.incoming(CALLER)
    await call.press("2")
    assert "chưa có thông tin cảnh báo" in call.transcript
    assert "không có cảnh báo nào" not in call.transcript


async def test_no_input_twice_goes_to_an_operator(start_line: StartLine) -> None:
    line = await start_line()
    call = await line.sim.incoming(CALLER)
    await call.silence()
    assert "chưa nhận được lựa chọn" in call.transcript
    await call.silence()
    assert call.state == "queued"
    row = await line.call_row(call.sid)
    assert row["menu_path"] == "no-input>operator"
    assert row["enqueued_at"] is not None


async def test_rescue_without_a_known_location_speech_recording_people_and_needs(
    start_line: StartLine,
) -> None:
    line = await start_line()
    published: list[RescueRequestCreated] = []

    async def keep(event: RescueRequestCreated) -> None:
        published.append(event)

    line.app[keys.BUS].subscribe(RescueRequestCreated, keep)
    call = await line.sim.incoming(CALLER)
    await call.press("1")
    assert "Xin nói rõ địa chỉ" in call.transcript
    await call.speak("số 12 Lê Lợi, phường Phú Hội")
    recording = await call.record(seconds=9)
    assert "Có bao nhiêu người" in call.transcript
    await call.press("4#")
    await call.press("13#")
    requests = await line.rows("SELECT * FROM dispatch_requests")
    assert len(requests) == 1
    request = requests[0]
    assert request["source"] == "call"
    assert request["caller"] == CALLER
    assert request["address"] == "số 12 Lê Lợi, phường Phú Hội"
    assert request["recording_url"] == recording
    assert request["people"] == 4
    assert request["vulnerabilities"] == "injured,child"
    assert request["lat"] is None
    # Its number is read back digit by digit, twice.
    spoken = ", ".join(
        ("không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín")[int(d)]
        for d in request["number"]
    )
    assert call.transcript.lower().count(f"số yêu cầu là: {spoken}") == 2
    # No operator on duty: the caller is told when help will call, and a task says so.
    assert "gọi lại cho quý vị trong khoảng hai phút" in call.transcript
    assert call.state == "ended"
    tasks = await line.rows("SELECT * FROM hotline_callbacks")
    assert [(t["phone"], t["reason"], t["rescue_request_id"]) for t in tasks] == [
        (CALLER, "rescue", request["id"])
    ]
    assert [e.number for e in published] == [request["number"]]
    row = await line.call_row(call.sid)
    assert row["rescue_request_id"] == request["id"]
    assert row["menu_path"] == "rescue>address"
    recordings = await line.rows("SELECT kind, url, duration_s, status FROM hotline_recordings")
    assert recordings == [
        {"kind": "address", "url": recording, "duration_s": 9, "status": "completed"}
    ]
    audit = await line.rows(
        "SELECT actor, action FROM audit_log WHERE entity = 'rescue_request' ORDER BY id"
    )
    assert audit[0] == {"actor": f"caller:{CALLER}", "action": "rescue_request.create"}


async def test_rescue_with_a_known_location_offers_it(start_line: StartLine) -> None:
    line = await start_line()
    line.locations.known[CALLER] = KnownLocation(
        lat=16.4637,
        lon=107.5909,
        accuracy_m=25.0,
        located_at=line.clock.now() - timedelta(minutes=5),
        description="",
        source="device",
    )
    call = await line.sim.incoming(CALLER)
    await call.press("1")
    # Sent at 02:55 UTC, which is 09:55 in Huế.
    assert "vị trí điện thoại gửi lúc chín giờ năm mươi lăm phút" in call.transcript
    await call.press("1")
    assert "Có bao nhiêu người" in call.transcript
    await call.press("2#")
    await call.press("#")
    request = (await line.rows("SELECT * FROM dispatch_requests"))[0]
    assert (request["lat"], request["lon"], request["accuracy_m"]) == (16.4637, 107.5909, 25.0)
    assert request["location_source"] == "device"
    assert request["people"] == 2
    assert request["vulnerabilities"] == ""


async def test_a_stale_location_is_not_offered(start_line: StartLine) -> None:
    line = await start_line()
    line.locations.known[CALLER] = KnownLocation(
        16.46, 107.59, 25.0, line.clock.now() - timedelta(hours=3), "", "device"
    )
    call = await line.sim.incoming(CALLER)
    await call.press("1")
    assert "Hệ thống có vị trí" not in call.transcript
    assert "Xin nói rõ địa chỉ" in call.transcript


async def test_rescue_goes_to_a_free_operator(start_line: StartLine) -> None:
    line = await start_line()
    await line.add_operator()
    call = await line.sim.incoming(CALLER)
    await call.press("1")
    await call.speak("thôn La Chữ")
    await call.silence()  # nothing recorded: Twilio skips the action
    await call.press("3#")
    await call.press("#")
    assert call.state == "queued"
    assert "Tổng đài sẽ chuyển quý vị tới nhân viên" in call.transcript
    legs = line.sim.placed_calls()
    assert [leg.callee for leg in legs] == [OPERATOR_PHONE]


async def test_operator_answers_and_is_bridged_to_the_caller(start_line: StartLine) -> None:
    line = await start_line()
    operator_id = await line.add_operator()
    call = await line.sim.incoming(CALLER)
    await call.press("3")
    (leg,) = line.sim.placed_calls()
    params = line.double.params[leg.sid]
    assert params["From"] == HOTLINE_NUMBER
    assert params["StatusCallback"].startswith(f"{PUBLIC_URL}/twilio/status")
    line.clock.advance(timedelta(seconds=8))
    await leg.answer()
    assert "có người gọi đang chờ" in leg.transcript
    await leg.press("1")
    assert leg.state == call.state == "bridged"
    assert call.said[-1] == "Đang kết nối quý vị với nhân viên tổng đài."
    line.clock.advance(timedelta(minutes=3))
    await leg.hang_up()
    assert call.state == "ended"
    assert call.said[-1].startswith("Xin cảm ơn quý vị đã gọi")
    row = await line.call_row(call.sid)
    assert row["outcome"] == "handled"
    assert row["operator_id"] == operator_id
    assert row["queue_wait_s"] == 8
    assert row["status"] == "completed"
    leg_row = await line.call_row(leg.sid)
    assert leg_row["kind"] == "operator"
    assert leg_row["parent_sid"] == call.sid
    assert leg_row["status"] == "completed"
    assert leg_row["answered_at"] is not None
    assert await line.rows("SELECT * FROM hotline_callbacks") == []


async def test_an_operator_who_does_not_answer_is_replaced_by_the_next(
    start_line: StartLine,
) -> None:
    line = await start_line()
    await line.add_operator("Lan", "+84914000001")
    await line.add_operator("Minh", "+84914000002")
    call = await line.sim.incoming(CALLER)
    await call.press("3")
    (first,) = line.sim.placed_calls()
    await first.ring_out("no-answer")
    (second,) = line.sim.placed_calls()
    assert {first.callee, second.callee} == {"+84914000001", "+84914000002"}
    await second.answer()
    await second.press("1")
    assert call.state == "bridged"


async def test_caller_hangs_up_in_the_queue_and_is_called_back(start_line: StartLine) -> None:
    line = await start_line()
    call = await line.sim.incoming(CALLER)
    await call.press("3")
    await call.wait(20)
    await call.hang_up()
    row = await line.call_row(call.sid)
    assert row["outcome"] == "abandoned"
    assert row["queue_wait_s"] == 20
    (task,) = await line.rows("SELECT * FROM hotline_callbacks")
    assert (task["phone"], task["reason"], task["status"]) == (CALLER, "abandoned", "open")

    # Not yet due: nothing is placed.
    assert await line.hotline.run_due_callbacks() == 0
    line.clock.advance(timedelta(minutes=2))
    assert await line.hotline.run_due_callbacks() == 1
    (first,) = line.sim.placed_calls()
    params = line.double.params[first.sid]
    assert params["To"] == CALLER
    assert params["From"] == HOTLINE_NUMBER
    assert params["MachineDetection"] == "Enable"
    assert params.getall("StatusCallbackEvent") == ["initiated", "ringing", "answered", "completed"]

    # Attempt 1: an answering machine takes it; a short message, and a retry in 10 minutes.
    await first.answer(answered_by="machine_end_beep")
    assert "Tổng đài sẽ gọi lại lần nữa" in first.transcript
    line.clock.advance(timedelta(minutes=9))
    assert await line.hotline.run_due_callbacks() == 0
    line.clock.advance(timedelta(minutes=1))
    assert await line.hotline.run_due_callbacks() == 1
    # Attempt 2: nobody picks up; the third comes 30 minutes later.
    (second,) = line.sim.placed_calls()
    await second.ring_out("no-answer")
    line.clock.advance(timedelta(minutes=30))
    assert await line.hotline.run_due_callbacks() == 1
    # Attempt 3: a person answers and goes to the front of the line.
    (third,) = line.sim.placed_calls()
    await line.add_operator()  # on duty now, and busy with another caller
    other = await line.sim.incoming("+84905000009")
    await other.press("3")
    (busy,) = line.sim.placed_calls()
    await busy.answer()
    await busy.press("1")
    assert other.state == "bridged"
    await third.answer(answered_by="human")
    assert "quý vị được ưu tiên" in third.transcript
    assert third.state == "queued"
    assert third.queue == "hotline-callbacks"

    attempts = await line.rows(
        "SELECT number, call_sid, outcome, answered_by FROM hotline_callback_attempts ORDER BY id"
    )
    assert attempts == [
        {
            "number": 1,
            "call_sid": first.sid,
            "outcome": "machine",
            "answered_by": "machine_end_beep",
        },
        {"number": 2, "call_sid": second.sid, "outcome": "no-answer", "answered_by": None},
        {"number": 3, "call_sid": third.sid, "outcome": "reached", "answered_by": "human"},
    ]
    # Answered, waiting: not reached until an operator talks to them.
    (task,) = await line.rows("SELECT status, attempts FROM hotline_callbacks")
    assert task == {"status": "calling", "attempts": 3}
    assert line.sim.placed_calls() == []  # the only operator is busy
    await busy.hang_up()  # free again: rung for the person called back
    (leg,) = line.sim.placed_calls()
    await leg.answer()
    await leg.press("1")
    assert third.state == "bridged"
    (task,) = await line.rows("SELECT status, attempts FROM hotline_callbacks")
    assert task == {"status": "reached", "attempts": 3}
    await leg.hang_up()
    line.clock.advance(timedelta(hours=2))
    assert await line.hotline.run_due_callbacks() == 0


async def test_a_callback_answered_then_hung_up_in_the_queue_is_tried_again(
    start_line: StartLine,
) -> None:
    line = await start_line()
    call = await line.sim.incoming(CALLER)
    await call.hang_up()
    line.clock.advance(timedelta(minutes=2))
    assert await line.hotline.run_due_callbacks() == 1
    (back,) = line.sim.placed_calls()
    await back.answer()
    assert back.state == "queued"
    await back.wait(30)
    await back.hang_up()  # nobody on duty took them
    (task,) = await line.rows("SELECT status, attempts FROM hotline_callbacks")
    assert task == {"status": "open", "attempts": 1}
    line.clock.advance(timedelta(minutes=10))
    assert await line.hotline.run_due_callbacks() == 1
    (again,) = line.sim.placed_calls()
    assert again.callee == CALLER


async def test_an_answered_callback_whose_end_never_arrives_is_tried_again_later(
    start_line: StartLine,
) -> None:
    line = await start_line()
    call = await line.sim.incoming(CALLER)
    await call.hang_up()
    line.clock.advance(timedelta(minutes=2))
    assert await line.hotline.run_due_callbacks() == 1
    (back,) = line.sim.placed_calls()
    await back.answer()  # then Twilio never reports the end of this call
    line.clock.advance(timedelta(hours=1))
    assert await line.hotline.run_due_callbacks() == 0  # they may still be waiting
    line.clock.advance(timedelta(hours=3, minutes=1))
    await line.hotline.run_due_callbacks()
    line.clock.advance(timedelta(minutes=10))
    assert await line.hotline.run_due_callbacks() == 1


async def test_callbacks_stop_after_the_configured_attempts(start_line: StartLine) -> None:
    line = await start_line(callback_delays_min=[1.0, 1.0])
    call = await line.sim.incoming(CALLER)
    await call.press("3")
    await call.hang_up()
    for _ in range(2):
        line.clock.advance(timedelta(minutes=1))
        assert await line.hotline.run_due_callbacks() == 1
        (attempt,) = line.sim.placed_calls()
        await attempt.ring_out("busy")
    line.clock.advance(timedelta(hours=1))
    assert await line.hotline.run_due_callbacks() == 0
    (task,) = await line.rows("SELECT status, attempts FROM hotline_callbacks")
    assert task == {"status": "exhausted", "attempts": 2}


async def test_an_operator_takes_callback_people_before_the_main_queue(
    start_line: StartLine,
) -> None:
    line = await start_line()
    first = await line.sim.incoming("+84905000001")
    await first.press("3")
    await first.hang_up()
    line.clock.advance(timedelta(minutes=2))
    await line.hotline.run_due_callbacks()
    (back,) = line.sim.placed_calls()
    other = await line.sim.incoming("+84905000002")
    await other.press("3")
    await back.answer()
    operator_id = await line.add_operator()
    await other.wait(10)  # the wait loop rings the operator who just came on duty
    legs = line.sim.placed_calls()
    assert legs
    assert all(leg.callee == OPERATOR_PHONE for leg in legs)
    await legs[0].answer()
    await legs[0].press("1")
    assert back.state == "bridged"
    assert other.state == "queued"
    assert (await line.call_row(back.sid))["operator_id"] == operator_id


async def test_voicemail_from_the_queue(start_line: StartLine) -> None:
    line = await start_line()
    call = await line.sim.incoming(CALLER)
    await call.press("3")
    await call.press("2")
    assert "Xin để lại lời nhắn sau tiếng bíp" in call.transcript
    url = await call.record(seconds=40)
    assert "Lời nhắn của quý vị đã được lưu" in call.transcript
    assert call.state == "ended"
    row = await line.call_row(call.sid)
    assert row["outcome"] == "voicemail"
    assert row["menu_path"] == "operator>voicemail"
    recordings = await line.rows("SELECT kind, url, duration_s FROM hotline_recordings")
    assert recordings == [{"kind": "voicemail", "url": url, "duration_s": 40}]
    (task,) = await line.rows("SELECT phone, reason FROM hotline_callbacks")
    assert task == {"phone": CALLER, "reason": "voicemail"}


async def test_call_me_back_from_the_queue(start_line: StartLine) -> None:
    line = await start_line()
    call = await line.sim.incoming(CALLER)
    await call.press("3")
    await call.press("1")
    assert "Nhân viên sẽ gọi lại cho quý vị sớm nhất" in call.transcript
    assert call.state == "ended"
    (task,) = await line.rows("SELECT reason FROM hotline_callbacks")
    assert task == {"reason": "requested"}


async def test_no_operator_within_the_limit_offers_voicemail_and_callback(
    start_line: StartLine,
) -> None:
    line = await start_line(operator_answer_timeout_s=60.0)
    await line.add_operator()
    call = await line.sim.incoming(CALLER)
    await call.press("3")
    (leg,) = line.sim.placed_calls()
    await leg.ring_out("no-answer")
    await call.wait(30)
    assert "Hiện tất cả nhân viên đều đang bận" not in call.transcript
    await call.wait(30)
    assert "Hiện tất cả nhân viên đều đang bận" in call.transcript
    await call.silence()  # no choice: a voicemail is taken
    await call.record(seconds=15)
    (task,) = await line.rows("SELECT reason FROM hotline_callbacks")
    assert task == {"reason": "voicemail"}


async def test_hanging_up_during_the_menu_is_an_abandoned_call(start_line: StartLine) -> None:
    line = await start_line()
    call = await line.sim.incoming(CALLER)
    await call.hang_up()
    (task,) = await line.rows("SELECT reason, source_call_sid FROM hotline_callbacks")
    assert task == {"reason": "abandoned", "source_call_sid": call.sid}


async def test_calling_again_keeps_the_promised_callback(start_line: StartLine) -> None:
    line = await start_line()
    first = await line.sim.incoming(CALLER)
    await first.hang_up()
    again = await line.sim.incoming(CALLER)
    await again.press("2")  # hears the river levels, talks to nobody
    await again.silence()
    (task,) = await line.rows("SELECT status, reason FROM hotline_callbacks")
    assert task == {"status": "open", "reason": "abandoned"}
    line.clock.advance(timedelta(minutes=5))
    assert await line.hotline.run_due_callbacks() == 1
    (placed,) = line.sim.placed_calls()
    assert placed.callee == CALLER


async def test_hanging_up_again_joins_the_open_callback(start_line: StartLine) -> None:
    line = await start_line()
    first = await line.sim.incoming(CALLER)
    await first.hang_up()
    again = await line.sim.incoming(CALLER)
    await again.hang_up()
    (task,) = await line.rows("SELECT status, source_call_sid FROM hotline_callbacks")
    assert task == {"status": "open", "source_call_sid": first.sid}
    assert (await line.call_row(again.sid))["callback_task_id"] is not None


async def test_an_operator_talking_to_the_caller_closes_the_open_callback(
    start_line: StartLine,
) -> None:
    line = await start_line()
    first = await line.sim.incoming(CALLER)
    await first.hang_up()
    operator_id = await line.add_operator()
    again = await line.sim.incoming(CALLER)
    await again.press("3")
    (leg,) = line.sim.placed_calls()
    await leg.answer()
    await leg.press("1")
    assert again.state == "bridged"
    (task,) = await line.rows("SELECT status, close_reason, closed_by FROM hotline_callbacks")
    assert task == {
        "status": "closed",
        "close_reason": "an operator talked to the caller",
        "closed_by": f"operator:{operator_id}",
    }
    await leg.hang_up()
    line.clock.advance(timedelta(minutes=5))
    assert await line.hotline.run_due_callbacks() == 0


async def test_withheld_numbers_are_logged_but_cannot_be_called_back(
    start_line: StartLine,
) -> None:
    line = await start_line()
    call = await line.sim.incoming("anonymous")
    await call.hang_up()
    assert (await line.call_row(call.sid))["outcome"] == "abandoned"
    assert await line.rows("SELECT * FROM hotline_callbacks") == []


async def test_a_callback_whose_status_never_arrives_is_tried_again(start_line: StartLine) -> None:
    line = await start_line()
    call = await line.sim.incoming(CALLER)
    await call.press("3")
    await call.hang_up()
    line.clock.advance(timedelta(minutes=2))
    assert await line.hotline.run_due_callbacks() == 1
    (lost,) = line.sim.placed_calls()  # Twilio never reports how this call ended

    line.clock.advance(timedelta(minutes=14))
    assert await line.hotline.run_due_callbacks() == 0
    (task,) = await line.rows("SELECT status FROM hotline_callbacks")
    assert task["status"] == "calling"  # still waiting for Twilio's word

    line.clock.advance(timedelta(minutes=2))  # past callback_silent_after_min (15)
    assert await line.hotline.run_due_callbacks() == 0  # settled; the retry is 10 minutes out
    (attempt,) = await line.rows("SELECT call_sid, outcome FROM hotline_callback_attempts")
    assert attempt == {"call_sid": lost.sid, "outcome": "no-status"}
    line.clock.advance(timedelta(minutes=10))
    assert await line.hotline.run_due_callbacks() == 1
    (retry,) = line.sim.placed_calls()
    assert retry.sid != lost.sid
    (task,) = await line.rows("SELECT status, attempts FROM hotline_callbacks")
    assert task == {"status": "calling", "attempts": 2}


async def test_every_spoken_text_uses_the_configured_voice(start_line: StartLine) -> None:
    line = await start_line(voice="Google.vi-VN-Wavenet-B")
    call = await line.sim.incoming(CALLER)
    await call.press("2")
    status, body = await line.sim.post(PUBLIC_URL + "/twilio/voice/menu", call.params(Digits="9"))
    assert status == 200
    voices = set(re.findall(r'voice="([^"]+)"', body))
    assert voices == {"Google.vi-VN-Wavenet-B"}
