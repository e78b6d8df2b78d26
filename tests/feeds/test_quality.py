"""QARTOD checks: each test flags what it should, and only that."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feeds import quality
from feeds.models import Flag, Parameter, Station, StationKind, Thresholds

T0 = datetime(2025, 11, 17, 0, 0, tzinfo=UTC)
PHU_OC = Station(
    id="71518",
    name="Phú Ốc",
    kind=StationKind.river_level,
    lat=16.533,
    lon=107.467,
    source="vndms",
    source_id="71518",
    river="Bồ",
    thresholds=Thresholds(1.5, 3.0, 4.5, 5.31),
    gross_min=-2.0,
    gross_max=12.0,
)
LEVEL = quality.limits_for(PHU_OC, Parameter.water_level)
RAIN = quality.limits_for(
    Station("r", "rain", StationKind.rain_gauge, 16.4, 107.6, "ingest", "r"), Parameter.rainfall
)


def hourly(values: list[float], end: datetime = T0) -> list[tuple[datetime, float]]:
    """Points an hour apart, the last one an hour before `end`."""
    return [(end - timedelta(hours=len(values) - i), v) for i, v in enumerate(values)]


def check(
    value: float | None,
    earlier: list[tuple[datetime, float]] | None = None,
    *,
    at: datetime = T0,
    received: datetime | None = None,
    limits: quality.QcLimits = LEVEL,
    interval_s: int = 0,
) -> tuple[Flag, tuple[str, ...]]:
    return quality.check(value, at, received or at, earlier or [], limits, interval_s=interval_s)


def test_a_real_flood_rise_is_good() -> None:
    # Phú Ốc, 17 Nov 2025: 3.80 m at 00:00 local, 4.43 m at 02:00 (0.32 m/h).
    assert check(4.43, [(T0 - timedelta(hours=2), 3.80)]) == (Flag.good, ())


@pytest.mark.parametrize("value", [-2.5, 12.5, 99.0])
def test_gross_range_fails_outside_the_station_limits(value: float) -> None:
    assert check(value) == (Flag.fail, ("gross_range",))


def test_gross_range_suspects_far_above_the_flood_of_record() -> None:
    flag, reasons = check(7.5)  # historic 5.31 + 2 m
    assert (flag, reasons) == (Flag.suspect, ("gross_range",))


@pytest.mark.parametrize("value", [None, -9999.0, -999.0, 9999.0])
def test_missing_values_and_sentinels_are_flag_9(value: float | None) -> None:
    assert check(value) == (Flag.missing, ("missing",))


def test_rate_of_change_over_the_station_limit_is_suspect() -> None:
    flag, reasons = check(3.0, hourly([2.4]))  # 0.6 m in an hour; limit 0.5 m/h
    assert (flag, reasons) == (Flag.suspect, ("rate_of_change",))


def test_rate_of_change_limit_is_per_station() -> None:
    strict = quality.limits_for(
        Station("s", "s", StationKind.river_level, 0, 0, "ingest", "s", max_rate_m_per_h=0.2),
        Parameter.water_level,
    )
    assert check(2.7, hourly([2.4]), limits=strict)[0] is Flag.suspect
    assert check(2.7, hourly([2.4]))[0] is Flag.good


def test_rate_over_a_gap_is_per_hour_of_the_gap() -> None:
    # 1 m over 11 hours (the shared series has gaps that long) is slow, not a jump.
    assert check(3.0, [(T0 - timedelta(hours=11), 2.0)])[0] is Flag.good


def test_a_spike_against_the_recent_median_fails() -> None:
    flag, reasons = check(6.2, hourly([2.0, 2.05, 2.1]))
    assert flag is Flag.fail
    assert "spike" in reasons


def test_a_smaller_spike_is_suspect() -> None:
    flag, reasons = check(3.8, hourly([2.0, 2.0, 2.1], end=T0 - timedelta(hours=3)))
    assert flag is Flag.suspect
    assert reasons == ("spike",)


def test_flat_line_suspect_then_fail() -> None:
    day = hourly([1.23] * 24)
    assert check(1.23, day[-11:]) == (Flag.good, ())
    assert check(1.23, day[-12:]) == (Flag.suspect, ("flat_line",))
    assert check(1.23, day) == (Flag.fail, ("flat_line",))


def test_the_longest_flat_run_in_the_shared_series_passes() -> None:
    # Phú Ốc held one value for 9 hours in November 2025; a river does that.
    assert check(0.86, hourly([0.86] * 9)) == (Flag.good, ())


def test_zero_rain_all_day_is_not_a_stuck_gauge() -> None:
    assert check(0.0, hourly([0.0] * 30), limits=RAIN) == (Flag.good, ())


def test_rain_gross_range_scales_with_the_interval() -> None:
    assert check(350.0, limits=RAIN, interval_s=3 * 3600)[0] is Flag.good
    assert check(350.0, limits=RAIN, interval_s=3600)[0] is Flag.suspect
    assert check(450.0, limits=RAIN, interval_s=3600)[0] is Flag.fail
    assert check(-1.0, limits=RAIN, interval_s=3600)[0] is Flag.fail


def test_a_reading_that_arrives_late_is_stale() -> None:
    flag, reasons = check(2.0, received=T0 + timedelta(hours=3, seconds=1))
    assert (flag, reasons) == (Flag.suspect, ("stale",))
    assert check(2.0, received=T0 + timedelta(hours=3)) == (Flag.good, ())


def test_a_reading_from_the_future_fails() -> None:
    flag, reasons = check(2.0, received=T0 - timedelta(hours=1))
    assert (flag, reasons) == (Flag.fail, ("future",))


def test_a_stale_missing_value_is_still_missing() -> None:
    assert check(None, received=T0 + timedelta(days=30)) == (Flag.missing, ("stale", "missing"))


@given(
    st.floats(-1.5, 11.5, allow_nan=False),
    st.lists(st.floats(-1.5, 11.5, allow_nan=False), max_size=30),
)
def test_flags_are_qartod_codes_and_reasons_explain_them(
    value: float, history: list[float]
) -> None:
    flag, reasons = check(value, hourly(history))
    assert flag in (Flag.good, Flag.suspect, Flag.fail)
    assert (flag is Flag.good) == (reasons == ())


@given(
    st.floats(-1.5, 11.5, allow_nan=False),
    st.lists(st.floats(-1.5, 11.5, allow_nan=False), min_size=1, max_size=5),
    st.integers(1, 8),
)
def test_spike_is_judged_against_the_median_of_the_last_three_values_in_the_window(
    value: float, history: list[float], hours_apart: int
) -> None:
    earlier = [
        (T0 - timedelta(hours=hours_apart * (len(history) - i)), v) for i, v in enumerate(history)
    ]
    assert LEVEL.spike_suspect is not None
    assert LEVEL.spike_fail is not None
    window = [v for at, v in earlier[-3:] if at >= T0 - LEVEL.spike_window]
    flag, reasons = check(value, earlier)
    if not window:
        assert "spike" not in reasons
        return
    distance = abs(value - statistics.median(window))
    assert ("spike" in reasons) == (distance > LEVEL.spike_suspect)
    if distance > LEVEL.spike_fail:
        assert flag is Flag.fail
