"""Auto-drafts from the shared November 2025 replay: Phú Ốc entering BĐ II, then III, then back."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alerting import store
from alerting.auto import AUTO_DRAFTER
from alerting.store import StoredAlert
from canhbao import keys
from canhbao.clock import ManualClock
from feeds.sources import replay
from feeds.thresholds import ThresholdEvent
from tests.conftest import AppClient
from tests.feeds.conftest import REPLAY_CSV, feeds_config, runtime
from tests.geofences.conftest import load_hue

START = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
HAZARD = "river:71518"


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
    workflow = client.app[keys.ALERTING]
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
            await workflow.submit(draft.identifier, "user:lan")
            await workflow.approve(draft.identifier, "user:minh")
            await workflow.issue(draft.identifier, "user:minh")
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
    assert vi.headline == "Cảnh báo lũ: sông Bồ tại Phú Ốc vượt báo động II"
    assert vi.areas[0].ward_codes == ("hue.huong-tra", "hue.kim-tra", "hue.quang-dien")
    assert "{" not in vi.description
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
    assert all_clear.headline == "All clear: river flood in Hạ lưu sông Bồ"
    assert all_clear.response_types == ("AllClear",)

    # The same events again (a duplicate delivery from the durable log, as after a crash
    # between a draft and its cursor's move): nothing new.
    before = len(await store.list_alerts(db, list(store.STATES), limit=1000))
    drafter = client.app[AUTO_DRAFTER]
    for event in events:
        assert await drafter.on_event(event) is None
    assert len(await store.list_alerts(db, list(store.STATES), limit=1000)) == before
