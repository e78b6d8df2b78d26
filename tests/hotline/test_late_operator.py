"""An operator who accepts after the caller is gone hears what happened to the caller."""

from __future__ import annotations

from tests.hotline.conftest import CALLER, StartLine

TAKEN = "đã được nhân viên khác nhận"
LEFT = "Người gọi đã gác máy hoặc rời hàng chờ"


async def test_the_caller_hung_up_before_the_operator_accepted(start_line: StartLine) -> None:
    line = await start_line()
    await line.add_operator()
    call = await line.sim.incoming(CALLER)
    await call.press("3")
    (leg,) = line.sim.placed_calls()
    await call.hang_up()
    await leg.answer()
    await leg.press("1")
    assert LEFT in leg.transcript
    assert TAKEN not in leg.transcript
    assert leg.state == "ended"


async def test_the_caller_chose_a_callback_before_the_operator_accepted(
    start_line: StartLine,
) -> None:
    line = await start_line()
    await line.add_operator()
    call = await line.sim.incoming(CALLER)
    await call.press("3")
    (leg,) = line.sim.placed_calls()
    await call.press("1")
    await leg.answer()
    await leg.press("1")
    assert LEFT in leg.transcript
    assert TAKEN not in leg.transcript


async def test_a_caller_another_operator_took(start_line: StartLine) -> None:
    line = await start_line(operator_answer_timeout_s=600.0)
    await line.add_operator("Lan", "+84914000001")
    call = await line.sim.incoming(CALLER)
    await call.press("3")
    (lan,) = line.sim.placed_calls()
    await line.add_operator("Minh", "+84914000002")
    await call.wait(200)  # Lan's ring went quiet long ago: Minh is rung too
    (minh,) = line.sim.placed_calls()
    await minh.answer()
    await minh.press("1")
    assert call.state == "bridged"
    await lan.answer()
    await lan.press("1")
    assert TAKEN in lan.transcript
    assert LEFT not in lan.transcript
