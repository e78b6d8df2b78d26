"""Replaying the November 2025 Kim Long / Phú Ốc flood raises exactly the band crossings its
levels imply (computed here, independently, with exact decimals), and none from failing or
stale readings slipped in along the way."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from canhbao import keys
from canhbao.clock import LOCAL_TZ, ManualClock
from feeds.errors import PayloadInvalid
from feeds.models import FetchResult, Observation, Parameter
from feeds.sources import replay
from feeds.thresholds import EventKind, ThresholdEvent
from tests.conftest import AppClient
from tests.feeds.conftest import REPLAY_CSV, feeds_config, runtime

HYSTERESIS = Decimal("0.10")
START = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)  # our clock; the recording keeps its own times


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=LOCAL_TZ).astimezone(UTC)


def expected_crossings() -> list[tuple[str, int, int, datetime]]:
    """The crossings the thresholds imply for the shared series, from the CSV alone.

    Rules (issue #3): a band is entered when two consecutive readings are both above the
    current band (to the lower of the two); it is left when two consecutive readings are both
    more than the hysteresis under its threshold (to the higher band they are held in).
    """
    by_station: dict[str, list[dict[str, str]]] = {}
    with REPLAY_CSV.open(encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            by_station.setdefault(row["Mã trạm/LakeCode"], []).append(row)
    crossings = []
    for code, rows in by_station.items():
        rows.sort(key=lambda row: row["Thời gian (UTC)"])
        thresholds = [Decimal(rows[0][k]) for k in ("BĐ1 (m)", "BĐ2 (m)", "BĐ3 (m)")]
        thresholds.append(Decimal(rows[0]["Mực nước lịch sử (m)"]))
        level = 0
        before: tuple[int, int] | None = None
        for row in rows:
            value = Decimal(row["Mực nước (m)"])
            raw = sum(value >= t for t in thresholds)
            held = sum(value + HYSTERESIS >= t for t in thresholds)
            new = level
            if before is not None and raw > level and before[0] > level:
                new = min(raw, before[0])
            elif before is not None and held < level and before[1] < level:
                new = max(held, before[1])
            if new != level:
                at = local(row["Thời gian (UTC)"].replace(" ", "T"))
                crossings.append((code, level, new, at))
                level = new
            before = (raw, held)
    return sorted(crossings, key=lambda c: (c[3], c[0]))


def replay_config(tmp_path: Path, **replay_keys: Any) -> Any:
    return feeds_config(
        tmp_path,
        {"replay": {"enabled": True, "path": str(REPLAY_CSV), "speed": 3600.0, **replay_keys}},
    )


async def test_replay_raises_exactly_the_crossings_the_series_implies(
    app_client: AppClient, tmp_path: Path
) -> None:
    clock = ManualClock(START)
    client = await app_client(config=replay_config(tmp_path), clock=clock)
    assert client.app is not None
    feeds = runtime(client)
    stations = feeds.pipeline.stations
    # Different rivers: no corroboration between them, so two readings confirm every rise.
    assert (stations["71520"].river, stations["71518"].river) == ("Hương", "Bồ")
    heard: list[ThresholdEvent] = []

    async def hear(event: ThresholdEvent) -> None:
        heard.append(event)

    client.app[keys.BUS].subscribe(ThresholdEvent, hear)
    poller = feeds.pollers["replay"]
    source = poller.source
    assert isinstance(source, replay.ReplaySource)

    # Readings a replay would never send: two failing spikes while Kim Long lies quiet in band
    # 0, and two late (stale) readings in Phú Ốc's eleven-hour gap of 14 November, both in a
    # higher band. Each pair would confirm a band if it were allowed to.
    injections = {
        4: FetchResult(  # after 05:00 local, 13 Nov, is played
            observations=(
                Observation("71520", Parameter.water_level, local("2025-11-13T05:30"), 9.5),
                Observation("71520", Parameter.water_level, local("2025-11-13T05:45"), 9.6),
            ),
            received_at=local("2025-11-13T05:50"),
        ),
        46: FetchResult(  # after 23:00 local, 14 Nov
            observations=(
                Observation("71518", Parameter.water_level, local("2025-11-14T19:00"), 3.2),
                Observation("71518", Parameter.water_level, local("2025-11-14T19:30"), 3.3),
            ),
            received_at=local("2025-11-14T23:00"),
        ),
    }
    step = 0
    while not source.finished:
        report = await poller.poll()
        assert report is not None, poller.state.last_error
        if step in injections:
            injected = await feeds.pipeline.ingest("replay", injections[step], by_station_id=True)
            assert injected.accepted == 2
            assert not injected.events
        clock.advance(timedelta(seconds=1))  # an hour of recording
        step += 1

    expected = expected_crossings()
    assert len(expected) >= 6  # the flood went through every band up to III at Phú Ốc
    body = await (await client.get("/api/v1/feeds/events", params={"limit": "500"})).json()
    got = sorted(
        (
            e["station_id"],
            e["from"],
            e["to"],
            datetime.fromisoformat(e["observed_at"]),
        )
        for e in body["events"]
        if e["kind"] == EventKind.river_band
    )
    assert sorted(got, key=lambda c: (c[3], c[0])) == expected
    assert [(e.station_id, e.from_level, e.to_level, e.observed_at) for e in heard] == expected
    # The injected readings were stored with the flags that kept them out.
    rows = await client.app[keys.DB].fetch_all(
        "SELECT flag, reasons FROM feeds_readings WHERE value IN (9.5, 9.6, 3.2, 3.3)"
        " ORDER BY observed_at"
    )
    assert [(r["flag"], "spike" in r["reasons"], "stale" in r["reasons"]) for r in rows] == [
        (4, True, False),
        (4, True, False),
        (3, False, True),
        (3, False, True),
    ]
    assert poller.state.readings_accepted == 957


async def test_replay_starts_where_configured_and_plays_at_its_speed(
    app_client: AppClient, tmp_path: Path
) -> None:
    clock = ManualClock(START)
    config = replay_config(tmp_path, speed=60.0, start="2025-11-17T08:00")
    client = await app_client(config=config, clock=clock)
    poller = runtime(client).pollers["replay"]

    first = await poller.poll()
    assert first is not None
    assert first.accepted == 2  # both stations at 08:00 local
    clock.set(START + timedelta(minutes=2))  # two minutes at 60×: two hours of recording
    second = await poller.poll()

    assert second is not None
    assert second.accepted == 4  # 09:00 and 10:00, both stations
    body = await (await client.get("/api/v1/stations/71518")).json()
    assert body["latest"]["water_level"]["observed_at_local"].startswith("2025-11-17T10:00")
    assert body["status"] == "ok"
    assert body["water_level"]["band"] == 3  # Phú Ốc over BĐ III (4.5 m) that morning


def test_replay_parse_reads_the_utc_column_as_local_time() -> None:
    observations, quirks = replay.parse(REPLAY_CSV.read_text(encoding="utf-8-sig"))
    assert quirks == ()
    assert len(observations) == 957
    first = observations[0]
    # "2025-11-13 01:00" in a column named UTC is 01:00 in Huế, i.e. 18:00 UTC the day before.
    assert first.observed_at == datetime(2025, 11, 12, 18, 0, tzinfo=UTC)
    assert (first.source_id, first.value) in {("71520", 0.79), ("71518", 1.61)}


def test_replay_parse_orders_rows_by_time_then_station_and_refuses_bad_levels() -> None:
    with REPLAY_CSV.open(encoding="utf-8-sig") as handle:
        header, *rows = handle.read().splitlines()
    # Station by station and newest first, as an export might come: parse puts it in order.
    shuffled = "\n".join([header, *sorted(rows, key=lambda row: row[::-1], reverse=True)])
    observations, _ = replay.parse(shuffled)
    in_order, _ = replay.parse(REPLAY_CSV.read_text(encoding="utf-8-sig"))
    keys = [(o.observed_at, o.source_id) for o in observations]
    assert keys == sorted(keys)
    assert observations == in_order
    assert len({o.observed_at for o in observations}) < len(observations)  # instants shared

    columns = header.split(",")
    level_at = columns.index(replay.LEVEL)
    row = rows[0].split(",")
    for bad, reason in (("nan", "line 2: nan is not a finite"), ("x", "line 2: bad level")):
        broken = [*row[:level_at], bad, *row[level_at + 1 :]]
        with pytest.raises(PayloadInvalid, match=reason):
            replay.parse("\n".join([header, ",".join(broken)]))
    with pytest.raises(PayloadInvalid, match=f"line 2: {len(columns) - 1} cells"):
        replay.parse("\n".join([header, ",".join(row[:-1])]))
    blank = [*row[:level_at], " ", *row[level_at + 1 :]]
    gap, _ = replay.parse("\n".join([header, ",".join(blank)]))
    assert gap[0].value is None


async def test_a_coarse_replay_raises_the_same_crossings(
    app_client: AppClient, tmp_path: Path
) -> None:
    # Ten hours of flood a poll: each reading still counts as received when it was observed.
    clock = ManualClock(START)
    client = await app_client(config=replay_config(tmp_path, speed=36000.0), clock=clock)
    poller = runtime(client).pollers["replay"]
    source = poller.source
    assert isinstance(source, replay.ReplaySource)

    while not source.finished:
        assert await poller.poll() is not None
        clock.advance(timedelta(seconds=1))

    body = await (await client.get("/api/v1/feeds/events", params={"limit": "500"})).json()
    got = [
        (e["station_id"], e["from"], e["to"], datetime.fromisoformat(e["observed_at"]))
        for e in reversed(body["events"])
    ]
    assert sorted(got, key=lambda c: (c[3], c[0])) == expected_crossings()
