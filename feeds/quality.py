"""QARTOD quality control: gross range, spike, rate of change, flat line and data reception.

Each test gives a QARTOD flag (1 good, 3 suspect, 4 fail); a reading's flag is the worst of
them, 9 when the value is missing, and its reasons name the tests that did not pass. Pure
functions: the pipeline keeps each station's recent history and passes it in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from feeds.models import Flag, Parameter, Station

# Values loggers send when they have nothing; they are missing data (flag 9), not readings.
MISSING_SENTINELS = frozenset({-9999.0, -999.0, -99.99, 9999.0, 99999.0, -99999.0})
# A reading from further in the future than this is a clock or parsing error.
FUTURE_TOLERANCE = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class QcLimits:
    """Test limits for one station's parameter. None switches a test off."""

    fail_min: float
    fail_max: float
    suspect_min: float | None = None
    suspect_max: float | None = None
    # Spike: distance from the median of the previous three values (within spike_window).
    spike_suspect: float | None = None
    spike_fail: float | None = None
    spike_window: timedelta = timedelta(hours=6)
    # Rate of change against the previous value, per hour.
    max_rate_per_h: float | None = None
    # Flat line: the same value (within flat_tolerance) for this long.
    flat_suspect: timedelta | None = None
    flat_fail: timedelta | None = None
    flat_tolerance: float = 0.0005
    # Zero is where rain, flood depth and calm wind rest; a run of zeros is not a stuck sensor.
    flat_ignores_zero: bool = False
    # Data reception: older than this when received means stale.
    stale_after: timedelta = timedelta(hours=3)
    future_tolerance: timedelta = FUTURE_TOLERANCE
    # Rainfall limits are per hour of accumulation, scaled by the reading's interval.
    per_hour: bool = False


@dataclass(frozen=True, slots=True)
class SensorLimits:
    fail_min: float
    fail_max: float
    suspect_max: float | None


# What any sensor of the kind can physically report; a station narrows it in its config.
SENSOR_LIMITS: Mapping[Parameter, SensorLimits] = {
    Parameter.water_level: SensorLimits(-10.0, 100.0, None),
    Parameter.flood_depth: SensorLimits(0.0, 10.0, 3.0),
    # mm per hour: the world record is about 305 mm in one hour.
    Parameter.rainfall: SensorLimits(0.0, 400.0, 150.0),
    # m/s; cấp 17 tops out at 61.2 m/s.
    Parameter.wind_speed: SensorLimits(0.0, 100.0, 65.0),
    Parameter.wind_gust: SensorLimits(0.0, 120.0, 80.0),
}

# How many reporting periods a reading may be late before it counts as stale.
STALE_PERIODS = 3
# Below this, an interval's rate is noise over a short gap rather than the river moving.
_MIN_RATE_SPAN_H = 0.25


def limits_for(station: Station, parameter: Parameter) -> QcLimits:
    """The QC limits for one station's parameter, from its config and the parameter's defaults."""
    sensor = SENSOR_LIMITS[parameter]
    fail_min = sensor.fail_min if station.gross_min is None else station.gross_min
    fail_max = sensor.fail_max if station.gross_max is None else station.gross_max
    stale_after = timedelta(seconds=station.reporting_period_s * STALE_PERIODS)
    if parameter is Parameter.water_level:
        historic = station.thresholds.historic if station.thresholds else None
        return QcLimits(
            fail_min=fail_min,
            fail_max=fail_max,
            # Two metres over the flood of record is not impossible, but worth a second look.
            suspect_max=None if historic is None else historic + 2.0,
            spike_suspect=1.5,
            spike_fail=3.0,
            max_rate_per_h=station.max_rate_m_per_h,
            flat_suspect=timedelta(hours=12),
            flat_fail=timedelta(hours=24),
            stale_after=stale_after,
        )
    if parameter is Parameter.flood_depth:
        return QcLimits(
            fail_min=fail_min,
            fail_max=fail_max,
            suspect_max=sensor.suspect_max,
            spike_suspect=0.5,
            spike_fail=1.5,
            max_rate_per_h=max(station.max_rate_m_per_h, 1.0),
            flat_suspect=timedelta(hours=12),
            flat_fail=timedelta(hours=48),
            flat_ignores_zero=True,
            stale_after=stale_after,
        )
    if parameter is Parameter.rainfall:
        return QcLimits(
            fail_min=fail_min,
            fail_max=fail_max,
            suspect_max=sensor.suspect_max,
            flat_suspect=timedelta(hours=6),
            flat_fail=None,
            flat_ignores_zero=True,
            flat_tolerance=0.0,
            stale_after=stale_after,
            per_hour=True,
        )
    return QcLimits(
        fail_min=fail_min,
        fail_max=fail_max,
        suspect_max=sensor.suspect_max,
        flat_suspect=timedelta(hours=12),
        flat_ignores_zero=True,
        flat_tolerance=0.05,
        stale_after=stale_after,
    )


def check(
    value: float | None,
    observed_at: datetime,
    received_at: datetime,
    earlier: Sequence[tuple[datetime, float]],
    limits: QcLimits,
    *,
    interval_s: int = 0,
) -> tuple[Flag, tuple[str, ...]]:
    """The QARTOD flag of one value and the tests it did not pass.

    `earlier` holds the points of the same station and parameter before `observed_at` that did
    not fail, oldest first (the caller bounds it: a day or so is all the tests look at).
    """
    return assess(
        value, observed_at, received_at - observed_at, earlier, 0, len(earlier), limits, interval_s
    )


def assess(
    value: float | None,
    observed_at: datetime,
    lag: timedelta,
    points: Sequence[tuple[datetime, float]],
    start: int,
    end: int,
    limits: QcLimits,
    interval_s: int = 0,
) -> tuple[Flag, tuple[str, ...]]:
    """`check` for a caller that keeps a whole series in one list: the earlier points are
    `points[start:end]`, and `lag` is received_at - observed_at.

    The ingest pipeline calls this once per reading, so it copies nothing, builds no reasons
    for a good value and reads flags from module constants (an enum attribute is a lookup).
    """
    reasons: tuple[str, ...] = ()
    flag = _GOOD
    if lag > limits.stale_after:
        reasons = ("stale",)
        flag = _SUSPECT
    elif lag < -limits.future_tolerance:
        reasons = ("future",)
        flag = _FAIL
    if value is None or value in MISSING_SENTINELS:
        return _MISSING, (*reasons, "missing")

    scaled = value
    if limits.per_hour and interval_s > 3600:
        # Short accumulations are not scaled up: a five-minute burst is not an hour's rain.
        scaled = value / (interval_s / 3600)
    if not limits.fail_min <= scaled <= limits.fail_max:
        return _FAIL, (*reasons, "gross_range")
    if (limits.suspect_max is not None and scaled > limits.suspect_max) or (
        limits.suspect_min is not None and scaled < limits.suspect_min
    ):
        reasons = (*reasons, "gross_range")
        if flag < _SUSPECT:
            flag = _SUSPECT
    if end <= start:
        return flag, reasons

    # Spike: distance from the median of the previous three values (within spike_window).
    spike_suspect = limits.spike_suspect
    if spike_suspect is not None:
        first = end - 3 if end - 3 > start else start
        if end - first == 3 and observed_at - points[first][0] <= limits.spike_window:
            # The usual case, without building a list: the median of three.
            a, b, c = points[first][1], points[first + 1][1], points[end - 1][1]
            if a > b:
                a, b = b, a
            median: float | None = b if c >= b else c if c > a else a
        else:
            cutoff = observed_at - limits.spike_window
            median = _median([v for at, v in points[first:end] if at >= cutoff])
        if median is not None:
            distance = abs(value - median)
            if limits.spike_fail is not None and distance > limits.spike_fail:
                reasons = (*reasons, "spike")
                flag = _FAIL
            elif distance > spike_suspect:
                reasons = (*reasons, "spike")
                if flag < _SUSPECT:
                    flag = _SUSPECT
    # Rate of change against the previous value, per hour.
    max_rate = limits.max_rate_per_h
    if max_rate is not None:
        at, previous = points[end - 1]
        hours = (observed_at - at).total_seconds() / 3600
        if hours < _MIN_RATE_SPAN_H:
            hours = _MIN_RATE_SPAN_H
        if abs(value - previous) / hours > max_rate:
            reasons = (*reasons, "rate_of_change")
            if flag < _SUSPECT:
                flag = _SUSPECT
    # Flat line: the same value (within flat_tolerance) for too long.
    if limits.flat_suspect is not None and not (limits.flat_ignores_zero and value == 0):
        tolerance = limits.flat_tolerance
        run_start: datetime | None = None
        index = end - 1
        while index >= start:
            at, previous = points[index]
            if abs(previous - value) > tolerance:
                break
            run_start = at
            index -= 1
        if run_start is not None:
            span = observed_at - run_start
            if limits.flat_fail is not None and span >= limits.flat_fail:
                reasons = (*reasons, "flat_line")
                flag = _FAIL
            elif span >= limits.flat_suspect:
                reasons = (*reasons, "flat_line")
                if flag < _SUSPECT:
                    flag = _SUSPECT
    return flag, reasons


_GOOD, _SUSPECT, _FAIL, _MISSING = Flag.good, Flag.suspect, Flag.fail, Flag.missing


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    values.sort()
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2
