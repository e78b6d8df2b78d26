"""The durable event log: events stored with their cause, delivered to each subscriber from its own
cursor at least once; a failing handler retries with backoff, blocks no other subscriber, and
shows in /healthz (degraded) and /metrics (failures, lag)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from alerting import store as alerting_store
from canhbao import keys
from canhbao.clock import ManualClock
from canhbao.db import Database
from canhbao.eventlog import MIGRATIONS, EventLog, EventType
from canhbao.health import HealthRegistry
from tests.conftest import AppClient, BearerFactory
from tests.feeds.conftest import feeds_config, station
from tests.geofences.conftest import load_hue

NOW = datetime(2025, 11, 17, 3, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Noted:
    number: int


NOTED = EventType[Noted]("test.noted", lambda e: {"number": e.number}, lambda p: Noted(p["number"]))


def decode_other(payload: Mapping[str, Any]) -> Noted:
    return Noted(-1)


OTHER = EventType[Noted]("test.other", lambda e: {}, decode_other)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(tmp_path / "events.sqlite3")
    await database.open()
    await database.migrate(MIGRATIONS)
    try:
        yield database
    finally:
        await database.close()


async def append(events: EventLog, db: Database, *numbers: int) -> None:
    async with db.transaction() as conn:
        await events.append(conn, NOTED, [Noted(n) for n in numbers])
    events.committed()


async def test_a_failing_subscriber_retries_and_holds_up_no_other(db: Database) -> None:
    health = HealthRegistry()
    events = EventLog(db, ManualClock(NOW), health, retry_first_s=3600.0)
    fine: list[int] = []
    tried: list[int] = []

    async def flaky(event: Noted) -> None:
        tried.append(event.number)
        if len(tried) <= 2:
            raise RuntimeError("drafts table unavailable")

    async def steady(event: Noted) -> None:
        fine.append(event.number)

    events.subscribe("flaky", NOTED, flaky)
    events.subscribe("steady", NOTED, steady)
    registry = CollectorRegistry()
    registry.register(events.collector())
    await events.start()
    try:
        await append(events, db, 1, 2, 3)
        await events.settled()

        assert fine == [1, 2, 3]
        assert tried == [1]
        state = health.components["events.flaky"]
        assert (state.status, state.critical) == ("degraded", False)
        assert "drafts table unavailable" in state.detail
        assert health.unhealthy() == []
        await events.refresh_metrics()
        text = generate_latest(registry).decode()
        assert 'canhbao_events_handler_failures_total{subscriber="flaky"} 1.0' in text
        assert 'canhbao_events_subscriber_lag{subscriber="flaky"} 3.0' in text
        assert 'canhbao_events_subscriber_lag{subscriber="steady"} 0.0' in text

        # An hour's backoff, cut short; the same event again, failing once more.
        events.retry_now()
        await events.settled()
        assert tried == [1, 1]
        events.retry_now()
        await events.settled()
        assert tried == [1, 1, 1, 2, 3]
        assert health.components["events.flaky"].status == "ok"
        await events.refresh_metrics()
        text = generate_latest(registry).decode()
        assert 'canhbao_events_handler_failures_total{subscriber="flaky"} 2.0' in text
        assert 'canhbao_events_subscriber_lag{subscriber="flaky"} 0.0' in text
    finally:
        await events.stop()


async def test_a_log_it_cannot_read_degrades_the_subscriber_until_it_can(db: Database) -> None:
    health = HealthRegistry()
    events = EventLog(db, ManualClock(NOW), health, retry_first_s=3600.0)
    heard: list[int] = []

    async def hear(event: Noted) -> None:
        heard.append(event.number)

    events.subscribe("reader", NOTED, hear)
    await events.start()
    try:
        await append(events, db, 1)
        await events.settled()
        await db.execute("ALTER TABLE event_log RENAME TO event_log_away")
        events.committed()
        await events.settled()
        assert health.components["events.reader"].status == "degraded"
        assert "event_log" in health.components["events.reader"].detail

        await db.execute("ALTER TABLE event_log_away RENAME TO event_log")
        events.retry_now()
        await events.settled()
        assert health.components["events.reader"].status == "ok"
        await append(events, db, 2)
        await events.settled()
        assert heard == [1, 2]
    finally:
        await events.stop()


async def test_cursors_outlive_the_process_and_a_new_subscriber_starts_at_the_end(
    db: Database,
) -> None:
    clock = ManualClock(NOW)
    heard: list[tuple[str, int]] = []

    def hearing(name: str) -> Any:
        async def hear(event: Noted) -> None:
            heard.append((name, event.number))

        return hear

    first = EventLog(db, clock, HealthRegistry())
    first.subscribe("a", NOTED, hearing("a"))
    await first.start()
    await append(first, db, 1)
    await first.settled()
    await first.stop()
    # Stored while nothing delivers (the process died after the commit).
    async with db.transaction() as conn:
        await first.append(conn, NOTED, [Noted(2), Noted(3)])
        await first.append(conn, OTHER, [Noted(0)])

    second = EventLog(db, clock, HealthRegistry())
    second.subscribe("a", NOTED, hearing("a"))
    second.subscribe("b", NOTED, hearing("b"))
    await second.start()
    try:
        await second.settled()
        assert heard == [("a", 1), ("a", 2), ("a", 3)]
        await append(second, db, 4)
        await second.settled()
        assert sorted(heard[3:]) == [("a", 4), ("b", 4)]
    finally:
        await second.stop()


async def test_a_failing_drafter_shows_in_health_and_metrics_and_never_fails_the_ingest(
    app_client: AppClient, tmp_path: Path, bearer: BearerFactory
) -> None:
    gauge_station = station(
        "71518", "river_level", "ingest", river="Bồ", bao_dong1=1.5, bao_dong2=3.0,
        bao_dong3=4.5, historic=5.31,
    )  # fmt: skip
    config = feeds_config(tmp_path, {"stations": [gauge_station]})
    client = await app_client(config=config, clock=ManualClock(NOW))
    assert client.app is not None
    await load_hue(client)
    gauge = await bearer(client, roles=["gauge"])
    db, events = client.app[keys.DB], client.app[keys.EVENTS]
    await db.execute(
        "CREATE TRIGGER refuse_drafts BEFORE INSERT ON alerting_auto_events"
        " BEGIN INSERT INTO no_such_table VALUES (1); END"
    )
    rows = [
        {"station_id": "71518", "parameter": "water_level", "value": value,
         "observed_at": (NOW - timedelta(hours=hours)).isoformat()}
        for value, hours in ((1.2, 2), (3.1, 1), (3.3, 0))
    ]  # fmt: skip

    response = await client.post("/api/v1/ingest/readings", json={"readings": rows}, headers=gauge)
    assert response.status == 200
    assert (await response.json())["events"] == 1
    await events.settled()

    health = await client.get("/healthz")
    assert health.status == 200
    component = (await health.json())["components"]["events.alerting.auto_draft"]
    assert (component["status"], component["critical"]) == ("degraded", False)
    assert "no_such_table" in component["detail"]
    metrics = await (await client.get("/metrics")).text()
    assert 'canhbao_events_handler_failures_total{subscriber="alerting.auto_draft"} 1.0' in metrics
    assert 'canhbao_events_subscriber_lag{subscriber="alerting.auto_draft"} 1.0' in metrics
    assert await alerting_store.list_alerts(db, ["draft"], hazard="river:71518") == []

    await db.execute("DROP TRIGGER refuse_drafts")
    events.retry_now()
    await events.settled()
    drafts = await alerting_store.list_alerts(db, ["draft"], hazard="river:71518")
    assert len(drafts) == 1
    component = (await (await client.get("/healthz")).json())["components"]
    assert component["events.alerting.auto_draft"]["status"] == "ok"
