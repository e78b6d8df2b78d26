"""The staff live stream through the real app: frames, roles, resuming, other processes, limits."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from canhbao.adapters.stream import HUB, RECORDER
from canhbao.audit import record_audit
from canhbao.clock import ManualClock, SystemClock
from canhbao.db import Database
from canhbao.stream import StreamEvent, StreamHub, StreamRecorder, StreamSettings, Subscription
from canhbao.stream_store import MIGRATIONS
from tests.alerting.test_workflow import draft, step
from tests.conftest import AppClient, StaffFactory, StaffLogin, make_config
from tests.dispatch.conftest import CALLER, HUE
from tests.geofences.conftest import load_hue
from tests.sse import STREAM, SseReader

RESCUE = {"caller": CALLER, **HUE, "people": 2, "water": "roof", "address": "kiệt 5 Chi Lăng"}


async def open_stream(user: StaffLogin, **headers: str) -> SseReader:
    response = await user.get(STREAM, headers=headers)
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("text/event-stream")
    reader = SseReader(response)
    # The stream is registered with the hub once its first comment arrives.
    await reader.response.content.readline()
    await reader.response.content.readline()
    return reader


async def rescue(user: StaffLogin) -> dict[str, Any]:
    response = await user.post("/api/v1/dispatch/requests", json=RESCUE)
    assert response.status == 201, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def test_a_draft_reaches_issuers_and_approvers_and_a_rescue_reaches_dispatch_only(
    app_client: AppClient, staff: StaffFactory
) -> None:
    client = await app_client()
    await load_hue(client)
    lan = await staff(client, "lan", roles=["issuer"])
    minh = await staff(client, "minh", roles=["approver"])
    tuan = await staff(client, "tuan", roles=["operator"])
    boss = await staff(client, "boss", roles=["admin"])
    streams = {
        name: await open_stream(user)
        for name, user in (("lan", lan), ("minh", minh), ("tuan", tuan), ("boss", boss))
    }

    created = await draft(lan)
    for name in ("lan", "minh", "boss"):
        frame = await streams[name].until("alert.drafted")
        assert frame.data["identifier"] == created["identifier"]
        assert frame.data["actor"] == "user:lan"
        assert frame.data["state"] == "draft"
        assert frame.id is not None
    request = await rescue(tuan)
    # The operator's first event is the rescue request: the draft was never sent to them.
    before = await streams["tuan"].through("rescue.created")
    assert not [f for f in before if f.event.startswith("alert.")]
    first = before[-1]
    assert first.data["request_id"] == request["id"]
    assert first.data["number"] == request["number"]
    assert first.data["priority"] == "high"
    assert "phones" not in first.data
    assert "caller" not in first.data
    # The issuer sees the submit, and nothing of the rescue request before it.
    await step(lan, created["identifier"], "submit")
    seen = [f.event for f in await streams["lan"].through("alert.submitted")]
    assert not [e for e in seen if e.startswith("rescue.")]
    # Admin sees both (and the escalation: no team is registered to take the request).
    await streams["boss"].until("rescue.created")
    assert (await streams["boss"].until("alert.submitted")).data["state"] == "submitted"


async def test_ids_increase_and_resuming_replays_what_was_missed_once(
    app_client: AppClient, staff: StaffFactory
) -> None:
    client = await app_client()
    tuan = await staff(client, "tuan", roles=["operator"])
    first_stream = await open_stream(tuan)
    one = await rescue(tuan)
    seen = await first_stream.until("rescue.created")
    first_stream.response.close()
    # Missed while away: two more requests.
    two, three = await rescue(tuan), await rescue(tuan)
    again = await open_stream(tuan, **{"Last-Event-ID": str(seen.id)})
    replayed = [await again.until("rescue.created") for _ in range(2)]
    assert [f.data["request_id"] for f in replayed] == [two["id"], three["id"]]
    assert seen.id is not None
    assert seen.id < (replayed[0].id or 0) < (replayed[1].id or 0)
    # Then live, with nothing repeated.
    four = await rescue(tuan)
    live = await again.until("rescue.created")
    assert live.data["request_id"] == four["id"]
    assert one["id"] != four["id"]
    # The query parameter works the same (the header wins when both are sent).
    by_query = await tuan.get(f"{STREAM}?last_event_id={seen.id}")
    reader = SseReader(by_query)
    assert (await reader.until("rescue.created")).data["request_id"] == two["id"]


async def test_events_stored_by_another_process_reach_the_stream(
    app_client: AppClient, staff: StaffFactory, config: Any
) -> None:
    client = await app_client()
    boss = await staff(client, "boss", roles=["admin"])
    stream = await open_stream(boss)
    # Another process (serve's sender, the CLI) has its own connection and never wakes ours.
    other = Database(config.resolve(config.database.path))
    await other.open()
    try:
        async with other.transaction() as conn:
            await record_audit(
                conn,
                at=datetime.now(UTC),
                actor="system:dispatch",
                action="rescue_request.escalate",
                entity="rescue_request",
                entity_id="7",
                before=None,
                after={"failed_offers": 3, "reason": "no team left"},
            )
    finally:
        await other.close()
    frame = await stream.until("rescue.escalated")
    assert frame.data["request_id"] == 7
    assert frame.data["reason"] == "no team left"
    assert frame.data["actor"] == "system:dispatch"


@pytest.mark.parametrize(
    ("header", "status"), [("abc", 400), ("-1", 400), ("١٢", 400), ("9" * 40, 400)]
)
async def test_a_bad_last_event_id_is_a_400(
    app_client: AppClient, staff: StaffFactory, header: str, status: int
) -> None:
    client = await app_client()
    tuan = await staff(client, "tuan", roles=["operator"])
    response = await tuan.get(STREAM, headers={"Last-Event-ID": header})
    assert response.status == status
    assert (await response.json())["error"]["code"] == "invalid_last_event_id"


async def test_who_may_open_the_stream(
    app_client: AppClient, staff: StaffFactory, bearer: Any
) -> None:
    client = await app_client()
    assert (await client.get(STREAM)).status == 401
    gauge = await bearer(client, roles=["gauge"])
    assert (await client.get(STREAM, headers=gauge)).status == 403
    dispatcher = await bearer(client, roles=["dispatcher"], name="wall screen")
    response = await client.get(STREAM, headers=dispatcher)
    assert response.status == 200
    response.close()
    bad = await client.get(f"{STREAM}?last_event_id=x", headers=dispatcher)
    assert bad.status == 422


async def test_a_quiet_stream_gets_keep_alive_comments(
    app_client: AppClient, staff: StaffFactory, tmp_path: Path
) -> None:
    config = make_config(tmp_path, {"stream": {"keepalive_s": 0.05}})
    client = await app_client(config=config)
    tuan = await staff(client, "tuan", roles=["operator"])
    stream = await open_stream(tuan)
    line = await asyncio.wait_for(stream.response.content.readline(), 10)
    assert line == b": keep-alive\n"


async def test_shutdown_ends_open_streams_at_once(
    app_client: AppClient, staff: StaffFactory
) -> None:
    client = await app_client()
    tuan = await staff(client, "tuan", roles=["operator"])
    stream = await open_stream(tuan)
    app = client.app
    assert app is not None
    assert app[HUB].connected == 1
    # What aiohttp runs first on SIGTERM, before it waits for open requests.
    for hook in app.on_shutdown:
        await hook(app)
    assert await asyncio.wait_for(stream.response.content.read(), 10) == b""


async def test_a_slow_console_is_dropped_and_the_others_keep_receiving(tmp_path: Path) -> None:
    settings = StreamSettings(client_queue=3)
    db = Database(tmp_path / "stream.sqlite3")
    await db.open()
    try:
        await db.migrate(MIGRATIONS)
        hub = StreamHub(db, SystemClock(), settings)
        await hub.start()
        recorder = StreamRecorder(db, SystemClock(), settings)
        slow, quick = hub.subscribe(frozenset({"operator"})), hub.subscribe(frozenset({"admin"}))
        closed: list[Subscription] = []
        slow.on_drop = lambda: closed.append(slow)
        received: list[bytes] = []
        for n in range(10):
            recorder.emit(StreamEvent("rescue.created", frozenset({"operator"}), {"n": n}))
            await recorder.flush()
            await hub._tail()
            frame = quick.queue.get_nowait()
            assert frame is not None
            received.append(frame)
        assert slow.dropped
        assert closed == [slow]
        assert slow.queue.get_nowait() is None  # its stream ends; it resumes with Last-Event-ID
        assert len(received) == 10
    finally:
        await db.close()


async def test_the_stream_under_the_real_clock_carries_sub_second_utc_times(
    app_client: AppClient, staff: StaffFactory
) -> None:
    client = await app_client(clock=SystemClock())  # type: ignore[arg-type]  # the real one
    tuan = await staff(client, "tuan", roles=["operator"])
    stream = await open_stream(tuan)
    request = await rescue(tuan)
    frame = await stream.until("rescue.created")
    assert frame.data["request_id"] == request["id"]
    at = datetime.fromisoformat(frame.data["at"])
    assert at.utcoffset() == timedelta(0)
    assert abs((datetime.now(UTC) - at).total_seconds()) < 60


async def test_old_events_are_pruned_and_a_console_that_missed_them_is_told_to_reload(
    app_client: AppClient, staff: StaffFactory, clock: ManualClock
) -> None:
    client = await app_client()
    app = client.app
    assert app is not None
    tuan = await staff(client, "tuan", roles=["operator"])
    stream = await open_stream(tuan)
    await rescue(tuan)
    gone = await stream.until("rescue.created")
    stream.response.close()
    clock.advance(timedelta(hours=49))
    tuan = await staff(client, "tuan2", roles=["operator"])
    await rescue(tuan)
    await app[RECORDER].flush()
    assert await app[HUB].prune() >= 1
    again = await open_stream(tuan, **{"Last-Event-ID": str((gone.id or 0) - 1)})
    reset = await again.next()
    assert reset.event == "stream.reset"
    await again.until("rescue.created")
