"""The station registry's rules: building a Station from config.toml or an API body, checked."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from canhbao.config import StationConfig
from feeds.errors import StationInvalid
from feeds.models import Station, StationKind, Thresholds

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
_THRESHOLD_KEYS = ("bao_dong1", "bao_dong2", "bao_dong3", "historic")
# What an API body may set, with the types it must have.
FIELDS: Mapping[str, tuple[type, ...]] = {
    "id": (str,),
    "name": (str,),
    "kind": (str,),
    "lat": (int, float),
    "lon": (int, float),
    "source": (str,),
    "source_id": (str,),
    "river": (str,),
    "bao_dong1": (int, float, type(None)),
    "bao_dong2": (int, float, type(None)),
    "bao_dong3": (int, float, type(None)),
    "historic": (int, float, type(None)),
    "reporting_period_s": (int,),
    "max_rate_m_per_h": (int, float),
    "hysteresis_m": (int, float),
    "gross_min": (int, float, type(None)),
    "gross_max": (int, float, type(None)),
}


def build_station(fields: Mapping[str, Any], sources: Iterable[str]) -> Station:
    """A checked Station from a mapping of FIELDS; StationInvalid names the offending field."""
    for key, value in fields.items():
        kinds = FIELDS.get(key)
        if kinds is None:
            raise StationInvalid(f"{key}: unknown field", field=key)
        if isinstance(value, bool) or not isinstance(value, kinds):
            raise StationInvalid(f"{key}: wrong type {type(value).__name__}", field=key)
        if isinstance(value, float) and not math.isfinite(value):
            raise StationInvalid(f"{key}: not a finite number", field=key)
    for key in ("id", "name", "kind", "lat", "lon", "source"):
        if key not in fields:
            raise StationInvalid(f"{key}: required", field=key)
    station_id = fields["id"]
    if not _ID.match(station_id):
        raise StationInvalid(
            "id: 1-64 letters, digits, '_', '.', ':' or '-', starting with a letter or digit",
            field="id",
        )
    try:
        kind = StationKind(fields["kind"])
    except ValueError:
        listed = ", ".join(k.value for k in StationKind)
        raise StationInvalid(f"kind: one of {listed}", field="kind") from None
    if not -90 <= fields["lat"] <= 90:
        raise StationInvalid("lat: must be within -90..90", field="lat")
    if not -180 <= fields["lon"] <= 180:
        raise StationInvalid("lon: must be within -180..180", field="lon")
    known = set(sources)
    if fields["source"] not in known:
        raise StationInvalid(f"source: one of {', '.join(sorted(known))}", field="source")
    thresholds = _thresholds(fields, kind)
    period = fields.get("reporting_period_s", 3600)
    if period <= 0:
        raise StationInvalid("reporting_period_s: must be positive", field="reporting_period_s")
    for key in ("max_rate_m_per_h", "hysteresis_m"):
        if fields.get(key, 0) < 0:
            raise StationInvalid(f"{key}: must not be negative", field=key)
    low, high = fields.get("gross_min"), fields.get("gross_max")
    if low is not None and high is not None and low >= high:
        raise StationInvalid("gross_max: must be above gross_min", field="gross_max")
    return Station(
        id=station_id,
        name=fields["name"].strip() or station_id,
        kind=kind,
        lat=float(fields["lat"]),
        lon=float(fields["lon"]),
        source=fields["source"],
        source_id=fields.get("source_id") or station_id,
        river=fields.get("river", "").strip(),
        thresholds=thresholds,
        reporting_period_s=period,
        max_rate_m_per_h=float(fields.get("max_rate_m_per_h", 0.5)),
        hysteresis_m=float(fields.get("hysteresis_m", 0.10)),
        gross_min=None if low is None else float(low),
        gross_max=None if high is None else float(high),
    )


def _thresholds(fields: Mapping[str, Any], kind: StationKind) -> Thresholds | None:
    given = {key: fields.get(key) for key in _THRESHOLD_KEYS}
    levels = [given[key] for key in _THRESHOLD_KEYS[:3]]
    if all(level is None for level in levels):
        if given["historic"] is not None:
            raise StationInvalid("historic: needs bao_dong1..3 as well", field="historic")
        return None
    if kind is not StationKind.river_level:
        raise StationInvalid(
            "bao_dong1: only river_level stations have báo động levels", field="bao_dong1"
        )
    missing = [key for key, level in zip(_THRESHOLD_KEYS, levels, strict=False) if level is None]
    if missing:
        raise StationInvalid(f"{missing[0]}: give all three báo động levels", field=missing[0])
    bd1, bd2, bd3 = (float(level) for level in levels if level is not None)
    historic = given["historic"]
    thresholds = Thresholds(bd1, bd2, bd3, None if historic is None else float(historic))
    thresholds.check()
    return thresholds


def from_config(config: StationConfig, sources: Iterable[str]) -> Station:
    return build_station(dataclasses.asdict(config), sources)


def as_fields(station: Station) -> dict[str, Any]:
    """A station as the API shows it and as build_station takes it back."""
    t = station.thresholds
    return {
        "id": station.id,
        "name": station.name,
        "kind": station.kind.value,
        "lat": station.lat,
        "lon": station.lon,
        "source": station.source,
        "source_id": station.source_id,
        "river": station.river,
        "bao_dong1": t.bao_dong1 if t else None,
        "bao_dong2": t.bao_dong2 if t else None,
        "bao_dong3": t.bao_dong3 if t else None,
        "historic": t.historic if t else None,
        "reporting_period_s": station.reporting_period_s,
        "max_rate_m_per_h": station.max_rate_m_per_h,
        "hysteresis_m": station.hysteresis_m,
        "gross_min": station.gross_min,
        "gross_max": station.gross_max,
    }
