"""Each source of the live stream, driven through the real app: the hotline's calls, a
warning's delivery, components' health, operators, and the whole two-person workflow."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import shapely

from canhbao import keys
from geofences.keys import GEOFENCES
from tests.alerting.test_delivery import INSIDE_SQUARE, body
from tests.alerting.test_workflow import draft, issue, step
from tests.cameras.conftest import RigFactory, black_frame, camera_entry, jpeg, scene
from tests.conftest import AppClient, StaffFactory, StaffLogin, make_config
from tests.geofences.conftest import Register, load_hue
from tests.hotline.conftest import StartLine
from tests.sse import STREAM, SseReader

CALLER = "+84905123456"


async def open_stream(user: StaffLogin) -> SseReader:
    response = await user.get(STREAM)
    assert response.status == 200, await response.text()
    reader = SseReader(response)
    await response.content.readline()  # ": stream open", once registered with the hub
    await response.content.readline()
    return reader


async def test_a_call_is_seen_entering_the_menu_the_queue_and_leaving(
    app_client: AppClient, staff: StaffFactory
) -> None:
    client = await app_client()
    tuan = await staff(client, "tuan", roles=["operator"])
    lan = await staff(client, "lan", roles=["issuer"])
    stream, issuer_stream = await open_stream(tuan), await open_stream(lan)
    started = await (await tuan.post("/api/v1/simulator/calls", json={"from": CALLER})).json()
    sid = started["call_sid"]
    menu = await stream.until("call.menu")
    assert (menu.data["call_sid"], menu.data["caller"]) == (sid, CALLER)
    await tuan.post(f"/api/v1/simulator/calls/{sid}/digits", json={"digits": "3"})
    queued = await stream.until("call.queued")
    assert queued.data["call_sid"] == sid
    waiting = await stream.until("call.queued")
    assert waiting.data["queue_position"] == 1
    assert waiting.data["wait_s"] == 0
    await tuan.post(f"/api/v1/simulator/calls/{sid}/hangup")
    left = await stream.until("call.left")
    assert left.data["call_sid"] == sid
    assert left.data["status"] == "hangup"
    # Calls are the hotline's: an issuer's first event is its own draft, not a call.
    await load_hue(client)
    await draft(lan)
    seen = [f.event for f in await issuer_stream.through("alert.drafted")]
    assert not [e for e in seen if e.startswith("call.")]


async def test_a_warning_is_followed_from_draft_to_delivered(
    app_client: AppClient, staff: StaffFactory, register: Register
) -> None:
    client = await app_client()
    app = client.app
    assert app is not None
    await load_hue(client)
    registry = app[GEOFENCES]
    kim_tra = registry.catalog.geometry[registry.catalog.by_code["hue.kim-tra"].id]
    inside = shapely.get_coordinates(kim_tra.representative_point())[0].tolist()
    await register(client, at=tuple(inside))
    await register(client, at=INSIDE_SQUARE, language="en")
    lan = await staff(client, "lan", roles=["issuer"])
    minh = await staff(client, "minh", roles=["approver"])
    stream = await open_stream(minh)
    created = await lan.post("/api/v1/alerts", json=body("2099-01-01T00:00:00+00:00"))
    assert created.status == 201, await created.text()
    identifier = (await created.json())["identifier"]
    issued = await issue(lan, minh, identifier)
    planned = sum(issued["plan"]["messages"].values())
    seen = [f for f in await stream.through("alert.issued") if f.event.startswith("alert.")]
    assert [f.event for f in seen] == [
        "alert.drafted",
        "alert.submitted",
        "alert.approved",
        "alert.issued",
    ]
    assert {f.data["identifier"] for f in seen} == {identifier}
    assert seen[3].data["msg_type"] == "Alert"
    assert seen[3].data["actor"] == "user:minh"
    while True:
        progress = await stream.until("delivery.progress", 30)
        assert progress.data["identifier"] == identifier
        if progress.data["pending"] == 0:
            break
    assert progress.data["sent"] == progress.data["targeted"] == planned
    assert progress.data["failed"] == 0


async def test_a_rejection_and_an_operator_change_carry_their_reason_and_actor(
    app_client: AppClient, staff: StaffFactory
) -> None:
    client = await app_client()
    await load_hue(client)
    lan = await staff(client, "lan", roles=["issuer"])
    minh = await staff(client, "minh", roles=["approver"])
    boss = await staff(client, "boss", roles=["admin"])
    stream = await open_stream(boss)
    created = await draft(lan)
    await step(lan, created["identifier"], "submit")
    await step(minh, created["identifier"], "reject", comment="Sai tên trạm")
    rejected = await stream.until("alert.rejected")
    assert rejected.data["comment"] == "Sai tên trạm"
    assert rejected.data["actor"] == "user:minh"
    operator = {"name": "Lan", "phone": "+84914000001", "shift_start": "22:00"}
    operator["shift_end"] = "06:00"
    response = await boss.post("/api/v1/hotline/operators", json=operator)
    assert response.status == 201
    changed = await stream.until("operator.changed")
    assert changed.data["action"] == "create"
    assert changed.data["name"] == "Lan"
    assert "phone" not in changed.data


async def test_a_component_failing_and_recovering_is_seen(
    app_client: AppClient, staff: StaffFactory, tmp_path: Path
) -> None:
    config = make_config(tmp_path, {"stream": {"delivery_interval_s": 0.05}})
    client = await app_client(config=config)
    app = client.app
    assert app is not None
    tuan = await staff(client, "tuan", roles=["dispatcher"])
    stream = await open_stream(tuan)
    health = app[keys.HEALTH]
    # A component first heard of is news when it is not ok.
    health.report("feeds.vndms", "failing", "HTTP 503 from upstream", critical=False)
    failing = await stream.until("source.health")
    assert failing.data["component"] == "feeds.vndms"
    assert failing.data["status"] == "failing"
    health.report("feeds.vndms", "ok", "", critical=False)
    recovered = await stream.until("source.health")
    assert (recovered.data["component"], recovered.data["status"]) == ("feeds.vndms", "ok")


async def test_callbacks_that_ran_out_are_seen_by_operators(
    start_line: StartLine, staff: StaffFactory
) -> None:
    line = await start_line(callback_delays_min=[1.0])
    tuan = await staff(line.client, "tuan", roles=["operator"])
    stream = await open_stream(tuan)
    call = await line.sim.incoming(CALLER)
    await call.press("3")
    await call.hang_up()
    line.clock.advance(timedelta(minutes=1))
    assert await line.hotline.run_due_callbacks() == 1
    (attempt,) = line.sim.placed_calls()
    await attempt.ring_out("busy")
    exhausted = await stream.until("callback.exhausted")
    assert exhausted.data["status"] == "exhausted"
    assert exhausted.data["actor"] == "system:hotline"


async def test_a_camera_turning_dark_and_back_is_seen(
    rig: RigFactory, staff: StaffFactory, tmp_path: Path
) -> None:
    r = await rig([camera_entry("kl1", "/snap.jpg")])
    tuan = await staff(r.client, "tuan", roles=["dispatcher"])
    stream = await open_stream(tuan)
    r.camera.still("/snap.jpg", black_frame())
    assert await r.poll("kl1") == "stored"
    dark = await stream.until("camera.flagged")
    assert dark.data == {**dark.data, "camera_id": "kl1", "flags": ["dark", "uniform"]}
    r.camera.still("/snap.jpg", jpeg(scene()))
    assert await r.poll("kl1") == "stored"
    cleared = await stream.until("camera.flagged")
    assert cleared.data["flags"] == []
