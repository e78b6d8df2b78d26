"""Auto-drafts: the November 2025 replay through the real pipeline, the chain BĐ II → III → II →
below as a duty officer would write it, withdrawal of drafts nobody issued, stations from the
API, and the station's facts quoted from the threshold event."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from alerting import store
from alerting.keys import ALERTING, AUTO_DRAFTER
from alerting.store import StoredAlert
from canhbao import keys
from canhbao.audit import list_audit
from canhbao.clock import ManualClock
from feeds.models import Thresholds
from feeds.sources import replay
from feeds.thresholds import THRESHOLD_CROSSED, EventKind, ThresholdEvent
from tests.conftest import AppClient, BearerFactory, StaffFactory, make_config
from tests.feeds.conftest import REPLAY_CSV, feeds_config, runtime, station
from tests.geofences.conftest import load_hue

START = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
HAZARD = "river:71518"
PHU_OC = Thresholds(1.5, 3.0, 4.5, 5.31)
Client = TestClient[web.Request, web.Application]


async def test_replay_drafts_alert_then_update_then_all_clear_without_duplicates(
    app_client: AppClient, tmp_path: Path
) -> None:
    clock = ManualClock(START)
    config = feeds_config(
        tmp_path, {"replay": {"enabled": True, "path": str(REPLAY_CSV), "speed": 3600.0}}
    )
    client = await app_client(config=config, clock=clock)
    assert client.app is not None
    await load_hue(client)
    workflow = client.app[ALERTING]
    db = client.app[keys.DB]
    events: list[ThresholdEvent] = []

    async def hear(event: ThresholdEvent) -> None:
        events.append(event)

    client.app[keys.BUS].subscribe(ThresholdEvent, hear)
    poller = runtime(client).pollers["replay"]
    assert isinstance(poller.source, replay.ReplaySource)
    drafts: list[StoredAlert] = []
    while not poller.source.finished:
        report = await poller.poll()
        assert report is not None, poller.state.last_error
        # The drafter hears threshold events from the durable log, after the commit.
        await client.app[keys.EVENTS].settled()
        for draft in await store.list_alerts(db, ["draft"], hazard=HAZARD):
            drafts.append(draft)
            # Two people issue each draft as it comes, as the committee would.
            submitted = await workflow.submit(draft.identifier, "user:lan", version=draft.version)
            approved = await workflow.approve(
                draft.identifier, "user:minh", version=submitted.version
            )
            await workflow.issue(draft.identifier, "user:minh", version=approved.version)
        clock.advance(timedelta(seconds=1))

    kinds = [
        (d.alert.msg_type, d.alert.infos[0].parameter("bao_dong"), d.alert.infos[0].event)
        for d in drafts
    ]
    assert kinds == [
        ("Alert", "II", "Lũ trên sông"),
        ("Update", "III", "Lũ trên sông"),
        ("Update", "II", "Lũ trên sông"),  # falling back into BĐ II: an Update, not a new alert
        ("Update", "I", "Hết cảnh báo"),  # below BĐ II: all clear
        # The second wave of late November: after an all-clear, a new warning and its own end.
        ("Alert", "II", "Lũ trên sông"),
        ("Update", "I", "Hết cảnh báo"),
    ]
    first = drafts[0]
    assert first.author == "system:auto"
    vi = first.alert.info("vi-VN")
    assert vi is not None
    # Quoted from the event (the feeds domain's stored station), not from config.toml.
    name = events[0].station_name or events[0].station_id
    assert name in vi.headline
    assert vi.headline.endswith("vượt báo động cấp hai")
    assert vi.areas[0].ward_codes == ("hue.huong-tra", "hue.kim-tra", "hue.quang-dien")
    assert "{" not in vi.description
    falling = drafts[2].alert.info("vi-VN")
    assert falling is not None
    assert "đang xuống" in falling.headline
    assert "vượt" not in falling.headline + falling.description
    first_wave = drafts[:4]
    for earlier, later in itertools.pairwise(first_wave):
        assert later.chain == first.identifier
        assert later.alert.references[-1].identifier == earlier.identifier
    assert [r.identifier for r in drafts[3].alert.references] == [
        d.identifier for d in first_wave[:3]
    ]
    assert drafts[4].chain == drafts[4].identifier != first.identifier
    all_clear = drafts[3].alert.info("en-US")
    assert all_clear is not None
    assert all_clear.headline.startswith("All clear: ")
    assert all_clear.headline.endswith("below alarm level 2")
    assert all_clear.response_types == ("AllClear",)

    # The same events again (a duplicate delivery from the durable log, as after a crash
    # between a draft and its cursor's move): nothing new.
    before = len(await store.list_alerts(db, list(store.STATES), limit=1000))
    drafter = client.app[AUTO_DRAFTER]
    for event in events:
        assert await drafter.on_event(event) is None
    assert len(await store.list_alerts(db, list(store.STATES), limit=1000)) == before


def river_event(
    from_level: int, to_level: int, value: float, at: datetime, **facts: Any
) -> ThresholdEvent:
    return ThresholdEvent(
        facts.pop("station_id", "71518"), EventKind.river_band, from_level, to_level, value, at,
        station_name=facts.pop("station_name", "Phú Ốc"), river=facts.pop("river", "Bồ"),
        thresholds=facts.pop("thresholds", PHU_OC),
    )  # fmt: skip


async def crossed(client: Client, event: ThresholdEvent) -> None:
    """As the feeds pipeline does: the event stored in the durable log in a transaction, then
    the drafter (its subscriber) has caught up."""
    assert client.app is not None
    events = client.app[keys.EVENTS]
    async with client.app[keys.DB].transaction() as conn:
        await events.append(conn, THRESHOLD_CROSSED, [event])
    events.committed()
    await events.settled()


async def _drafts(client: Client, hazard: str = HAZARD) -> list[StoredAlert]:
    assert client.app is not None
    return await store.list_alerts(client.app[keys.DB], list(store.STATES), hazard=hazard)


async def test_a_draft_nobody_issued_is_rewritten_up_and_down_then_withdrawn_not_all_cleared(
    app_client: AppClient, staff: StaffFactory, clock: ManualClock
) -> None:
    client = await app_client()
    assert client.app is not None
    await load_hue(client)
    start = clock.now()  # 10:00 in Huế

    await crossed(client, river_event(1, 2, 3.12, start))
    (draft,) = await _drafts(client)
    vi = draft.alert.info("vi-VN")
    assert vi is not None
    assert vi.headline == "Cảnh báo lũ: sông Bồ tại Phú Ốc vượt báo động cấp hai"
    assert vi.description.startswith(
        "Lúc 10:00 ngày 16/11/2025, mực nước sông Bồ tại trạm Phú Ốc là 3,12 mét, vượt báo"
        " động cấp hai (3 mét) và đang lên. Khu vực có thể bị ảnh hưởng: Hạ lưu sông Bồ."
    )

    await crossed(client, river_event(2, 3, 4.96, start + timedelta(hours=3)))
    (draft,) = await _drafts(client)  # rewritten, not a second draft
    vi = draft.alert.info("vi-VN")
    assert vi is not None
    assert vi.headline == "Cảnh báo lũ: sông Bồ tại Phú Ốc vượt báo động cấp ba"
    assert "là 4,96 mét, vượt báo động cấp ba (4,5 mét) và đang lên" in vi.description
    assert draft.alert.infos[0].parameter("bao_dong") == "III"

    await crossed(client, river_event(3, 2, 4.31, start + timedelta(hours=9)))
    (draft,) = await _drafts(client)
    vi = draft.alert.info("vi-VN")
    en = draft.alert.info("en-US")
    assert vi is not None
    assert en is not None
    assert vi.headline == "Lũ sông Bồ tại Phú Ốc đang xuống, vẫn trên báo động cấp hai"
    assert vi.description.startswith(
        "Lúc 19:00 ngày 16/11/2025, mực nước sông Bồ tại trạm Phú Ốc đang xuống, còn 4,31"
        " mét, dưới báo động cấp ba (4,5 mét) nhưng vẫn trên báo động cấp hai (3 mét)."
    )
    assert "vượt" not in vi.headline + vi.description
    assert "above" not in en.headline.replace("still above", "")
    assert (draft.state, draft.alert.msg_type) == ("draft", "Alert")

    # Below the level that started it, before anyone issued it: withdrawn, with its reason.
    await crossed(client, river_event(2, 1, 2.9, start + timedelta(hours=15)))
    (draft,) = await _drafts(client)
    assert draft.state == "withdrawn"
    assert draft.withdrawn_reason is not None
    assert "Phú Ốc" in draft.withdrawn_reason
    assert "before the warning was issued" in draft.withdrawn_reason
    assert all(
        "AllClear" not in info.response_types
        for d in await _drafts(client)
        for info in d.alert.infos
    )
    lan = await staff(client, "lan", roles=["issuer"])
    shown = await (await lan.get(f"/api/v1/alerts/{draft.identifier}")).json()
    assert (shown["state"], shown["withdrawn_reason"]) == ("withdrawn", draft.withdrawn_reason)
    listed = await (await lan.get("/api/v1/alerts?state=withdrawn")).json()
    assert [a["identifier"] for a in listed["alerts"]] == [draft.identifier]
    await_refused = await lan.post(
        f"/api/v1/alerts/{draft.identifier}/submit", json={"version": shown["version"]}
    )
    assert await_refused.status == 409
    entries = await list_audit(client.app[keys.DB], entity="alert", entity_id=draft.identifier)
    assert (entries[0].action, entries[0].actor) == ("alert.withdraw", "system:auto")

    # The next rise is a new warning, not a continuation of the withdrawn one.
    await crossed(client, river_event(1, 2, 3.2, start + timedelta(days=1)))
    fresh = [d for d in await _drafts(client) if d.state == "draft"]
    assert len(fresh) == 1
    assert fresh[0].chain == fresh[0].identifier != draft.identifier


async def test_a_submitted_draft_that_a_new_reading_changes_goes_back_to_draft(
    app_client: AppClient, clock: ManualClock
) -> None:
    client = await app_client()
    assert client.app is not None
    await load_hue(client)
    workflow = client.app[ALERTING]
    await crossed(client, river_event(1, 2, 3.1, clock.now()))
    (draft,) = await _drafts(client)
    submitted = await workflow.submit(draft.identifier, "user:lan", version=draft.version)
    await crossed(client, river_event(2, 3, 4.6, clock.now() + timedelta(hours=1)))
    (changed,) = await _drafts(client)
    assert (changed.state, changed.submitted_by) == ("draft", None)
    assert changed.version > submitted.version
    assert changed.editors == ("system:auto",)


async def test_hazard_passing_after_issue_gives_an_all_clear_and_withdraws_the_pending_update(
    app_client: AppClient, clock: ManualClock
) -> None:
    client = await app_client()
    assert client.app is not None
    await load_hue(client)
    workflow = client.app[ALERTING]
    await crossed(client, river_event(1, 3, 4.7, clock.now()))  # a jump straight to BĐ III
    (warning,) = await _drafts(client)
    await workflow.submit(warning.identifier, "user:lan")
    await workflow.approve(warning.identifier, "user:minh")
    await workflow.issue(warning.identifier, "user:minh")
    # Falling into BĐ II: still a warning; nobody issues that Update before the river drops.
    await crossed(client, river_event(3, 2, 4.2, clock.now() + timedelta(hours=4)))
    update = [d for d in await _drafts(client) if d.state == "draft"]
    assert [d.alert.msg_type for d in update] == ["Update"]
    await crossed(client, river_event(2, 1, 2.8, clock.now() + timedelta(hours=8)))
    by_state = {d.identifier: d for d in await _drafts(client)}
    assert by_state[update[0].identifier].state == "withdrawn"
    (all_clear,) = [d for d in by_state.values() if d.state == "draft"]
    vi = all_clear.alert.info("vi-VN")
    assert vi is not None
    assert all_clear.alert.msg_type == "Update"
    assert vi.event == "Hết cảnh báo"
    assert vi.headline == "Hết cảnh báo lũ: sông Bồ tại Phú Ốc đã xuống dưới báo động cấp hai"
    assert "đã xuống 2,8 mét, dưới báo động cấp hai (3 mét)" in vi.description
    assert [r.identifier for r in all_clear.alert.references] == [warning.identifier]


async def test_the_station_facts_are_quoted_from_the_event_not_the_config(
    app_client: AppClient, clock: ManualClock
) -> None:
    """A PATCHed threshold or a renamed station reaches the text through the event."""
    client = await app_client()
    assert client.app is not None
    await load_hue(client)
    event = river_event(
        1, 2, 3.62, clock.now(), station_name="Phú Ốc (mới)",
        thresholds=Thresholds(1.6, 3.4, 4.6),
    )  # fmt: skip
    await crossed(client, event)
    (draft,) = await _drafts(client)
    vi = draft.alert.info("vi-VN")
    assert vi is not None
    assert vi.headline == "Cảnh báo lũ: sông Bồ tại Phú Ốc (mới) vượt báo động cấp hai"
    assert "là 3,62 mét, vượt báo động cấp hai (3,4 mét)" in vi.description


async def test_a_station_created_through_the_api_gets_auto_drafts(
    app_client: AppClient, tmp_path: Path, staff: StaffFactory, bearer: BearerFactory
) -> None:
    clock = ManualClock(datetime(2025, 11, 17, 3, 0, tzinfo=UTC))
    config = make_config(
        tmp_path,
        {
            "feeds": {"schedule": False},
            "alerting": {
                "stations": [
                    {"station_id": "hue-binh-dien", "ward_codes": ["hue.huong-tra"]},
                ]
            },
        },
    )
    client = await app_client(config=config, clock=clock)
    await load_hue(client)
    admin = await staff(client, "anh", roles=["admin"])
    created = await admin.post(
        "/api/v1/stations",
        json=station(
            "hue-binh-dien", "river_level", "ingest", name="Bình Điền", river="Hương",
            bao_dong1=9.0, bao_dong2=11.0, bao_dong3=13.0,
        ),
    )  # fmt: skip
    assert created.status == 201, await created.text()
    gauge = await bearer(client, roles=["gauge"])
    at = clock.now()
    for minutes, value in ((-20, 10.5), (-10, 11.3), (0, 11.4)):
        response = await client.post(
            "/api/v1/ingest/readings",
            json={
                "readings": [
                    {
                        "station_id": "hue-binh-dien",
                        "parameter": "water_level",
                        "value": value,
                        "observed_at": (at + timedelta(minutes=minutes)).isoformat(),
                    }
                ]
            },
            headers=gauge,
        )
        assert response.status == 200, await response.text()
    assert client.app is not None
    await client.app[keys.EVENTS].settled()  # the drafter follows the durable log
    (draft,) = await _drafts(client, "river:hue-binh-dien")
    vi = draft.alert.info("vi-VN")
    assert vi is not None
    # The station's facts as staff stored them, carried by the event (not config.toml).
    assert vi.headline == "Cảnh báo lũ: sông Hương tại Bình Điền vượt báo động cấp hai"
    assert "vượt báo động cấp hai (11 mét)" in vi.description
    assert vi.areas[0].ward_codes == ("hue.huong-tra",)
