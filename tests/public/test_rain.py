"""Rain on the public pages: a gauge's page and CSV, a river station showing its nearest gauge,
the home and ward lists, the classes in words (mưa vừa / to / rất to), unknown never "no rain"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from canhbao.clock import ManualClock
from canhbao.config import Config
from feeds.keys import FEEDS
from feeds.models import FetchResult, Observation, Parameter, Station, StationKind
from public import models
from public.ports import RainSeries
from tests.conftest import AppClient, make_config
from tests.feeds.conftest import station
from tests.geofences.conftest import load_hue
from tests.public.conftest import readings

Client = TestClient[web.Request, web.Application]

KIM_LONG = station(
    "71520",
    "river_level",
    "vndms",
    name="Kim Long",
    river="Hương",
    lat=16.4167,
    lon=107.5667,
    bao_dong1=1.0,
    bao_dong2=2.0,
    bao_dong3=3.5,
    historic=5.81,
)
# About 3 km from Kim Long, and one in Quảng Nam, about 100 km away.
HUE_RAIN = station("hue-rain", "rain_gauge", "ingest", name="Mưa <Huế>", lat=16.4637, lon=107.5909)
FAR_RAIN = station("far-rain", "rain_gauge", "ingest", name="Tam Kỳ", lat=15.5736, lon=108.4740)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(
        tmp_path,
        {
            "public": {"recheck_s": 0.0},
            "feeds": {"schedule": False, "stations": [KIM_LONG, HUE_RAIN, FAR_RAIN]},
        },
    )


async def rain(client: Client, station_id: str, amounts: list[float], end: datetime) -> None:
    """Hourly rain amounts (mm in the hour ending at each time) ending at `end`."""
    assert client.app is not None
    pipeline = client.app[FEEDS].pipeline
    n = len(amounts)
    observations = tuple(
        Observation(
            station_id,
            Parameter.rainfall,
            end - timedelta(hours=n - 1 - i),
            mm,
            interval_s=3600,
        )
        for i, mm in enumerate(amounts)
    )
    await pipeline.ingest("ingest", FetchResult(observations=observations), by_station_id=True)


async def page(client: Client, path: str) -> str:
    response = await client.get(path)
    text = await response.text()
    assert response.status == 200, text[:500]
    return text


async def started(app_client: AppClient, clock: ManualClock) -> Client:
    client = await app_client()
    await load_hue(client)
    now = clock.now()
    await readings(client, "71520", [2.0 + 0.05 * i for i in range(24)], now - timedelta(minutes=5))
    # 24 hours of rain: 2 mm an hour, then 20 mm in each of the last three: 42 + 60 = 102 mm.
    await rain(client, "hue-rain", [2.0] * 21 + [20.0] * 3, now - timedelta(minutes=5))
    return client


async def test_a_gauge_page_totals_the_day_names_the_class_and_charts_each_hour(
    app_client: AppClient, clock: ManualClock
) -> None:
    client = await started(app_client, clock)

    html = await page(client, "/tram/hue-rain")

    assert "102,0 mm trong 24 giờ qua" in html
    assert "Mưa rất to" in html  # over 100 mm in 24 h
    assert "60,0 mm trong 3 giờ qua" in html
    assert html.count("<rect ") == 24  # one bar an hour
    assert "Mưa &lt;Huế&gt;" in html
    assert "Mưa <Huế>" not in html
    assert "Mực nước 24 giờ qua" not in html  # a rain gauge has no level chart


async def test_a_gauge_csv_gives_its_rain(app_client: AppClient, clock: ManualClock) -> None:
    client = await started(app_client, clock)

    response = await client.get("/tram/hue-rain.csv")
    rows = (await response.text()).splitlines()

    assert response.status == 200
    assert rows[0] == "station_id,observed_at_utc,observed_at_local,rainfall_mm"
    assert len(rows) == 25
    assert rows[-1].endswith("+07:00,20.0")


async def test_a_river_station_shows_the_rain_of_its_nearest_gauge(
    app_client: AppClient, clock: ManualClock
) -> None:
    client = await started(app_client, clock)

    html = await page(client, "/tram/71520")
    english = await page(client, "/tram/71520?lang=en")

    assert "Mưa 24 giờ qua" in html
    assert "102,0 mm trong 24 giờ qua" in html
    assert 'href="/tram/hue-rain"' in html
    assert "Đo tại trạm Mưa &lt;Huế&gt;, cách 5,8 km" in html
    assert "Tam Kỳ" not in html  # farther than RAIN_NEAR_KM
    assert "<polyline" in html  # its own level chart stays
    assert "102.0 mm in the last 24 hours" in english
    assert "Very heavy rain" in english


async def test_home_and_ward_pages_list_gauges_apart_from_rivers(
    app_client: AppClient, clock: ManualClock
) -> None:
    client = await started(app_client, clock)

    home = await page(client, "/")
    ward = await page(client, "/phuong/hue.kim-long")

    for html in (home, ward):
        rivers, _, rain_part = html.partition("Mưa 24 giờ qua</h2>")
        assert 'href="/tram/71520"' in rivers
        assert 'href="/tram/hue-rain"' not in rivers
        assert "102,0 mm trong 24 giờ qua" in rain_part
    assert 'Tam Kỳ</a></td>\n<td class="muted">Chưa có số liệu mưa' in home


async def test_a_gauge_that_reported_nothing_is_unknown_never_no_rain(
    app_client: AppClient, clock: ManualClock
) -> None:
    client = await started(app_client, clock)

    html = await page(client, "/tram/far-rain")

    assert "Chưa có số liệu mưa trong 24 giờ qua" in html
    assert "Không mưa" not in html


GAUGE = Station("g", "G", StationKind.rain_gauge, 16.4, 107.6, "ingest", "g")


@pytest.mark.parametrize(
    ("total", "expected"),
    [(0.0, 0), (0.2, 1), (15.9, 1), (16.0, 2), (50.0, 2), (50.5, 3), (100.0, 3), (100.1, 4)],
)
def test_the_rain_classes_follow_the_24_hour_bounds(total: float, expected: int) -> None:
    assert models.rain_class(total) == expected


@pytest.mark.parametrize("offset", [timedelta(seconds=0.5), timedelta(minutes=59, seconds=59.5)])
def test_each_amount_falls_in_the_hour_that_ends_after_it(offset: timedelta) -> None:
    # Sub-second times and a local midnight (17:00 UTC is 00:00 in Asia/Ho_Chi_Minh).
    now = datetime(2025, 11, 16, 17, 20, 0, 250_000, tzinfo=UTC)
    amounts = (
        (datetime(2025, 11, 16, 16, 0, tzinfo=UTC) + offset, 5.0),  # in the hour ending 17:00
        (datetime(2025, 11, 16, 17, 10, 0, 500_000, tzinfo=UTC), 3.0),  # ending 18:00
        (now - timedelta(hours=24), 99.0),  # just outside the day
    )
    series = RainSeries(GAUGE, 0.0, amounts)

    summary = models.rain_summary(series, now)

    assert summary.total_24h == 8.0
    assert summary.hourly[-1] == (datetime(2025, 11, 16, 18, 0, tzinfo=UTC), 3.0)
    assert summary.hourly[-2] == (datetime(2025, 11, 16, 17, 0, tzinfo=UTC), 5.0)
    assert len(summary.hourly) == 24
    assert not summary.intense


def test_an_amount_on_the_hour_belongs_to_the_hour_it_ends() -> None:
    now = datetime(2025, 11, 16, 17, 20, tzinfo=UTC)
    series = RainSeries(GAUGE, 0.0, ((datetime(2025, 11, 16, 16, 0, tzinfo=UTC), 5.0),))

    summary = models.rain_summary(series, now)

    assert summary.hourly[-3] == (datetime(2025, 11, 16, 16, 0, tzinfo=UTC), 5.0)
