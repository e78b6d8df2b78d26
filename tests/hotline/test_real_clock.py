"""The hotline's time-dependent paths on the system clock: sub-second times in UTC, read in
Asia/Ho_Chi_Minh, where a whole-second fake clock would hide an ordering or rounding bug."""

from __future__ import annotations

from canhbao.clock import parse_utc
from tests.hotline.conftest import CALLER, StartLine


async def test_a_kept_callback_placed_answered_and_reached(start_line: StartLine) -> None:
    line = await start_line(real_clock=True)
    await line.add_operator()  # 00:00 to 00:00: on duty round the clock
    first = await line.sim.incoming(CALLER)
    await first.hang_up()
    (task,) = await line.rows(
        "SELECT id, status, next_attempt_at, created_at FROM hotline_callbacks"
    )
    assert task["status"] == "open"
    assert parse_utc(task["next_attempt_at"]) > parse_utc(task["created_at"])
    assert await line.hotline.run_due_callbacks() == 0  # due in two minutes, not now

    again = await line.sim.incoming(CALLER)  # a new call keeps the promise
    await again.press("2")
    await again.silence()
    assert (await line.rows("SELECT status FROM hotline_callbacks"))[0]["status"] == "open"

    started = await line.hotline.start_task(task["id"], "user:lan")  # staff start it now
    assert started.status == "calling"
    (back,) = line.sim.placed_calls()
    await back.answer()
    assert back.state == "queued"
    (leg,) = line.sim.placed_calls()
    await leg.answer()
    await leg.press("1")
    assert back.state == "bridged"
    (task,) = await line.rows("SELECT status, attempts FROM hotline_callbacks")
    assert task == {"status": "reached", "attempts": 1}
    await leg.hang_up()
    row = await line.call_row(back.sid)
    assert row["outcome"] == "handled"
    assert parse_utc(row["dequeued_at"]) >= parse_utc(row["enqueued_at"])


async def test_a_late_operator_on_the_real_clock(start_line: StartLine) -> None:
    line = await start_line(real_clock=True)
    await line.add_operator()
    call = await line.sim.incoming(CALLER)
    await call.press("3")
    (leg,) = line.sim.placed_calls()
    await call.hang_up()  # microseconds after the operator was rung
    await leg.answer()
    await leg.press("1")
    assert "Người gọi đã gác máy hoặc rời hàng chờ" in leg.transcript


async def test_metrics_count_the_last_day_on_the_real_clock(start_line: StartLine) -> None:
    line = await start_line(real_clock=True)
    call = await line.sim.incoming(CALLER)
    await call.press("3")  # nobody on duty: the way out at once
    await call.hang_up()
    text = await (await line.client.get("/metrics")).text()
    assert 'hotline_calls_24h{kind="inbound",status="completed"} 1.0' in text
    assert 'hotline_callbacks{status="open"} 1.0' in text
