"""Bad data never silences an alarm: a reading QC flags (future, out of range, spike, stuck,
missing, stale) never becomes what later good readings are judged against, nor the station's
latest reading; a batch holding the same reading twice counts it once. Through the push ingest
and a poller alike, and once with the real clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from canhbao.clock import LOCAL_TZ, ManualClock, SystemClock, utc_text
from feeds.models import Flag
from tests.conftest import AppClient, BearerFactory
from tests.doubles.feeds import FeedUpstream
from tests.feeds.conftest import feeds_config, river_gauges, runtime, station

Client = TestClient[web.Request, web.Application]
NOW = datetime(2025, 11, 17, 3, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def config(tmp_path: Path, **feeds: Any) -> Any:
    return feeds_config(tmp_path, {"stations": river_gauges(), **feeds})


def level(value: Any, at: datetime, station_id: str = "hue-a", **extra: Any) -> dict[str, Any]:
    return {
        "station_id": station_id,
        "parameter": "water_level",
        "value": value,
        "observed_at": at.isoformat(),
        **extra,
    }


async def push(client: Client, headers: dict[str, str], *rows: dict[str, Any]) -> Any:
    response = await client.post(
        "/api/v1/ingest/readings", json={"readings": list(rows)}, headers=headers
    )
    assert response.status == 200, await response.text()
    return await response.json()


async def events(client: Client, station_id: str = "hue-a") -> list[tuple[int, int, str]]:
    body = await (await client.get(f"/api/v1/feeds/events?station={station_id}")).json()
    return [(e["from"], e["to"], e["observed_at"]) for e in reversed(body["events"])]


async def view(client: Client, station_id: str = "hue-a") -> Any:
    return await (await client.get(f"/api/v1/stations/{station_id}")).json()


async def test_a_reading_a_year_ahead_never_silences_later_crossings(
    app_client: AppClient, tmp_path: Path, bearer: BearerFactory
) -> None:
    clock = ManualClock(NOW - 3 * HOUR)
    client = await app_client(config=config(tmp_path), clock=clock)
    gauge = await bearer(client, roles=["gauge"])

    await push(client, gauge, level(0.8, NOW - 3 * HOUR))
    # A gauge with a wrong clock (or one hostile push): flagged "future", correctly.
    ahead = await push(client, gauge, level(0.9, NOW + timedelta(days=365)))
    assert ahead["flags"] == {"4": 1}
    clock.set(NOW - HOUR)
    await push(client, gauge, level(1.4, NOW - HOUR))
    clock.set(NOW)
    crossing = await push(client, gauge, level(1.6, NOW))

    assert crossing["events"] == 1
    assert await events(client) == [(0, 1, utc_text(NOW))]
    body = await view(client)
    # The station follows its latest good reading at or before now, and says what it ignored.
    assert body["status"] == "ok"
    assert "future" in body["status_reason"]
    assert body["latest"]["water_level"]["observed_at"] == utc_text(NOW)
    assert (body["water_level"]["value"], body["water_level"]["alarm_band"]) == (1.6, 1)


async def test_a_failing_newest_reading_says_so_and_later_good_ones_still_alarm(
    app_client: AppClient, tmp_path: Path, bearer: BearerFactory
) -> None:
    clock = ManualClock(NOW)
    client = await app_client(config=config(tmp_path), clock=clock)
    gauge = await bearer(client, roles=["gauge"])

    await push(client, gauge, level(0.8, NOW - 3 * HOUR), level(1.4, NOW - 2 * HOUR))
    # Out of the sensor's range: fails, and the station says so.
    await push(client, gauge, level(150.0, NOW - HOUR))
    body = await view(client)
    assert body["status"] == "failing"
    assert "gross_range" in body["status_reason"]
    assert body["water_level"]["value"] == 1.4  # the latest good reading

    await push(client, gauge, level(1.5, NOW - HOUR / 2), level(1.6, NOW))
    assert await events(client) == [(0, 1, utc_text(NOW))]
    assert (await view(client))["status"] == "ok"


# A first reading, then one QC flags, then a genuine crossing of BĐ I (two readings over 1.0 m):
# the crossing raises its event however the flagged reading failed.
FLAGGED = {
    "future": [level(0.9, NOW + timedelta(days=30))],
    "out of range": [level(150.0, NOW - 4 * HOUR)],
    "missing": [level(None, NOW - 4 * HOUR)],
    "spike": [level(0.5, NOW - 6 * HOUR), level(0.5, NOW - 5 * HOUR), level(9.5, NOW - 4 * HOUR)],
    "stale": [level(0.7, NOW - 5 * HOUR)],
    # A logger sending centimetres as metres from its first reading: over the flood of record
    # plus 2 m, suspect, so it must not become the history the next readings are judged by.
    "unit": [level(62.0, NOW - 6 * HOUR), level(61.0, NOW - 5 * HOUR)],
}


@pytest.mark.parametrize("flagged", FLAGGED.values(), ids=FLAGGED.keys())
async def test_a_flagged_reading_never_hides_a_genuine_crossing(
    app_client: AppClient, tmp_path: Path, bearer: BearerFactory, flagged: list[dict[str, Any]]
) -> None:
    client = await app_client(config=config(tmp_path), clock=ManualClock(NOW))
    gauge = await bearer(client, roles=["gauge"])

    await push(client, gauge, *flagged)
    await push(client, gauge, level(0.8, NOW - 3 * HOUR), level(0.9, NOW - 2 * HOUR))
    result = await push(client, gauge, level(1.3, NOW - HOUR), level(1.5, NOW))

    assert result["flags"].get("4", 0) == 0, result
    assert await events(client) == [(0, 1, utc_text(NOW))]
    body = await view(client)
    assert (body["water_level"]["value"], body["water_level"]["band"]) == (1.5, 1)


async def test_a_stuck_sensor_that_comes_back_alarms(
    app_client: AppClient, tmp_path: Path, bearer: BearerFactory
) -> None:
    client = await app_client(config=config(tmp_path), clock=ManualClock(NOW))
    gauge = await bearer(client, roles=["gauge"])
    start = NOW - 30 * HOUR

    # A day and more at exactly 0.6 m: the flat line turns suspect, then fails.
    stuck = await push(client, gauge, *(level(0.6, start + h * HOUR) for h in range(28)))
    assert stuck["flags"]["4"] > 0
    result = await push(client, gauge, level(1.1, NOW - HOUR), level(1.2, NOW))

    assert result["flags"].get("4", 0) == 0, result
    assert result["events"] == 1


async def test_one_batch_holding_a_reading_twice_counts_it_once(
    app_client: AppClient, tmp_path: Path, bearer: BearerFactory
) -> None:
    client = await app_client(config=config(tmp_path), clock=ManualClock(NOW))
    gauge = await bearer(client, roles=["gauge"])

    twice = await push(client, gauge, level(0.8, NOW), level(0.8, NOW))
    assert (twice["accepted"], twice["revised"], twice["duplicates"]) == (1, 0, 1)
    assert twice["flags"] == {"1": 1}
    changed = await push(client, gauge, level(0.9, NOW - HOUR), level(1.0, NOW - HOUR))
    assert (changed["accepted"], changed["revised"], changed["duplicates"]) == (1, 1, 0)
    again = await push(client, gauge, level(1.0, NOW - HOUR), level(0.8, NOW))
    assert (again["accepted"], again["revised"], again["duplicates"]) == (0, 0, 2)


def ea_payload(*readings: tuple[datetime, float | None]) -> bytes:
    items = [
        {
            "@id": "http://ea.test/id/measures/M1",
            "notation": "M1",
            "parameter": "level",
            "unitName": "m",
            "latestReading": {"dateTime": utc_text(at).replace("+00:00", "Z"), "value": value},
        }
        for at, value in readings
    ]
    return json.dumps({"items": items}).encode()


# What a poll brings besides a first good reading, flagged by QC as in FLAGGED.
POLLED: dict[str, list[tuple[datetime, float | None]]] = {
    "future": [(NOW + timedelta(days=365), 1.2)],
    "out of range": [(NOW - HOUR / 2, 150.0)],
    "missing": [(NOW - HOUR / 2, None)],
    "spike": [(NOW - HOUR / 2, 9.5)],
    "unit": [(NOW - HOUR / 2, 62.0)],
}


@pytest.mark.parametrize("flagged", POLLED.values(), ids=POLLED.keys())
async def test_a_polled_flagged_reading_never_silences_later_crossings(
    app_client: AppClient,
    tmp_path: Path,
    upstream: tuple[FeedUpstream, str],
    flagged: list[tuple[datetime, float | None]],
) -> None:
    double, base = upstream
    gauge = station(
        "ea-1", "river_level", "ea", "M1", bao_dong1=1.0, bao_dong2=2.0, bao_dong3=3.5,
        historic=5.0,
    )  # fmt: skip
    settings = {"enabled": True, "base_url": base, "stations_query": "", "measures_query": ""}
    clock = ManualClock(NOW - HOUR / 2)
    client = await app_client(
        config=feeds_config(tmp_path, {"stations": [gauge], "ea": settings}), clock=clock
    )
    poller = runtime(client).pollers["ea"]

    double.serve("/id/measures", ea_payload((NOW - HOUR, 0.8), *flagged))
    first = await poller.poll()
    assert first is not None
    assert first.flags[Flag.good] == 1
    double.serve("/id/measures", ea_payload((NOW - HOUR / 4, 1.3)))
    clock.set(NOW - HOUR / 4)
    assert await poller.poll() is not None
    double.serve("/id/measures", ea_payload((NOW, 1.4)))
    clock.set(NOW)
    report = await poller.poll()

    assert report is not None
    assert len(report.events) == 1
    body = await view(client, "ea-1")
    assert (body["water_level"]["alarm_band"], body["water_level"]["value"]) == (1, 1.4)


async def test_ingest_to_event_with_the_real_clock(
    app_client: AppClient, tmp_path: Path, bearer: BearerFactory
) -> None:
    """Sub-second instants, sent in Asia/Ho_Chi_Minh and in UTC, through QC, levels and events."""
    client = await app_client(config=config(tmp_path), clock=SystemClock())
    gauge = await bearer(client, roles=["gauge"])
    now = datetime.now(UTC)
    first = (now - timedelta(minutes=20, microseconds=123_457)).astimezone(LOCAL_TZ)
    second = now - timedelta(minutes=10, microseconds=654_321)

    await push(client, gauge, level(0.95, now - timedelta(minutes=30)))
    result = await push(client, gauge, level(1.05, first), level(1.1, second))
    # The same instants again, the other way round in zones: known already.
    again = await push(client, gauge, level(1.05, first.astimezone(UTC)), level(1.1, second))

    assert (result["accepted"], result["flags"], result["events"]) == (2, {"1": 2}, 1)
    assert (again["accepted"], again["duplicates"], again["events"]) == (0, 2, 0)
    assert await events(client) == [(0, 1, utc_text(second))]
    body = await view(client)
    assert body["status"] == "ok"
    assert body["latest"]["water_level"]["observed_at"] == utc_text(second)
