"""The ingest pipeline with batches in flight together: overlapping batches store and raise
exactly what one batch at a time does, a COMMIT that fails under a later batch makes that batch
be worked out again, and a reading stored behind the pipeline's back becomes a revision."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from canhbao import keys
from canhbao.clock import ManualClock, utc_text
from feeds import store
from feeds.models import FetchResult, Observation, Parameter
from feeds.pipeline import IngestReport, Pipeline
from feeds.thresholds import EventKind, ThresholdEvent
from tests.conftest import AppClient
from tests.feeds.conftest import feeds_config, river_gauges, runtime, stored

Client = TestClient[web.Request, web.Application]
T0 = datetime(2025, 11, 16, 0, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=2)
# Two gauges on one river (so each can corroborate the other's rise), a day of hourly levels:
# a flood that crosses BĐ I-III at hue-a and BĐ I-II at hue-b and recedes, with a failing spike.
LEVELS = {
    "hue-a": [0.6, 0.7, 0.9, 1.2, 1.6, 2.1, 2.6, 3.1, 3.6, 3.9, 4.1, 9.9, 4.0, 3.7, 3.3, 2.9,
              2.4, 1.9, 1.5, 1.1, 0.8, 0.7, 0.6, 0.6],
    "hue-b": [1.0, 1.1, 1.3, 1.6, 1.9, 2.3, 2.7, 3.1, 3.4, 3.6, 3.7, 3.7, 3.6, 3.4, 3.1, 2.8,
              2.4, 2.0, 1.7, 1.4, 1.2, 1.1, 1.0, 1.0],
}  # fmt: skip


def config(folder: Path) -> Any:
    return feeds_config(folder, {"stations": river_gauges()})


def batch(*points: tuple[str, datetime, float]) -> FetchResult:
    return FetchResult(
        observations=tuple(
            Observation(station_id, Parameter.water_level, at, value)
            for station_id, at, value in points
        ),
        received_at=max(at for _, at, _ in points),
    )


def flood_batches(hours: int) -> list[FetchResult]:
    """The day's levels of both gauges, `hours` at a time."""
    return [
        batch(
            *(
                (station_id, T0 + timedelta(hours=hour), values[hour])
                for hour in range(first, first + hours)
                for station_id, values in LEVELS.items()
            )
        )
        for first in range(0, 24, hours)
    ]


async def start(app_client: AppClient, folder: Path) -> tuple[Client, list[ThresholdEvent]]:
    client = await app_client(config=config(folder), clock=ManualClock(NOW))
    assert client.app is not None
    heard: list[ThresholdEvent] = []
    db = client.app[keys.DB]

    async def hear(event: ThresholdEvent) -> None:
        # As alerting's subscriber does, it reads the database before it acts: the next
        # batch's events must still wait for it.
        await db.fetch_one("SELECT count(*) FROM feeds_events")
        heard.append(event)

    client.app[keys.BUS].subscribe(ThresholdEvent, hear)
    return client, heard


async def ingest(pipeline: Pipeline, result: FetchResult) -> IngestReport:
    return await pipeline.ingest("ingest", result, by_station_id=True)


async def test_batches_in_flight_together_store_and_raise_what_one_at_a_time_does(
    app_client: AppClient, tmp_path: Path
) -> None:
    one_client, one_heard = await start(app_client, tmp_path / "one")
    together_client, together_heard = await start(app_client, tmp_path / "together")
    one_pipeline = runtime(one_client).pipeline
    together_pipeline = runtime(together_client).pipeline

    one_reports = [await ingest(one_pipeline, result) for result in flood_batches(3)]
    # Every batch at once: each is checked while the one before commits.
    together_reports = await asyncio.gather(
        *(ingest(together_pipeline, result) for result in flood_batches(3))
    )

    crossings = [(e.station_id, e.from_level, e.to_level, e.observed_at) for e in one_heard]
    assert ("hue-a", 2, 3, T0 + timedelta(hours=9)) in crossings
    assert ("hue-a", 1, 0, T0 + timedelta(hours=21)) in crossings
    # hue-b enters BĐ I on its first reading over it: hue-a, on the same river, vouches for it.
    assert ("hue-b", 0, 1, T0 + timedelta(hours=3)) in crossings
    assert together_heard == one_heard  # the same events, in the same order
    assert [r.events for r in together_reports] == [r.events for r in one_reports]
    assert [r.flags for r in together_reports] == [r.flags for r in one_reports]
    assert sum(r.flags[4] for r in together_reports) == 1  # the 9.9 m spike
    assert await stored(together_client) == await stored(one_client)
    for station_id in LEVELS:
        assert together_pipeline.level(station_id, EventKind.river_band) == one_pipeline.level(
            station_id, EventKind.river_band
        )


# Two ways a 1.6 m reading fails to be stored after it was checked: a deferred foreign key that
# it breaks (its statement passes, its COMMIT fails), or a statement that fails while the rows
# are written (the next batch is checked meanwhile, as it is while a COMMIT runs).
TRAPS = {
    "commit": (
        "CREATE TABLE test_parent (id TEXT PRIMARY KEY)",
        "CREATE TABLE test_child (parent TEXT REFERENCES test_parent (id)"
        " DEFERRABLE INITIALLY DEFERRED)",
        "CREATE TRIGGER test_trap AFTER INSERT ON feeds_readings WHEN NEW.value = 1.6"
        " BEGIN INSERT INTO test_child VALUES ('nobody'); END",
    ),
    "write": (
        "CREATE TRIGGER test_trap BEFORE INSERT ON feeds_readings WHEN NEW.value = 1.6"
        " BEGIN SELECT RAISE(ABORT, 'trapped'); END",
    ),
}


@pytest.mark.parametrize("trap", sorted(TRAPS))
async def test_a_batch_worked_out_on_one_that_fails_to_store_is_worked_out_again(
    app_client: AppClient, tmp_path: Path, trap: str
) -> None:
    client, heard = await start(app_client, tmp_path)
    assert client.app is not None
    db = client.app[keys.DB]
    pipeline = runtime(client).pipeline
    for sql in TRAPS[trap]:
        await db.execute(sql)
    t = [T0 + timedelta(hours=h) for h in range(4)]
    await ingest(pipeline, batch(("hue-a", t[0], 0.8)))
    before = pipeline.level("hue-a", EventKind.river_band)

    # 1.7 m is checked while 1.6 m is stored: on top of it, the two would confirm BĐ I.
    failing = asyncio.create_task(ingest(pipeline, batch(("hue-a", t[1], 1.6))))
    later = asyncio.create_task(ingest(pipeline, batch(("hue-a", t[2], 1.7))))
    with pytest.raises(sqlite3.IntegrityError):
        await failing
    # What 1.6 m did to the level (a rise pending) is undone with it.
    assert pipeline.level("hue-a", EventKind.river_band) == before
    report = await later

    assert (report.accepted, report.events) == (1, [])
    assert [r["value"] for r in await stored(client, "hue-a")] == [0.8, 1.7]
    assert pipeline.level("hue-a", EventKind.river_band).level == 0
    assert heard == []
    # Memory holds what the database holds: 1.7 then 1.8 m confirm BĐ I.
    confirming = await ingest(pipeline, batch(("hue-a", t[3], 1.8)))
    assert [(e.from_level, e.to_level, e.observed_at) for e in confirming.events] == [(0, 1, t[3])]
    assert heard == confirming.events


async def test_a_reading_stored_behind_the_pipelines_back_becomes_a_revision(
    app_client: AppClient, tmp_path: Path
) -> None:
    client, _ = await start(app_client, tmp_path)
    assert client.app is not None
    db = client.app[keys.DB]
    pipeline = runtime(client).pipeline
    t = [T0 + timedelta(hours=h) for h in range(2)]
    await ingest(pipeline, batch(("hue-a", t[0], 0.8)))
    # Another writer stores the next hour; the pipeline still takes that instant for new.
    async with db.transaction() as conn:
        await store.write_readings(
            conn,
            [("hue-a", "water_level", utc_text(t[1]), 0.9, 1, "", "other", 0, utc_text(NOW))],
        )

    await ingest(pipeline, batch(("hue-a", t[1], 1.1)))

    rows = await stored(client, "hue-a")
    assert [(r["value"], r["revision"], r["source"]) for r in rows] == [
        (0.8, 0, "ingest"),
        (1.1, 1, "ingest"),
    ]
    revisions = await store.revisions_of(db, "hue-a", Parameter.water_level, t[1])
    assert [(r["value"], r["source"]) for r in revisions] == [(0.9, "other")]
