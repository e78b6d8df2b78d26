"""The API: public station views, series with downsampling, events; audited station changes;
push ingest (JSON and CSV, refused whole with the row and field); idempotency and revisions."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from canhbao import keys
from canhbao.audit import list_audit
from canhbao.clock import LOCAL_TZ, ManualClock, utc_text
from feeds.keys import FEEDS
from feeds.models import FetchResult, Observation, Parameter, Thresholds
from feeds.thresholds import EventKind, ThresholdEvent
from tests.conftest import AppClient, BearerFactory, StaffFactory
from tests.feeds.conftest import feeds_config, river_gauges, station, stored

NOW = datetime(2025, 11, 17, 3, 0, tzinfo=UTC)
Client = TestClient[web.Request, web.Application]


def ingest_config(tmp_path: Path) -> Any:
    return feeds_config(
        tmp_path,
        {
            "stations": [
                *river_gauges(),
                station("rain-1", "rain_gauge", "ingest", reporting_period_s=600),
                station("wind-1", "wind", "ingest", reporting_period_s=600),
                station(
                    "71520", "river_level", "vndms", bao_dong1=1.0, bao_dong2=2.0, bao_dong3=3.5
                ),
            ]
        },
    )


def level(station_id: str, value: Any, at: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "station_id": station_id,
        "parameter": "water_level",
        "value": value,
        "observed_at": at.isoformat(),
        **extra,
    }


async def push(client: Client, headers: dict[str, str], rows: list[dict[str, Any]]) -> Any:
    response = await client.post(
        "/api/v1/ingest/readings", json={"readings": rows}, headers=headers
    )
    assert response.status == 200, await response.text()
    return await response.json()


async def test_default_stations_are_public(app_client: AppClient) -> None:
    client = await app_client()

    body = await (await client.get("/api/v1/stations")).json()

    stations = {s["id"]: s for s in body["stations"]}
    assert set(stations) == {"71520", "71518"}
    kim_long = stations["71520"]
    assert (kim_long["name"], kim_long["river"], kim_long["source"]) == (
        "Kim Long",
        "Hương",
        "vndms",
    )
    assert (kim_long["bao_dong1"], kim_long["bao_dong2"], kim_long["bao_dong3"]) == (1.0, 2.0, 3.5)
    assert kim_long["historic"] == 5.81
    assert stations["71518"]["historic"] == 5.31
    assert kim_long["status"] == "no_data"
    assert (await client.get("/api/v1/stations/nowhere")).status == 404


async def test_ingest_json_drives_levels_events_and_the_station_view(
    app_client: AppClient, tmp_path: Path, bearer: BearerFactory
) -> None:
    clock = ManualClock(NOW)
    client = await app_client(config=ingest_config(tmp_path), clock=clock)
    gauge = await bearer(client, roles=["gauge"])
    t = [NOW - timedelta(hours=3 - h) for h in range(4)]

    await push(client, gauge, [level("hue-a", 0.8, t[0]), level("hue-a", 1.6, t[1])])
    result = await push(client, gauge, [level("hue-a", 2.1, t[2]), level("hue-a", 2.4, t[3])])

    assert result["accepted"] == 2
    assert result["events"] == 2  # 0→1 on (1.6, 2.1); 1→2 on (2.1, 2.4)
    events = (await (await client.get("/api/v1/feeds/events")).json())["events"]
    assert [(e["from"], e["to"], e["observed_at"]) for e in events] == [
        (1, 2, utc_text(t[3])),
        (0, 1, utc_text(t[2])),
    ]
    assert events[0]["to_name"] == "BĐ II"
    view = await (await client.get("/api/v1/stations/hue-a")).json()
    assert view["status"] == "ok"
    river = view["water_level"]
    assert (river["band"], river["alarm_band"], river["value"]) == (2, 2, 2.4)
    assert river["margin"] == {"next_band": 3, "metres": 1.1}
    assert river["trend"]["direction"] == "rising"
    assert river["cap_do_rui_ro"] == 1
    assert view["latest"]["water_level"]["observed_at_local"].startswith("2025-11-17T10:00")


async def test_a_gauge_on_the_same_river_corroborates_a_single_reading(
    app_client: AppClient, tmp_path: Path, bearer: BearerFactory
) -> None:
    client = await app_client(config=ingest_config(tmp_path), clock=ManualClock(NOW))
    gauge = await bearer(client, roles=["gauge"])
    t0, t1 = NOW - timedelta(hours=1), NOW

    # hue-b is confirmed in its band 1 first (two readings over 1.5 m).
    await push(client, gauge, [level("hue-b", 1.8, t0), level("hue-b", 1.9, t1)])
    # One reading of hue-a at 1.2 m (band 1) is vouched for by hue-b, fresh on the same river.
    result = await push(client, gauge, [level("hue-a", 0.7, t0), level("hue-a", 1.2, t1)])

    assert result["events"] == 1
    events = (await (await client.get("/api/v1/feeds/events?station=hue-a")).json())["events"]
    assert [(e["from"], e["to"]) for e in events] == [(0, 1)]


async def test_rain_and_wind_category_events(
    app_client: AppClient, tmp_path: Path, bearer: BearerFactory
) -> None:
    start = NOW - timedelta(hours=5)
    clock = ManualClock(start)
    client = await app_client(config=ingest_config(tmp_path), clock=clock)
    gauge = await bearer(client, roles=["gauge"])
    # One push an hour, as the loggers send them.
    for hour, (mm, gust) in enumerate(
        [(10, None), (10, None), (40, 9.0), (45, 20.0), (30, 19.0), (1, 15.0)]
    ):
        clock.set(start + timedelta(hours=hour))
        at = clock.now().isoformat()
        rows = [{"station_id": "rain-1", "parameter": "rainfall", "value": mm, "observed_at": at}]
        if gust is not None:
            rows.append(
                {"station_id": "wind-1", "parameter": "wind_gust", "value": gust, "observed_at": at}
            )
        await push(client, gauge, rows)

    events = (await (await client.get("/api/v1/feeds/events")).json())["events"]
    found = sorted((e["station_id"], e["kind"], e["from"], e["to"], e["value"]) for e in events)
    assert found == [
        # 40 + 45 + 30 mm in 3 h; one hour under it (76 mm) does not end it yet.
        ("rain-1", "intense_rain", 0, 1, 115.0),
        ("rain-1", "rain", 0, 1, 20.0),  # 20 mm in 24 h: mưa vừa
        ("rain-1", "rain", 1, 2, 60.0),  # mưa to
        ("rain-1", "rain", 2, 3, 105.0),  # mưa rất to
        ("wind-1", "gust", 0, 2, 19.0),  # gusts of cấp 8 twice in a row: storm class
    ]
    view = await (await client.get("/api/v1/stations/rain-1")).json()
    assert view["rain"]["totals_mm"] == {
        "1h": 1.0,
        "3h": 76.0,
        "6h": 136.0,
        "12h": 136.0,
        "24h": 136.0,
    }
    assert view["rain"]["category_24h_name"] == "mưa rất to"
    wind_view = await (await client.get("/api/v1/stations/wind-1")).json()
    assert wind_view["wind"]["gust"]["cap_gio"] == 7


async def test_ingest_csv(app_client: AppClient, tmp_path: Path, bearer: BearerFactory) -> None:
    client = await app_client(config=ingest_config(tmp_path), clock=ManualClock(NOW))
    gauge = await bearer(client, roles=["gauge"])
    text = (
        "station_id,parameter,value,observed_at,unit\n"
        f"hue-a,water_level,152,{(NOW - timedelta(hours=1)).isoformat()},cm\n"
        f"hue-a,water_level,,{NOW.isoformat()},\n"
    )

    response = await client.post(
        "/api/v1/ingest/readings", data=text, headers={**gauge, "Content-Type": "text/csv"}
    )

    assert response.status == 200, await response.text()
    rows = await stored(client, "hue-a")
    assert [(r["value"], r["flag"]) for r in rows] == [(1.52, 1), (None, 9)]


async def test_a_bad_batch_is_refused_whole_naming_row_and_field(
    app_client: AppClient, tmp_path: Path, bearer: BearerFactory
) -> None:
    client = await app_client(config=ingest_config(tmp_path), clock=ManualClock(NOW))
    gauge = await bearer(client, roles=["gauge"])
    good = level("hue-a", 1.0, NOW)
    cases = [
        (level("hue-a", "high", NOW), 2, "value"),
        (level("hue-a", 1.0, NOW.replace(tzinfo=None)), 2, "observed_at"),
        (level("nowhere", 1.0, NOW), 2, "station_id"),
        (level("71520", 1.0, NOW), 2, "station_id"),  # fed by VNDMS, not by pushes
        ({**level("hue-a", 1.0, NOW), "parameter": "rainfall"}, 2, "parameter"),
        ({**level("hue-a", 1.0, NOW), "unit": "m3/s"}, 2, "unit"),
        ({**level("hue-a", 1.0, NOW), "colour": "blue"}, 2, "colour"),
    ]
    for bad, row, field in cases:
        response = await client.post(
            "/api/v1/ingest/readings", json={"readings": [good, bad]}, headers=gauge
        )
        assert response.status == 400, bad
        error = (await response.json())["error"]
        assert (error["code"], error["row"], error["field"]) == ("invalid_reading", row, field)
    csv_bad = "station_id,parameter,value,observed_at\nhue-a,water_level,1.0,yesterday\n"
    response = await client.post(
        "/api/v1/ingest/readings", data=csv_bad, headers={**gauge, "Content-Type": "text/csv"}
    )
    assert (await response.json())["error"]["field"] == "observed_at"
    assert await stored(client) == []  # not even the good first row


async def test_ingest_needs_the_gauge_role(
    app_client: AppClient, tmp_path: Path, bearer: BearerFactory
) -> None:
    client = await app_client(config=ingest_config(tmp_path), clock=ManualClock(NOW))
    body = {"readings": [level("hue-a", 1.0, NOW)]}
    anonymous = await client.post("/api/v1/ingest/readings", json=body)
    operator = await bearer(client, roles=["operator"])
    wrong_role = await client.post("/api/v1/ingest/readings", json=body, headers=operator)
    assert (anonymous.status, wrong_role.status) == (401, 403)


async def test_redelivery_is_idempotent_and_a_changed_value_is_a_revision(
    app_client: AppClient, tmp_path: Path, bearer: BearerFactory
) -> None:
    clock = ManualClock(NOW)
    client = await app_client(config=ingest_config(tmp_path), clock=clock)
    gauge = await bearer(client, roles=["gauge"])
    at = NOW - timedelta(minutes=30)

    first = await push(client, gauge, [level("hue-a", 1.21, at)])
    again = await push(client, gauge, [level("hue-a", 1.21, at)])
    clock.advance(timedelta(minutes=5))
    revised = await push(client, gauge, [level("hue-a", 1.25, at)])
    gap = await push(client, gauge, [level("hue-a", None, at)])

    assert (first["accepted"], again["duplicates"], revised["revised"]) == (1, 1, 1)
    assert gap["duplicates"] == 1  # a later "missing" never erases a value
    rows = await stored(client, "hue-a")
    assert [(r["value"], r["revision"]) for r in rows] == [(1.25, 1)]
    body = await (
        await client.get("/api/v1/stations/hue-a/revisions", params={"observed_at": at.isoformat()})
    ).json()
    assert body["current"]["value"] == 1.25
    assert [(r["revision"], r["value"]) for r in body["revisions"]] == [(0, 1.21)]
    assert body["revisions"][0]["superseded_at"] == utc_text(NOW + timedelta(minutes=5))


async def test_series_downsamples_long_ranges(
    app_client: AppClient, tmp_path: Path, bearer: BearerFactory
) -> None:
    client = await app_client(config=ingest_config(tmp_path), clock=ManualClock(NOW))
    gauge = await bearer(client, roles=["gauge"])
    start = NOW - timedelta(hours=48)
    rows = [
        level("hue-a", round(0.5 + 0.01 * (i % 10), 2), start + timedelta(minutes=15 * i))
        for i in range(192)
    ]
    await push(client, gauge, rows)

    since, until = start.isoformat(), (NOW - timedelta(minutes=15)).isoformat()
    raw = await (
        await client.get("/api/v1/stations/hue-a/readings", params={"since": since, "until": until})
    ).json()
    small = await (
        await client.get(
            "/api/v1/stations/hue-a/readings",
            params={"since": since, "until": until, "max_points": "48"},
        )
    ).json()

    assert raw["downsampled"] is False
    assert len(raw["points"]) == 192
    assert raw["unit"] == "m"
    assert small["downsampled"] is True
    assert small["bucket_s"] == 3582  # ceil(47.75 h / 48)
    assert len(small["points"]) <= 48
    assert sum(p["count"] for p in small["points"]) == 192
    assert min(p["min"] for p in small["points"]) == 0.5
    assert max(p["max"] for p in small["points"]) == 0.59
    bad = await client.get("/api/v1/stations/hue-a/readings", params={"since": "yesterday"})
    assert bad.status == 422


async def test_staff_add_and_change_stations_audited(
    app_client: AppClient, tmp_path: Path, staff: StaffFactory
) -> None:
    client = await app_client(config=ingest_config(tmp_path), clock=ManualClock(NOW))
    admin = await staff(client, "anh", roles=["admin"])
    issuer = await staff(client, "binh", roles=["issuer"])
    new = station(
        "71519",
        "river_level",
        "vndms",
        name="Bình Điền",
        river="Hương",
        bao_dong1=9.0,
        bao_dong2=11.0,
        bao_dong3=13.0,
    )

    refused = await issuer.post("/api/v1/stations", json=new)
    created = await admin.post("/api/v1/stations", json=new)
    duplicate = await admin.post("/api/v1/stations", json=new)
    out_of_order = await admin.patch("/api/v1/stations/71519", json={"bao_dong2": 8.0})
    changed = await admin.patch("/api/v1/stations/71519", json={"bao_dong3": 14.0})

    assert (refused.status, created.status, duplicate.status) == (403, 201, 409)
    assert out_of_order.status == 400
    assert (await out_of_order.json())["error"]["field"] == "bao_dong2"
    assert changed.status == 200
    view = await (await client.get("/api/v1/stations/71519")).json()
    assert (view["name"], view["bao_dong3"]) == ("Bình Điền", 14.0)
    assert client.app is not None
    entries = await list_audit(client.app[keys.DB], entity="feeds_station", entity_id="71519")
    assert [(e.actor, e.action) for e in reversed(entries)] == [
        ("user:anh", "feeds.station.create"),
        ("user:anh", "feeds.station.update"),
    ]
    assert entries[0].before is not None
    assert entries[0].before["bao_dong3"] == 13.0
    assert entries[0].after is not None
    assert entries[0].after["bao_dong3"] == 14.0
    # The VNDMS source now polls the new station too.
    assert "71519" in client.app[FEEDS].pipeline.stations


async def test_api_changes_survive_a_restart_over_the_config(
    app_client: AppClient, tmp_path: Path, staff: StaffFactory
) -> None:
    config = ingest_config(tmp_path)
    client = await app_client(config=config, clock=ManualClock(NOW))
    admin = await staff(client, "anh", roles=["admin"])
    response = await admin.patch("/api/v1/stations/71520", json={"hysteresis_m": 0.2})
    assert response.status == 200
    await client.close()

    again = await app_client(config=config, clock=ManualClock(NOW))

    view = await (await again.get("/api/v1/stations/71520")).json()
    assert view["hysteresis_m"] == 0.2


async def test_a_failing_latest_reading_says_why_and_does_not_alarm(
    app_client: AppClient, tmp_path: Path, bearer: BearerFactory
) -> None:
    client = await app_client(config=ingest_config(tmp_path), clock=ManualClock(NOW))
    gauge = await bearer(client, roles=["gauge"])
    t = [NOW - timedelta(hours=2 - h) for h in range(3)]

    result = await push(
        client,
        gauge,
        [level("hue-a", 0.8, t[0]), level("hue-a", 4.6, t[1]), level("hue-a", 4.7, t[2])],
    )

    # 4.6 then 4.7 after 0.8: spikes of 3.8 m against the median fail, however consecutive.
    assert result["flags"] == {"1": 1, "4": 2}
    assert result["events"] == 0
    view = await (await client.get("/api/v1/stations/hue-a")).json()
    assert view["status"] == "failing"
    assert "spike" in view["status_reason"]
    assert view["water_level"]["band"] == 0  # from the last reading that may drive alarms
    local = datetime(2025, 11, 17, 10, 0, tzinfo=LOCAL_TZ)
    assert view["latest"]["water_level"]["observed_at_local"] == local.isoformat()


async def test_a_failed_commit_stores_nothing_and_forgets_what_it_computed(
    app_client: AppClient, tmp_path: Path
) -> None:
    client = await app_client(config=ingest_config(tmp_path), clock=ManualClock(NOW))
    assert client.app is not None
    pipeline = client.app[FEEDS].pipeline
    db = client.app[keys.DB]
    t = [NOW - timedelta(hours=3 - h) for h in range(4)]

    def batch(*points: tuple[datetime, float]) -> FetchResult:
        return FetchResult(
            observations=tuple(
                Observation("hue-a", Parameter.water_level, at, value) for at, value in points
            )
        )

    await pipeline.ingest("ingest", batch((t[0], 0.8)), by_station_id=True)
    await db.execute("ALTER TABLE feeds_events RENAME TO feeds_events_away")
    with pytest.raises(sqlite3.OperationalError):
        await pipeline.ingest("ingest", batch((t[1], 1.6), (t[2], 2.1)), by_station_id=True)
    await db.execute("ALTER TABLE feeds_events_away RENAME TO feeds_events")

    # Neither the readings nor the band they confirmed outlived the rollback.
    assert [r["value"] for r in await stored(client, "hue-a")] == [0.8]
    assert pipeline.level("hue-a", EventKind.river_band).level == 0
    # Nor did they stay in memory as QC history: 2.5 m is judged against 0.8 m three hours
    # earlier (a jump), not against the 2.1 m that was never stored.
    report = await pipeline.ingest("ingest", batch((t[3], 2.5)), by_station_id=True)
    assert report.flags == {3: 1}
    rows = await stored(client, "hue-a")
    assert rows[-1]["reasons"] == "spike,rate_of_change"


async def test_events_carry_the_stored_station_facts_as_staff_changed_them(
    app_client: AppClient, tmp_path: Path, bearer: BearerFactory, staff: StaffFactory
) -> None:
    client = await app_client(config=ingest_config(tmp_path), clock=ManualClock(NOW))
    assert client.app is not None
    admin = await staff(client, "anh", roles=["admin"])
    gauge = await bearer(client, roles=["gauge"])
    heard: list[ThresholdEvent] = []

    async def hear(event: ThresholdEvent) -> None:
        heard.append(event)

    client.app[keys.BUS].subscribe(ThresholdEvent, hear)
    # A station that exists only in the database (created through the API), then changed.
    new = station(
        "bd-1", "river_level", "ingest", name="Bình Điền", river="Hương", bao_dong1=9.0,
        bao_dong2=11.0, bao_dong3=13.0,
    )  # fmt: skip
    assert (await admin.post("/api/v1/stations", json=new)).status == 201
    t = [NOW - timedelta(hours=3 - h) for h in range(4)]
    await push(client, gauge, [level("bd-1", 9.5, t[0]), level("bd-1", 9.6, t[1])])
    changed = await admin.patch(
        "/api/v1/stations/bd-1", json={"name": "Bình Điền (mới)", "bao_dong2": 9.7}
    )
    assert changed.status == 200
    await push(client, gauge, [level("bd-1", 9.8, t[2]), level("bd-1", 9.9, t[3])])

    assert [(e.from_level, e.to_level) for e in heard] == [(0, 1), (1, 2)]
    first, second = heard
    assert (first.station_name, first.river) == ("Bình Điền", "Hương")
    assert first.thresholds == Thresholds(9.0, 11.0, 13.0, None)
    assert second.station_name == "Bình Điền (mới)"
    assert second.thresholds == Thresholds(9.0, 9.7, 13.0, None)
