"""Nobody on duty: callers are not told they are next; they hear 114/115 for a life in danger
and are offered a callback or voicemail at once."""

from __future__ import annotations

from datetime import timedelta

from tests.hotline.conftest import CALLER, StartLine

EMERGENCY = "gọi ngay một một bốn"


async def test_nobody_on_duty_offers_voicemail_and_callback_at_once(
    start_line: StartLine,
) -> None:
    line = await start_line()
    call = await line.sim.incoming(CALLER)
    await call.press("3")
    text = call.transcript
    assert "người tiếp theo" not in text
    assert "Thời gian chờ dự kiến" not in text
    assert "chuyển quý vị tới nhân viên" not in text
    assert "Hiện không có nhân viên trực tổng đài" in text
    assert EMERGENCY in text
    assert "một một lăm" in text
    offer = text[text.index("Hiện không có nhân viên trực") :]
    assert offer.index(EMERGENCY) < offer.index("bấm phím 1")  # the danger first
    await call.silence()  # no choice: a message is taken, without waiting for anyone
    assert "Xin để lại lời nhắn sau tiếng bíp" in call.transcript
    await call.record(seconds=10)
    (task,) = await line.rows("SELECT reason FROM hotline_callbacks")
    assert task == {"reason": "voicemail"}


async def test_an_operator_off_shift_is_nobody_on_duty(start_line: StartLine) -> None:
    line = await start_line()
    # The clock fixture reads 10:00 in Huế: outside a shift of 03:00 to 03:01.
    await line.add_operator(start="03:00", end="03:01")
    call = await line.sim.incoming(CALLER)
    await call.press("3")
    assert "Hiện không có nhân viên trực tổng đài" in call.transcript
    await call.press("1")
    assert "Nhân viên sẽ gọi lại cho quý vị sớm nhất" in call.transcript
    (task,) = await line.rows("SELECT reason FROM hotline_callbacks")
    assert task == {"reason": "requested"}


async def test_with_someone_on_duty_the_caller_hears_their_place(start_line: StartLine) -> None:
    line = await start_line()
    await line.add_operator()
    call = await line.sim.incoming(CALLER)
    await call.press("3")
    assert "Quý vị là người tiếp theo" in call.transcript
    assert "Hiện không có nhân viên trực" not in call.transcript


async def test_a_rescue_request_with_nobody_on_duty_hears_of_114_and_115(
    start_line: StartLine,
) -> None:
    line = await start_line()
    call = await line.sim.incoming(CALLER)
    await call.press("1")
    await call.speak("thôn La Chữ")
    await call.silence()
    await call.press("2#")
    await call.press("#")
    assert "Yêu cầu cứu hộ của quý vị đã được ghi nhận" in call.transcript
    assert EMERGENCY in call.transcript
    assert call.state == "ended"


async def test_a_person_called_back_with_nobody_on_duty_is_not_told_first_in_line(
    start_line: StartLine,
) -> None:
    line = await start_line()
    call = await line.sim.incoming(CALLER)
    await call.hang_up()
    line.clock.advance(timedelta(minutes=2))
    assert await line.hotline.run_due_callbacks() == 1
    (back,) = line.sim.placed_calls()
    await back.answer()
    text = back.transcript
    assert "gọi lại cho quý vị" in text
    assert "ưu tiên" not in text
    assert "Hiện không có nhân viên trực tổng đài" in text
    assert EMERGENCY in text
