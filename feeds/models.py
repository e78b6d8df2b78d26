"""Stations, readings, parameters and units: the feeds domain's frozen types, no I/O."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any, NamedTuple

from feeds.errors import PayloadInvalid, StationInvalid


class Parameter(StrEnum):
    """What a reading measures; each has one unit we store it in (UNITS)."""

    water_level = "water_level"
    rainfall = "rainfall"  # mm fallen over the reading's interval, ending at observed_at
    wind_speed = "wind_speed"  # sustained wind at 10 m
    wind_gust = "wind_gust"  # gió giật (gusts)
    flood_depth = "flood_depth"  # water on a road or in a street, above ground


UNITS: Mapping[Parameter, str] = {
    Parameter.water_level: "m",
    Parameter.rainfall: "mm",
    Parameter.wind_speed: "m/s",
    Parameter.wind_gust: "m/s",
    Parameter.flood_depth: "m",
}


class StationKind(StrEnum):
    river_level = "river_level"
    rain_gauge = "rain_gauge"
    wind = "wind"
    flood_depth = "flood_depth"


KIND_PARAMETERS: Mapping[StationKind, tuple[Parameter, ...]] = {
    StationKind.river_level: (Parameter.water_level,),
    StationKind.rain_gauge: (Parameter.rainfall,),
    StationKind.wind: (Parameter.wind_speed, Parameter.wind_gust),
    StationKind.flood_depth: (Parameter.flood_depth,),
}


class Flag(IntEnum):
    """QARTOD quality flags."""

    good = 1
    not_evaluated = 2
    suspect = 3
    fail = 4
    missing = 9


@dataclass(frozen=True, slots=True)
class Thresholds:
    """A river station's báo động (alarm) levels, BĐ I < BĐ II < BĐ III, and its historic flood."""

    bao_dong1: float
    bao_dong2: float
    bao_dong3: float
    historic: float | None = None

    def levels(self) -> tuple[float, ...]:
        """The lower edge of bands 1, 2, 3 (and 4: above the historic flood, when known)."""
        base = (self.bao_dong1, self.bao_dong2, self.bao_dong3)
        return base if self.historic is None else (*base, self.historic)

    def check(self) -> None:
        levels = self.levels()
        names = ("bao_dong1", "bao_dong2", "bao_dong3", "historic")
        for name, value in zip(names, levels, strict=False):
            if not math.isfinite(value):
                raise StationInvalid(f"{name}: not a finite number", field=name)
        for name, (low, high) in zip(names[1:], itertools.pairwise(levels), strict=False):
            if high <= low:
                raise StationInvalid(
                    f"{name}: thresholds must rise: bao_dong1 < bao_dong2 < bao_dong3 < historic",
                    field=name,
                )


@dataclass(frozen=True, slots=True)
class Station:
    """A monitoring station we watch, and where its readings come from."""

    id: str
    name: str
    kind: StationKind
    lat: float
    lon: float
    source: str  # a registered source name, or "ingest" for loggers that push
    source_id: str  # the station's id at that source
    river: str = ""
    thresholds: Thresholds | None = None
    # How often the station normally reports; data reception (staleness) is judged against it.
    reporting_period_s: int = 3600
    # Rate-of-change QC limit for water level and flood depth, metres per hour.
    max_rate_m_per_h: float = 0.5
    # How far under a threshold a river must fall before its band is left (hysteresis).
    hysteresis_m: float = 0.10
    # Gross-range QC: values outside [gross_min, gross_max] fail; None takes the parameter's
    # sensor limits (quality.SENSOR_LIMITS).
    gross_min: float | None = None
    gross_max: float | None = None

    @property
    def parameters(self) -> tuple[Parameter, ...]:
        return KIND_PARAMETERS[self.kind]


class Observation(NamedTuple):
    """One value as a source reported it, already converted to our unit and to UTC.

    Immutable like the frozen dataclasses here, but a NamedTuple: a parse builds one per value,
    and a tuple is built three times faster (bench.feeds).
    """

    source_id: str
    parameter: Parameter
    observed_at: datetime
    value: float | None  # None: the upstream said it is missing (a gap, a sentinel)
    interval_s: int = 0  # rainfall: the accumulation period ending at observed_at
    note: str = ""  # a quirk of this value, kept as a QC reason
    # When it reached us, if the source knows better than the batch (a replay plays each value
    # as received on time, however many a poll catches up on).
    received_at: datetime | None = None


# Levels whose values QC judges against their own history (spike, rate, flat line): a value
# beyond the plausible range (suspect "gross_range", e.g. centimetres sent as metres) is kept
# out of that history and drives no alarm, so it can never make later genuine readings look
# like spikes. Rain and wind are not guarded: an extreme hour of rain still counts in totals.
RANGE_GUARDED = frozenset({Parameter.water_level, Parameter.flood_depth})


@dataclass(frozen=True, slots=True)
class Reading:
    """One normalised, quality-checked reading of one station."""

    station_id: str
    parameter: Parameter
    observed_at: datetime
    value: float | None
    flag: Flag
    source: str
    ingested_at: datetime
    interval_s: int = 0
    reasons: tuple[str, ...] = ()

    @property
    def stale(self) -> bool:
        return "stale" in self.reasons

    @property
    def drives_alarms(self) -> bool:
        """Only fresh readings that did not fail QC may move a band or raise an event, and of a
        level, none beyond what is plausible (see RANGE_GUARDED)."""
        return (
            self.value is not None
            and self.flag not in (Flag.fail, Flag.missing)
            and not self.stale
            and not (self.parameter in RANGE_GUARDED and "gross_range" in self.reasons)
        )


@dataclass(frozen=True, slots=True)
class Forecast:
    """A forecast value for a point, valid over the interval ending at valid_at."""

    source_id: str
    parameter: Parameter
    valid_at: datetime
    value: float | None
    interval_s: int = 3600


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    """A station as an upstream lists it, for staff to pick from when adding stations."""

    source_id: str
    name: str
    lat: float | None
    lon: float | None
    river: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one fetch of a source produced; `quirks` are upstream oddities handled on the way."""

    observations: tuple[Observation, ...] = ()
    forecasts: tuple[Forecast, ...] = ()
    catalogue: tuple[CatalogueEntry, ...] = ()
    quirks: tuple[str, ...] = ()
    # When the source saw these values; a replay plays its own time here, else it is the clock's.
    received_at: datetime | None = None
    not_modified: bool = False


# Unit spellings seen upstream, mapped to a factor onto our unit. Level-like parameters are
# stored in metres, rain in millimetres, wind in metres per second.
_LENGTH_TO_M = {
    "m": 1.0,
    "metre": 1.0,
    "meter": 1.0,
    "metres": 1.0,
    "meters": 1.0,
    "masd": 1.0,  # EA: metres above staff datum
    "maod": 1.0,  # EA: metres above ordnance datum
    "cm": 0.01,
    "centimetre": 0.01,
    "centimeter": 0.01,
    "mm": 0.001,
    "millimetre": 0.001,
    "millimeter": 0.001,
    "ft": 0.3048,
    "feet": 0.3048,
    "foot": 0.3048,
    "in": 0.0254,
    "inch": 0.0254,
}
_RAIN_TO_MM = {"mm": 1.0, "millimetre": 1.0, "millimeter": 1.0, "cm": 10.0, "m": 1000.0,
               "in": 25.4, "inch": 25.4}  # fmt: skip
_SPEED_TO_MS = {
    "m/s": 1.0,
    "ms": 1.0,
    "m_s-1": 1.0,
    "mps": 1.0,
    "km/h": 1 / 3.6,
    "kmh": 1 / 3.6,
    "km_h-1": 1 / 3.6,
    "kph": 1 / 3.6,
    "mph": 0.44704,
    "mp/h": 0.44704,
    "kn": 0.514444,
    "kt": 0.514444,
    "knots": 0.514444,
}
_FACTORS: Mapping[Parameter, Mapping[str, float]] = {
    Parameter.water_level: _LENGTH_TO_M,
    Parameter.flood_depth: _LENGTH_TO_M,
    Parameter.rainfall: _RAIN_TO_MM,
    Parameter.wind_speed: _SPEED_TO_MS,
    Parameter.wind_gust: _SPEED_TO_MS,
}


def unit_factor(unit: str, parameter: Parameter) -> float:
    """The factor that takes a value in `unit` to the parameter's stored unit.

    Raises PayloadInvalid for a unit that is unknown or wrong for the parameter (a discharge in
    m3/s offered as a level must not become a level).
    """
    key = unit.strip().lower().removeprefix("wmounit:").removeprefix("unit:")
    factor = _FACTORS[parameter].get(key)
    if factor is None:
        raise PayloadInvalid(f"unit {unit!r} cannot be a {parameter.value}")
    return factor


def convert(value: float, unit: str, parameter: Parameter) -> float:
    """`value` in `unit`, in the parameter's stored unit (UNITS)."""
    return value * unit_factor(unit, parameter)


def number(value: Any, where: str) -> float | None:
    """A JSON number as float, None for null; NaN, infinities and non-numbers are refused.

    A NaN means the upstream's serialiser is broken, so the whole payload is not trusted.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PayloadInvalid(f"{where}: expected a number, got {type(value).__name__}")
    result = float(value)
    if not math.isfinite(result):
        raise PayloadInvalid(f"{where}: {value!r} is not a finite number")
    return result
