"""The staff API: call log and figures, CSV, callback tasks, the roster, rescue requests."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from tests.conftest import StaffFactory
from tests.hotline.conftest import CALLER, StartLine


async def test_call_log_filters_figures_and_csv(start_line: StartLine, staff: StaffFactory) -> None:
    line = await start_line()
    await line.add_operator()
    answered = await line.sim.incoming(CALLER)
    await answered.press("3")
    (leg,) = line.sim.placed_calls()
    line.clock.advance(timedelta(seconds=10))
    await leg.answer()
    await leg.press("1")
    await leg.hang_up()
    abandoned = await line.sim.incoming("+84905000009")
    await abandoned.press("3")
    await abandoned.hang_up()

    lan = await staff(line.client, "lan", roles=["operator"])
    response = await lan.get("/api/v1/hotline/calls", params={"kind": "inbound"})
    assert response.status == 200
    calls = (await response.json())["calls"]
    assert {c["sid"] for c in calls} == {answered.sid, abandoned.sid}
    response = await lan.get("/api/v1/hotline/calls", params={"number": "+84905000009"})
    assert [c["sid"] for c in (await response.json())["calls"]] == [abandoned.sid]

    response = await lan.get("/api/v1/hotline/figures", params={"days": "1"})
    total = (await response.json())["total"]
    assert total["calls"] == 2
    assert total["queued"] == 2
    assert total["operator_within_15s"] == 0.5  # one bridged after 10 s, one abandoned
    assert total["abandonment_rate"] == 0.5

    response = await lan.get("/api/v1/hotline/calls.csv", params={"kind": "inbound"})
    assert response.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(await response.text())))
    assert {r["sid"]: r["outcome"] for r in rows} == {
        answered.sid: "handled",
        abandoned.sid: "abandoned",
    }
    assert rows[0]["received_at_local"].endswith("+07:00")

    assert (await line.client.get("/api/v1/hotline/calls")).status == 401
    issuer = await staff(line.client, "hoa", roles=["issuer"])
    assert (await issuer.get("/api/v1/hotline/calls")).status == 403


async def test_operators_start_and_close_callbacks_audited(
    start_line: StartLine, staff: StaffFactory
) -> None:
    line = await start_line()
    call = await line.sim.incoming(CALLER)
    await call.hang_up()
    lan = await staff(line.client, "lan", roles=["operator"])
    (task,) = (await (await lan.get("/api/v1/hotline/callbacks")).json())["callbacks"]
    response = await lan.post(f"/api/v1/hotline/callbacks/{task['id']}/start")
    assert response.status == 200
    assert (await response.json())["status"] == "calling"
    (placed,) = line.sim.placed_calls()
    assert placed.callee == CALLER  # at once, not two minutes later
    await placed.ring_out("no-answer")
    response = await lan.post(
        f"/api/v1/hotline/callbacks/{task['id']}/close", json={"reason": "reached by SMS"}
    )
    assert (await response.json())["status"] == "closed"
    again = await lan.post(f"/api/v1/hotline/callbacks/{task['id']}/close", json={"reason": "x"})
    assert again.status == 409
    audit = await line.rows(
        "SELECT actor, action FROM audit_log WHERE entity = 'callback_task' ORDER BY id"
    )
    assert audit == [
        {"actor": "user:lan", "action": "callback.start"},
        {"actor": "user:lan", "action": "callback.close"},
    ]
    (listed,) = (await (await lan.get("/api/v1/hotline/callbacks")).json())["callbacks"]
    assert [a["outcome"] for a in listed["attempts_log"]] == ["no-answer"]


async def test_roster_is_admin_only_and_audited(start_line: StartLine, staff: StaffFactory) -> None:
    line = await start_line()
    boss = await staff(line.client, "boss", roles=["admin"])
    lan = await staff(line.client, "lan", roles=["operator"])
    body = {"name": "Lan", "phone": "+84914000001", "shift_start": "22:00", "shift_end": "06:00"}
    assert (await lan.post("/api/v1/hotline/operators", json=body)).status == 403
    response = await boss.post("/api/v1/hotline/operators", json=body)
    assert response.status == 201
    created = await response.json()
    assert created["shift_start"] == "22:00"
    assert created["active"] is True
    bad = await boss.post("/api/v1/hotline/operators", json={**body, "shift_end": "25:00"})
    assert bad.status == 400
    duplicate = await boss.post("/api/v1/hotline/operators", json=body)
    assert duplicate.status == 409
    update = {**body, "shift_start": "07:00", "shift_end": "19:00"}
    response = await boss.put(f"/api/v1/hotline/operators/{created['id']}", json=update)
    assert (await response.json())["shift_start"] == "07:00"
    response = await boss.delete(f"/api/v1/hotline/operators/{created['id']}")
    assert response.status == 204
    (listed,) = (await (await lan.get("/api/v1/hotline/operators")).json())["operators"]
    assert listed["active"] is False
    actions = [
        r["action"]
        for r in await line.rows(
            "SELECT action FROM audit_log WHERE entity = 'hotline_operator' ORDER BY id"
        )
    ]
    assert actions == ["operator.create", "operator.update", "operator.deactivate"]


async def test_rescue_requests_are_listed_and_move_forward_only(
    start_line: StartLine, staff: StaffFactory
) -> None:
    line = await start_line()
    await line.sim.sms(CALLER, "SOS 7 Đinh Tiên Hoàng")
    dispatcher = await staff(line.client, "minh", roles=["dispatcher"])
    (request,) = (await (await dispatcher.get("/api/v1/dispatch/requests")).json())[
        "rescue_requests"
    ]
    assert request["address"] == "7 Đinh Tiên Hoàng"
    assert request["state"] == "new"
    path = f"/api/v1/dispatch/requests/{request['id']}"
    response = await dispatcher.post(f"{path}/state", json={"state": "triaged"})
    assert (await response.json())["state"] == "triaged"
    backwards = await dispatcher.post(f"{path}/state", json={"state": "new"})
    assert backwards.status == 409
    assert (await backwards.json())["error"]["allowed"] == [
        "offered",
        "cancelled",
        "unfounded",
        "duplicate",
    ]
    assert (await dispatcher.get("/api/v1/dispatch/requests/999")).status == 404


async def test_metrics_show_callbacks_calls_and_new_rescue_requests(start_line: StartLine) -> None:
    line = await start_line()
    call = await line.sim.incoming(CALLER)
    await call.press("3")
    await call.hang_up()  # abandoned in the queue: a callback task
    status, _ = await line.sim.sms(CALLER, "SOS kiệt 5 Chi Lăng, nước ngập tới mái")
    assert status == 200

    text = await (await line.client.get("/metrics")).text()
    assert 'hotline_callbacks{status="open"} 1.0' in text
    assert 'hotline_callbacks{status="exhausted"} 0.0' in text
    assert 'hotline_calls_24h{kind="inbound",status="completed"} 1.0' in text
    assert 'dispatch_requests{state="new"} 1.0' in text


async def test_roster_update_to_a_taken_phone_is_409_and_unknown_is_404(
    start_line: StartLine, staff: StaffFactory
) -> None:
    line = await start_line()
    boss = await staff(line.client, "boss", roles=["admin"])
    first = {"name": "Lan", "phone": "+84914000001", "shift_start": "07:00", "shift_end": "19:00"}
    second = {**first, "name": "Minh", "phone": "+84914000002"}
    await boss.post("/api/v1/hotline/operators", json=first)
    created = await (await boss.post("/api/v1/hotline/operators", json=second)).json()
    taken = await boss.put(f"/api/v1/hotline/operators/{created['id']}", json=first)
    assert taken.status == 409
    missing = await boss.put("/api/v1/hotline/operators/999", json=second)
    assert missing.status == 404
    gone = await boss.delete("/api/v1/hotline/operators/999")
    assert gone.status == 404
    actions = await line.rows("SELECT action FROM audit_log WHERE entity = 'hotline_operator'")
    assert [r["action"] for r in actions] == ["operator.create", "operator.create"]
