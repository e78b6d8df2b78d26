"""Derived levels: báo động bands, trend, rain totals and the rain day, cấp gió, cấp độ rủi ro.

Pure functions over values and thresholds; the facts behind them are in DESIGN.md
("River alarm levels", "Disaster risk levels", "Rain", "Wind").
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import IntEnum
from typing import Literal

from canhbao.clock import LOCAL_TZ
from feeds.models import Thresholds

# -- báo động (alarm level) bands -------------------------------------------------------------


def band(value: float, thresholds: Thresholds) -> int:
    """0 below BĐ I, 1 from BĐ I, 2 from BĐ II, 3 from BĐ III, 4 from the historic flood level.

    A value exactly on a threshold is in the band above it, as VNDMS shows it ("Trên BĐ1" at
    1.00 m at Kim Long).
    """
    return bisect.bisect_right(thresholds.levels(), value)


def band_with_hysteresis(value: float, thresholds: Thresholds, hysteresis: float) -> int:
    """The band a falling river is still held in: every threshold is lowered by `hysteresis`."""
    return bisect.bisect_right(lowered(thresholds, hysteresis), value)


def lowered(thresholds: Thresholds, hysteresis: float) -> tuple[float, ...]:
    """Band edges lowered by the hysteresis margin."""
    # Rounded to the micrometre: 2.0 - 0.1 must equal the 1.9 a gauge reports, not a float
    # error away from it.
    return tuple(round(level - hysteresis, 6) for level in thresholds.levels())


@dataclass(frozen=True, slots=True)
class Margin:
    """How far the river is below the next band (None past the last one)."""

    next_band: int
    metres: float


def margin_to_next(value: float, thresholds: Thresholds) -> Margin | None:
    levels = thresholds.levels()
    current = band(value, thresholds)
    if current >= len(levels):
        return None
    return Margin(current + 1, round(levels[current] - value, 3))


# -- trend --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Trend:
    direction: Literal["rising", "falling", "steady"]
    rate_m_per_h: float


def trend(
    points: Sequence[tuple[datetime, float]],
    *,
    window: timedelta = timedelta(hours=3),
    steady_below_m_per_h: float = 0.02,
) -> Trend | None:
    """Least-squares slope over the last `window` of (observed_at, value) points, in m/h.

    None with fewer than two points in the window: one reading has no direction.
    """
    if not points:
        return None
    latest = max(at for at, _ in points)
    recent = [(at, v) for at, v in points if at >= latest - window]
    if len(recent) < 2:
        return None
    hours = [(at - latest).total_seconds() / 3600 for at, _ in recent]
    values = [v for _, v in recent]
    mean_h = sum(hours) / len(hours)
    mean_v = sum(values) / len(values)
    spread = sum((h - mean_h) ** 2 for h in hours)
    if spread == 0:
        return None
    slope = sum((h - mean_h) * (v - mean_v) for h, v in zip(hours, values, strict=True)) / spread
    rate = round(slope, 3)
    if abs(slope) < steady_below_m_per_h:
        return Trend("steady", rate)
    return Trend("rising" if slope > 0 else "falling", rate)


# -- rain -------------------------------------------------------------------------------------

RAIN_WINDOWS_H = (1, 3, 6, 12, 24)
RAIN_DAY_ENDS = time(19, 0)  # the Vietnamese rain day runs 19:00 → 19:00 local


def rain_totals(
    points: Iterable[tuple[datetime, float]],
    now: datetime,
    hours: Sequence[int] = RAIN_WINDOWS_H,
) -> dict[int, float]:
    """Millimetres fallen in the last 1, 3, 6, 12 and 24 h before `now`.

    Each point is an accumulation ending at its time; it counts when its end is inside
    (now - h, now]. Readings come hourly or finer, so a window is off by at most one interval.
    """
    totals = dict.fromkeys(hours, 0.0)
    for at, mm in points:
        age = now - at
        if age < timedelta(0):
            continue
        for h in hours:
            if age < timedelta(hours=h):
                totals[h] += mm
    return {h: round(total, 2) for h, total in totals.items()}


def rain_day(moment: datetime) -> date:
    """The rain day `moment` falls in, named by the date it ends on (19:00 local that day)."""
    local = moment.astimezone(LOCAL_TZ)
    return local.date() + timedelta(days=1) if local.time() >= RAIN_DAY_ENDS else local.date()


def rain_day_bounds(day: date) -> tuple[datetime, datetime]:
    """The instants (aware) a rain day runs between: 19:00 local the day before to 19:00."""
    end = datetime.combine(day, RAIN_DAY_ENDS, tzinfo=LOCAL_TZ)
    return end - timedelta(days=1), end


class RainCategory(IntEnum):
    """Rain by amount: none, mưa vừa (moderate), mưa to (heavy), mưa rất to (very heavy)."""

    none = 0
    mua_vua = 1
    mua_to = 2
    mua_rat_to = 3


RAIN_NAMES = {
    RainCategory.none: "",
    RainCategory.mua_vua: "mưa vừa",
    RainCategory.mua_to: "mưa to",
    RainCategory.mua_rat_to: "mưa rất to",
}


def rain_category_24h(total_mm: float) -> RainCategory:
    """Per 24 h: mưa vừa 16-50 mm, mưa to 51-100 mm, mưa rất to over 100 mm."""
    return _rain_category(total_mm, 16, 50, 100)


def rain_category_12h(total_mm: float) -> RainCategory:
    """Per 12 h: mưa vừa 8-25 mm, mưa to 26-50 mm, mưa rất to over 50 mm."""
    return _rain_category(total_mm, 8, 25, 50)


def _rain_category(
    total_mm: float, moderate_from: float, heavy_over: float, very_heavy_over: float
) -> RainCategory:
    if total_mm > very_heavy_over:
        return RainCategory.mua_rat_to
    if total_mm > heavy_over:
        return RainCategory.mua_to
    if total_mm >= moderate_from:
        return RainCategory.mua_vua
    return RainCategory.none


def intense_rain(total_3h_mm: float) -> bool:
    """Mưa cường độ lớn (intense rain): over 100 mm in 3 h."""
    return total_3h_mm > 100


# -- wind ---------------------------------------------------------------------------------------

# Lower bound in m/s of each cấp gió (Beaufort at 10 m), 0 to 17; cấp 17 runs to 61.2 m/s.
CAP_GIO_FROM = (0.0, 0.3, 1.6, 3.4, 5.5, 8.0, 10.8, 13.9, 17.2, 20.8, 24.5, 28.5, 32.7, 37.0,
                41.5, 46.2, 51.0, 56.1)  # fmt: skip


def cap_gio(speed_ms: float) -> int:
    """Cấp gió (wind level) of a sustained speed or a gust in m/s; above 61.2 m/s stays 17."""
    return max(0, bisect.bisect_right(CAP_GIO_FROM, speed_ms) - 1)


class WindCategory(IntEnum):
    """Tropical cyclone classes by cấp gió."""

    none = 0
    ap_thap_nhiet_doi = 1  # tropical depression, cấp 6-7
    bao = 2  # storm, cấp 8-9
    bao_manh = 3  # strong storm, cấp 10-11
    bao_rat_manh = 4  # very strong storm, cấp 12-15
    sieu_bao = 5  # super typhoon, cấp 16 and up


WIND_NAMES = {
    WindCategory.none: "",
    WindCategory.ap_thap_nhiet_doi: "áp thấp nhiệt đới",
    WindCategory.bao: "bão",
    WindCategory.bao_manh: "bão mạnh",
    WindCategory.bao_rat_manh: "bão rất mạnh",
    WindCategory.sieu_bao: "siêu bão",
}


def wind_category(cap: int) -> WindCategory:
    if cap >= 16:
        return WindCategory.sieu_bao
    if cap >= 12:
        return WindCategory.bao_rat_manh
    if cap >= 10:
        return WindCategory.bao_manh
    if cap >= 8:
        return WindCategory.bao
    if cap >= 6:
        return WindCategory.ap_thap_nhiet_doi
    return WindCategory.none


# -- cấp độ rủi ro (disaster risk level) ------------------------------------------------------

RISK_COLOURS = {1: "light blue", 2: "light yellow", 3: "orange", 4: "red", 5: "purple"}


def cap_do_rui_ro(value: float, thresholds: Thresholds, *, concurrent_hazard: bool = False) -> int:
    """River-flood risk level (QĐ 18/2021/QĐ-TTg); 0 when the river is below BĐ I.

    BĐ I to below BĐ III → 1; BĐ III up to BĐ III + 1 m → 2; higher → 3. A concurrent hazard
    (heavy rain, a storm) raises it by one, to at most 5. The QĐ grades level 3 and up further
    by river region, which a single gauge cannot know; the committee raises it by hand.
    """
    if value < thresholds.bao_dong1:
        return 0
    if value < thresholds.bao_dong3:
        level = 1
    elif value <= thresholds.bao_dong3 + 1.0:
        level = 2
    else:
        level = 3
    return min(5, level + 1) if concurrent_hazard else level
