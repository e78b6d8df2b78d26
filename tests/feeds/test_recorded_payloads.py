"""Every recorded payload through the real pipeline: a fake upstream serving it, the poller, the
QC, the store, read back. Values, units and times come out right; quirks are flagged, not fatal.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web

from canhbao import keys
from canhbao.clock import LOCAL_TZ, ManualClock, utc_text
from feeds.sources import SOURCES
from tests.conftest import AppClient
from tests.doubles.feeds import FeedUpstream
from tests.feeds import test_replay
from tests.feeds.conftest import (
    FEEDS_DATA,
    REPLAY_CSV,
    feeds_config,
    fixture,
    load,
    recorded,
    runtime,
    station,
    stored,
)

F = TypeVar("F", bound=Callable[..., Any])
COVERED: dict[str, set[str]] = {}


def covers(source: str, *files: str) -> Callable[[F], F]:
    """Mark a test as the recorded-payload test of `source` for `files`."""

    def mark(test: F) -> F:
        COVERED.setdefault(source, set()).update(files)
        return test

    return mark


# Shared payloads that belong to another issue, and why they are not claimed here.
NOT_FEEDS = {
    "nws_alerts_active_zone.json": "NWS alerts are CAP-like warnings: the alerting issue's import",
}

Upstream = tuple[FeedUpstream, str]


# -- UK Environment Agency --------------------------------------------------------------------

EA_NOW = datetime(2026, 2, 3, 0, 0, tzinfo=UTC)
EA_STATIONS = {
    # our id: (measure notation, what the recorded payload holds for it)
    "ea-1029TH": "1029TH-level-stage-i-15_min-mASD",
    "ea-E2043": "E2043-level-stage-i-15_min-mASD",
    "ea-E21136": "E21136-level-stage-i-15_min-mASD",
    "ea-1674TH": "1674TH-level-stage-i-15_min-mASD",
    "ea-2550TH": "2550TH-level-stage-i-15_min-mASD",
    "ea-E2790": "E2790-level-stage-i-15_min-mASD",
    "ea-4327TH": "4327TH-level-stage-i-15_min-mASD",
    "ea-E9250": "E9250-level-stage-i-15_min-mASD",
}


def ea_config(tmp_path: Path, base: str, **ea: Any) -> Any:
    return feeds_config(
        tmp_path,
        {
            "stations": [
                station(ours, "river_level", "ea", notation, reporting_period_s=900)
                for ours, notation in EA_STATIONS.items()
            ],
            "ea": {"enabled": True, "base_url": base, **ea},
        },
    )


@covers("ea", "ea_measures_level_stage_latest_trimmed.json", "ea_stations_level_full_trimmed.json")
async def test_ea_measures_and_stations(
    app_client: AppClient, tmp_path: Path, upstream: Upstream
) -> None:
    double, base = upstream
    double.serve("/id/measures", recorded("ea_measures_level_stage_latest_trimmed.json"))
    double.serve("/id/stations", recorded("ea_stations_level_full_trimmed.json"))
    client = await app_client(config=ea_config(tmp_path, base), clock=ManualClock(EA_NOW))
    poller = runtime(client).pollers["ea"]

    report = await poller.poll()

    assert report is not None
    assert poller.state.status == "ok"
    rows = {row["station_id"]: row for row in await stored(client)}
    got = {k: (r["value"], r["flag"], r["reasons"], r["observed_at"]) for k, r in rows.items()}
    assert got == {
        "ea-1029TH": (0.392, 1, "", "2026-02-02T23:15:00.000000+00:00"),
        "ea-E2043": (-0.041, 1, "", "2026-02-02T23:30:00.000000+00:00"),
        # 18 h old "latest" reading of a 15-minute station: stale, kept, flagged.
        "ea-E21136": (0.196, 3, "stale", "2026-02-02T06:00:00.000000+00:00"),
        # latestReading.value is a list of two: neither is trusted (and it is 4 h old).
        "ea-1674TH": (
            None,
            9,
            "stale,missing,ambiguous value [-53.16, 0.84]",
            "2026-02-02T20:00:00.000000+00:00",
        ),
        # Four weeks stale.
        "ea-2550TH": (0.169, 3, "stale", "2026-01-05T00:45:00.000000+00:00"),
        # Off the 15-minute grid: kept at the second it says.
        "ea-E2790": (1.079, 1, "", "2026-02-02T23:40:05.000000+00:00"),
        # A stage of -27.6 m is no river: gross range fails it.
        "ea-4327TH": (-27.646, 4, "gross_range", "2026-02-02T23:30:00.000000+00:00"),
    }
    # Measures nobody configured are counted, not stored; ea-E9250 has no latestReading.
    assert report.unmatched == 4
    quirks = " | ".join(poller.state.quirks)
    for expected in (
        "E9250-level-stage-i-15_min-mASD: no latestReading",
        "1674TH-level-stage-i-15_min-mASD: value is a list",
        "E2790-level-stage-i-15_min-mASD: off-grid time 23:40:05",
        "E84429: stageScale is a link",
        "E85123: label is a list of 2; first taken",
    ):
        assert expected in quirks

    catalogue = await client.get("/api/v1/feeds/sources/ea/catalogue")
    entries = {e["source_id"]: e for e in (await catalogue.json())["stations"]}
    assert len(entries) == 10
    assert entries["E85123"]["name"] == "Ilfracombe Lambda"
    assert entries["E85123"]["lat"] == 51.19557
    assert entries["1029TH"]["details"]["max_on_record"] == 0.82
    assert entries["1029TH"]["river"] == "River Dikler"

    views = {s["id"]: s for s in (await (await client.get("/api/v1/stations")).json())["stations"]}
    assert views["ea-1029TH"]["status"] == "ok"
    assert views["ea-4327TH"]["status"] == "failing"
    assert "gross_range" in views["ea-4327TH"]["status_reason"]
    assert views["ea-2550TH"]["status"] == "stale"
    assert views["ea-1674TH"]["status"] == "stale"  # late and missing: late is said first
    assert views["ea-E9250"]["status"] == "no_data"


@covers("ea", "ea_stations_rainfall_trimmed.json")
async def test_ea_rainfall_station_list(
    app_client: AppClient, tmp_path: Path, upstream: Upstream
) -> None:
    double, base = upstream
    double.serve("/id/measures", b'{"items": []}')
    double.serve("/id/stations", recorded("ea_stations_rainfall_trimmed.json"))
    config = ea_config(tmp_path, base, stations_query="parameter=rainfall")
    client = await app_client(config=config, clock=ManualClock(EA_NOW))

    assert await runtime(client).pollers["ea"].poll() is not None

    assert double.requests_to("/id/stations")[0].query == {"parameter": "rainfall"}
    body = await (await client.get("/api/v1/feeds/sources/ea/catalogue")).json()
    entries = {e["source_id"]: e for e in body["stations"]}
    assert len(entries) == 20
    assert entries["E7050"]["name"] == "Crowhurst"
    assert entries["E7050"]["details"]["measures"] == [
        "E7050-rainfall-tipping_bucket_raingauge-t-15_min-mm"
    ]
    assert entries["3680"]["lat"] == pytest.approx(52.731659)


# -- OGC SensorThings (Taiwan Civil IoT flood depth) -------------------------------------------

STA_NOW = datetime(2022, 2, 7, 10, 15, tzinfo=UTC)


def sta_config(tmp_path: Path, base: str) -> Any:
    return feeds_config(
        tmp_path,
        {
            "stations": [
                station("tw-2682", "flood_depth", "sensorthings", "2682", reporting_period_s=600),
                station("tw-2859", "flood_depth", "sensorthings", "2859", reporting_period_s=600),
            ],
            "sensorthings": {"enabled": True, "base_url": f"{base}/STA/v1.0"},
        },
    )


@covers("sensorthings", "sta_civiliot_taiwan_flood_depth_excerpt.json")
async def test_sensorthings_flood_depth(
    app_client: AppClient, tmp_path: Path, upstream: Upstream
) -> None:
    double, base = upstream
    double.serve("/STA/v1.0/Datastreams", recorded("sta_civiliot_taiwan_flood_depth_excerpt.json"))
    client = await app_client(config=sta_config(tmp_path, base), clock=ManualClock(STA_NOW))
    poller = runtime(client).pollers["sensorthings"]

    assert await poller.poll() is not None

    rows = {r["station_id"]: r for r in await stored(client)}
    assert rows["tw-2859"]["value"] == 0.0
    assert rows["tw-2859"]["flag"] == 1
    assert rows["tw-2859"]["observed_at"] == "2022-02-07T10:09:10.000000+00:00"
    # A sensor whose latest observation is seven weeks old is stale, and says so.
    assert (rows["tw-2682"]["flag"], rows["tw-2682"]["reasons"]) == (3, "stale")
    assert rows["tw-2682"]["observed_at"] == "2021-12-22T01:02:00.000000+00:00"
    # The recorded next link points at the real Taiwanese server: not followed from ours.
    assert any("nextLink to another server not followed" in q for q in poller.state.quirks)
    assert len(double.requests_to("/STA/v1.0/Datastreams")) == 1
    assert "Observations($top=1" in double.seen[0].query["$expand"]
    catalogue = await (await client.get("/api/v1/feeds/sources/sensorthings/catalogue")).json()
    names = {e["source_id"]: e["name"] for e in catalogue["stations"]}
    assert names == {"2682": "褒忠鄉鎮安橋淹水感測站", "2859": "崙內里_鄰近舊虎尾溪"}


async def test_sensorthings_follows_next_links_on_its_own_server_and_converts_cm(
    app_client: AppClient, tmp_path: Path, upstream: Upstream
) -> None:
    double, base = upstream
    page = load("sta_civiliot_taiwan_flood_depth_excerpt.json")
    first, second = page["value"]
    second["Observations"][0]["result"] = 23  # centimetres of water on the road

    async def pages(request: web.Request) -> bytes:
        if request.query.get("$skip") == "1":
            return json.dumps({"value": [second]}).encode()
        return json.dumps(
            {"value": [first], "@iot.nextLink": f"{base}/STA/v1.0/Datastreams?$skip=1"}
        ).encode()

    double.serve("/STA/v1.0/Datastreams", pages)
    client = await app_client(config=sta_config(tmp_path, base), clock=ManualClock(STA_NOW))

    assert await runtime(client).pollers["sensorthings"].poll() is not None

    assert len(double.requests_to("/STA/v1.0/Datastreams")) == 2
    rows = {r["station_id"]: r for r in await stored(client)}
    assert rows["tw-2859"]["value"] == pytest.approx(0.23)
    assert set(rows) == {"tw-2682", "tw-2859"}


# -- US National Weather Service observations ---------------------------------------------------


@covers(
    "nws",
    "nws_stations_observations_latest.json",
    "nws_stations_observations_missing_value.json",
)
async def test_nws_latest_observation(
    app_client: AppClient, tmp_path: Path, upstream: Upstream
) -> None:
    double, base = upstream
    double.serve(
        "/stations/KFLL/observations/latest", recorded("nws_stations_observations_latest.json")
    )
    double.serve(
        "/stations/KMIS/observations/latest",
        recorded("nws_stations_observations_missing_value.json"),
    )
    config = feeds_config(
        tmp_path,
        {
            "stations": [
                station("kfll", "wind", "nws", "KFLL"),
                station("kmis", "wind", "nws", "KMIS"),
            ],
            "nws": {"enabled": True, "base_url": base},
        },
    )
    client = await app_client(
        config=config, clock=ManualClock(datetime(2022, 3, 3, 0, 0, tzinfo=UTC))
    )
    poller = runtime(client).pollers["nws"]

    report = await poller.poll()

    assert report is not None
    assert poller.state.status == "ok"
    rows = {(r["station_id"], r["parameter"]): r for r in await stored(client)}
    assert set(rows) == {("kfll", "wind_speed"), ("kfll", "wind_gust")}
    speed = rows[("kfll", "wind_speed")]
    assert speed["value"] == pytest.approx(7.56 / 3.6)  # km/h → m/s
    assert speed["observed_at"] == "2022-03-02T23:53:00.000000+00:00"
    assert speed["flag"] == 1
    assert (rows[("kfll", "wind_gust")]["value"], rows[("kfll", "wind_gust")]["flag"]) == (None, 9)
    assert report.unmatched == 1  # precipitationLastHour: a wind station has no rain gauge
    assert any("observation 0: no timestamp" in q for q in poller.state.quirks)
    sent = double.requests_to("/stations/KFLL/observations/latest")[0]
    assert sent.headers["User-Agent"].startswith("canhbao")
    view = await (await client.get("/api/v1/stations/kfll")).json()
    assert view["wind"]["speed"]["cap_gio"] == 2
    assert view["wind"]["gust"] is None


# -- VNDMS (built from the shared CSV's rows; no raw sample exists) -------------------------------

VNDMS_NOW = datetime(2025, 11, 22, 0, 0, tzinfo=LOCAL_TZ).astimezone(UTC)
VNDMS_ORIGIN = "https://vndms.dmptc.gov.vn"


def csv_rows(code: str) -> dict[datetime, float]:
    """The shared CSV's levels of one station by UTC time (its "UTC" column is GMT+7)."""
    with REPLAY_CSV.open(encoding="utf-8-sig") as handle:
        return {
            datetime.strptime(row["Thời gian (UTC)"], "%Y-%m-%d %H:%M")
            .replace(tzinfo=LOCAL_TZ)
            .astimezone(UTC): float(row["Mực nước (m)"])
            for row in csv.DictReader(handle)
            if row["Mã trạm/LakeCode"] == code
        }


@covers("vndms", "vn_vndms_kimlong_phuoc_2025-11_derived.csv")
async def test_vndms_series_and_station_list(
    app_client: AppClient, tmp_path: Path, upstream: Upstream
) -> None:
    double, base = upstream

    async def detail_rain(request: web.Request) -> bytes:
        code = (await request.post())["id"]
        assert isinstance(code, str)
        return fixture(f"vndms_detailrain_{code}.json")

    headers = {"Referer": VNDMS_ORIGIN + "/", "Origin": VNDMS_ORIGIN}
    double.serve("/home/detailRain", detail_rain, method="POST", required_headers=headers)
    double.serve("/water_level", fixture("vndms_water_level.json"), required_headers=headers)
    config = feeds_config(
        tmp_path,
        {
            "vndms": {
                "enabled": True,
                "series_url": f"{base}/home/detailRain",
                "stations_url": f"{base}/water_level",
            }
        },
    )
    client = await app_client(config=config, clock=ManualClock(VNDMS_NOW))
    poller = runtime(client).pollers["vndms"]

    report = await poller.poll()

    assert report is not None
    assert poller.state.status == "ok"
    forms = [seen.form for seen in double.requests_to("/home/detailRain")]
    assert forms == [
        {"id": code, "timeSelect": "7", "source": "Water", "fromDate": "", "toDate": ""}
        for code in ("71518", "71520")
    ]
    assert [s.query["lv"] for s in double.requests_to("/water_level")] == ["0", "1", "2", "3"]
    for code in ("71520", "71518"):
        expected = csv_rows(code)
        rows = await stored(client, code)
        assert len(rows) == 168
        start = datetime(2025, 11, 15, 0, 0, tzinfo=LOCAL_TZ).astimezone(UTC)
        for row in rows:
            at = datetime.fromisoformat(row["observed_at"])
            assert start <= at < start + timedelta(hours=168)
            if at in expected:
                assert row["value"] == expected[at]
            else:  # the CSV's gaps, served as "-" and "null": missing, flag 9
                assert (row["value"], row["flag"]) == (None, 9)
    # Phú Ốc peaked at 4.96 m at 08:00 local on 17 November.
    peak = next(r for r in await stored(client, "71518") if r["value"] == 4.96)
    assert peak["observed_at"] == utc_text(datetime(2025, 11, 17, 1, 0, tzinfo=UTC))
    # A week of backfill arrives late: only the last three hours are fresh enough to alarm on,
    # so the week's flood raised no event now.
    fresh = [r for r in await stored(client) if "stale" not in r["reasons"]]
    assert {r["observed_at"][:13] for r in fresh} == {
        "2025-11-21T14",
        "2025-11-21T15",
        "2025-11-21T16",
    }
    events = await (await client.get("/api/v1/feeds/events")).json()
    assert all(e["observed_at"] >= "2025-11-21T14" for e in events["events"])
    catalogue = await (await client.get("/api/v1/feeds/sources/vndms/catalogue")).json()
    entries = {e["source_id"]: e for e in catalogue["stations"]}
    assert entries["71520"]["name"] == "Kim Long"
    assert entries["71520"]["lat"] == pytest.approx(16.41667)
    assert entries["71518"]["river"] == "Hương - Bồ"
    assert entries["71518"]["details"]["bao_dong3"] == 4.5
    assert entries["71518"]["details"]["gia_tri_lu_lich_su"] == 5.31


# -- Open-Meteo forecast (hand-written in the documented shape) ------------------------------------


@covers("openmeteo", "openmeteo_forecast_hue.json")
async def test_openmeteo_forecast(
    app_client: AppClient, tmp_path: Path, upstream: Upstream
) -> None:
    double, base = upstream
    double.serve("/v1/forecast", fixture("openmeteo_forecast_hue.json"))
    config = feeds_config(
        tmp_path, {"openmeteo": {"enabled": True, "base_url": f"{base}/v1/forecast"}}
    )
    now = datetime(2025, 11, 16, 0, 0, tzinfo=LOCAL_TZ)
    client = await app_client(config=config, clock=ManualClock(now))

    report = await runtime(client).pollers["openmeteo"].poll()

    assert report is not None
    assert report.forecasts == 2 * 24 * 3
    query = double.requests_to("/v1/forecast")[0].query
    assert query["wind_speed_unit"] == "ms"
    assert query["latitude"] == "16.4167,16.5330"
    assert query["hourly"] == "precipitation,wind_speed_10m,wind_gusts_10m"
    payload = load("openmeteo_forecast_hue.json")
    view = await (await client.get("/api/v1/stations/71520")).json()
    # Local 00:00 is the hour before now; the next 24 h are the other 23 hours of the sample.
    assert view["forecast"]["rain_next_24h_mm"] == pytest.approx(
        sum(payload[0]["hourly"]["precipitation"][1:]), abs=0.05
    )
    assert view["forecast"]["rain_next_24h_category"] == "mua_rat_to"
    assert view["forecast"]["max_gust_cap_gio"] == 8  # 18.2 m/s
    assert client.app is not None
    rows = await client.app[keys.DB].fetch_all(
        "SELECT valid_at, value FROM feeds_forecasts WHERE station_id = '71518'"
        " AND parameter = 'rainfall' ORDER BY valid_at LIMIT 1"
    )
    # Times are local with utc_offset_seconds = 25200: 00:00 local is 17:00 UTC the day before.
    assert rows[0][0] == "2025-11-15T17:00:00.000000+00:00"
    assert rows[0][1] == payload[1]["hourly"]["precipitation"][0]


# -- the registry rule ----------------------------------------------------------------------------

# The replay source's recorded-payload test lives with the replay tests.
COVERED.setdefault("replay", set()).add(REPLAY_CSV.name)


def test_every_registered_source_has_a_recorded_payload_test() -> None:
    assert hasattr(test_replay, "test_replay_raises_exactly_the_crossings_the_series_implies")
    missing = sorted(spec.name for spec in SOURCES if spec.name not in COVERED)
    assert not missing, f"registered sources without a recorded-payload test: {missing}"


def test_every_shared_feed_payload_is_tested_or_excused() -> None:
    claimed = set().union(*COVERED.values())
    shared = {path.name for path in FEEDS_DATA.iterdir()}
    assert shared - claimed == set(NOT_FEEDS)
    assert not (claimed & set(NOT_FEEDS))
