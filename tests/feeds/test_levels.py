"""Derived levels: báo động bands, margins, trend, rain totals and rain day, cấp gió, risk level."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from canhbao.clock import LOCAL_TZ
from feeds import levels
from feeds.models import Thresholds

KIM_LONG = Thresholds(1.0, 2.0, 3.5, 5.81)
PHU_OC = Thresholds(1.5, 3.0, 4.5, 5.31)
T0 = datetime(2025, 11, 16, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "band"),
    [
        (0.99, 0),
        (1.0, 1),  # on the line is above it, as VNDMS labels 1.00 m "Trên BĐ1"
        (1.99, 1),
        (2.0, 2),
        (3.49, 2),
        (3.5, 3),
        (5.80, 3),
        (5.81, 4),
        (7.0, 4),
        (-0.5, 0),
    ],
)
def test_kim_long_bands(value: float, band: int) -> None:
    assert levels.band(value, KIM_LONG) == band


def test_without_a_historic_level_there_is_no_band_4() -> None:
    assert levels.band(9.0, Thresholds(1.0, 2.0, 3.5)) == 3


def test_hysteresis_holds_a_falling_river_in_its_band() -> None:
    # 1.95 m is under BĐ II (2.0) but within 0.10 m of it: still held in band 2.
    assert levels.band(1.95, KIM_LONG) == 1
    assert levels.band_with_hysteresis(1.95, KIM_LONG, 0.10) == 2
    assert levels.band_with_hysteresis(1.89, KIM_LONG, 0.10) == 1


def test_margin_to_the_next_band() -> None:
    margin = levels.margin_to_next(4.96, PHU_OC)
    assert margin == levels.Margin(next_band=4, metres=0.35)
    assert levels.margin_to_next(0.7, KIM_LONG) == levels.Margin(1, 0.3)
    assert levels.margin_to_next(6.0, KIM_LONG) is None


@given(st.floats(-5, 12, allow_nan=False), st.floats(0, 0.5, allow_nan=False))
def test_band_properties(value: float, hysteresis: float) -> None:
    raw = levels.band(value, KIM_LONG)
    held = levels.band_with_hysteresis(value, KIM_LONG, hysteresis)
    assert 0 <= raw <= held <= 4
    assert levels.band(value + 0.5, KIM_LONG) >= raw  # bands never fall as water rises


def test_trend_of_a_rising_river() -> None:
    points = [(T0 + timedelta(hours=h), 3.8 + 0.3 * h) for h in range(4)]
    trend = levels.trend(points)
    assert trend == levels.Trend("rising", 0.3)


def test_trend_looks_only_at_the_last_three_hours() -> None:
    old_rise = [(T0 + timedelta(hours=h), 1.0 + h) for h in range(5)]
    flat = [(T0 + timedelta(hours=5 + h), 5.0) for h in range(4)]
    trend = levels.trend(old_rise + flat)
    assert trend is not None
    assert trend.direction == "steady"


def test_trend_needs_two_points() -> None:
    assert levels.trend([(T0, 1.0)]) is None
    assert levels.trend([]) is None


def test_falling_trend() -> None:
    points = [(T0 + timedelta(hours=h), 4.0 - 0.1 * h) for h in range(3)]
    assert levels.trend(points) == levels.Trend("falling", -0.1)


def test_rain_totals_windows() -> None:
    now = T0 + timedelta(hours=24)
    # 10 mm every hour for a day, ending at now.
    points = [(now - timedelta(hours=h), 10.0) for h in range(24)]
    totals = levels.rain_totals(points, now)
    assert totals == {1: 10.0, 3: 30.0, 6: 60.0, 12: 120.0, 24: 240.0}


def test_rain_totals_ignore_the_future_and_the_old() -> None:
    now = T0
    points = [(now + timedelta(hours=1), 50.0), (now - timedelta(hours=24), 50.0), (now, 5.0)]
    assert levels.rain_totals(points, now)[24] == 5.0


@pytest.mark.parametrize(
    ("local", "day"),
    [
        (datetime(2025, 11, 16, 18, 59, tzinfo=LOCAL_TZ), date(2025, 11, 16)),
        (datetime(2025, 11, 16, 19, 0, tzinfo=LOCAL_TZ), date(2025, 11, 17)),
        (datetime(2025, 11, 16, 0, 30, tzinfo=LOCAL_TZ), date(2025, 11, 16)),
        (datetime(2025, 12, 31, 20, 0, tzinfo=LOCAL_TZ), date(2026, 1, 1)),
    ],
)
def test_the_rain_day_runs_19_to_19_local(local: datetime, day: date) -> None:
    assert levels.rain_day(local.astimezone(UTC)) == day


def test_rain_day_bounds_are_local_19h() -> None:
    start, end = levels.rain_day_bounds(date(2025, 11, 17))
    assert start.astimezone(UTC) == datetime(2025, 11, 16, 12, 0, tzinfo=UTC)
    assert end.astimezone(UTC) == datetime(2025, 11, 17, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("mm", "category"),
    [
        (15.9, levels.RainCategory.none),
        (16, levels.RainCategory.mua_vua),
        (50, levels.RainCategory.mua_vua),
        (51, levels.RainCategory.mua_to),
        (100, levels.RainCategory.mua_to),
        (100.1, levels.RainCategory.mua_rat_to),
    ],
)
def test_rain_categories_per_24h(mm: float, category: levels.RainCategory) -> None:
    assert levels.rain_category_24h(mm) == category


def test_rain_categories_per_12h_and_intense_rain() -> None:
    assert levels.rain_category_12h(8) == levels.RainCategory.mua_vua
    assert levels.rain_category_12h(26) == levels.RainCategory.mua_to
    assert levels.rain_category_12h(50.5) == levels.RainCategory.mua_rat_to
    assert not levels.intense_rain(100)
    assert levels.intense_rain(100.5)


@pytest.mark.parametrize(
    ("speed", "cap"),
    [
        (0.0, 0),
        (0.29, 0),
        (0.3, 1),
        (10.7, 5),
        (10.8, 6),
        (17.2, 8),
        (32.7, 12),
        (51.0, 16),
        (61.2, 17),
        (80.0, 17),
    ],
)
def test_cap_gio(speed: float, cap: int) -> None:
    assert levels.cap_gio(speed) == cap


@pytest.mark.parametrize(
    ("cap", "category"),
    [
        (5, levels.WindCategory.none),
        (6, levels.WindCategory.ap_thap_nhiet_doi),
        (7, levels.WindCategory.ap_thap_nhiet_doi),
        (8, levels.WindCategory.bao),
        (10, levels.WindCategory.bao_manh),
        (12, levels.WindCategory.bao_rat_manh),
        (15, levels.WindCategory.bao_rat_manh),
        (16, levels.WindCategory.sieu_bao),
    ],
)
def test_storm_classes(cap: int, category: levels.WindCategory) -> None:
    assert levels.wind_category(cap) == category


@given(st.floats(0, 70, allow_nan=False), st.floats(0, 5, allow_nan=False))
def test_cap_gio_is_monotonic(speed: float, more: float) -> None:
    assert levels.cap_gio(speed + more) >= levels.cap_gio(speed)


@pytest.mark.parametrize(
    ("value", "risk"),
    [
        (0.9, 0),
        (1.0, 1),
        (3.49, 1),
        (3.5, 2),
        (4.5, 2),  # BĐ III + 1 m is still level 2
        (4.51, 3),
    ],
)
def test_cap_do_rui_ro_for_river_floods(value: float, risk: int) -> None:
    assert levels.cap_do_rui_ro(value, KIM_LONG) == risk


def test_a_concurrent_hazard_raises_the_risk_level_by_one() -> None:
    assert levels.cap_do_rui_ro(4.6, KIM_LONG, concurrent_hazard=True) == 4
    assert levels.cap_do_rui_ro(0.5, KIM_LONG, concurrent_hazard=True) == 0
