"""UK Environment Agency flood-monitoring API: measures with their latest reading, and stations.

Its real quirks are handled, never fatal: arrays where scalars belong (a station with two labels
and two positions), a `latestReading.value` that is a list, measures with no `latestReading`,
"latest" readings weeks old (left to the QC's data-reception test), off-grid timestamps, level
measures whose unit is `---`, `mm`, `m/s` or `m3/s`, and a `stageScale` that is a URI string.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from canhbao.config import EaConfig
from feeds.errors import PayloadInvalid
from feeds.models import CatalogueEntry, FetchResult, Observation, Parameter, number, unit_factor
from feeds.ports import FeedClient
from feeds.sources.sensorthings import parse_time

NAME = "ea"
_PARAMETERS = {"level": Parameter.water_level, "rainfall": Parameter.rainfall}


def _items(payload: Any, what: str) -> list[Any]:
    if not isinstance(payload, Mapping) or not isinstance(payload.get("items"), list):
        raise PayloadInvalid(f"{what}: expected an object with an 'items' list")
    return list(payload["items"])


def _scalar(value: Any, name: str, where: str, quirks: list[str]) -> Any:
    """EA sometimes sends a list where one value belongs; take the first and say so."""
    if isinstance(value, list):
        quirks.append(f"{where}: {name} is a list of {len(value)}; first taken")
        return value[0] if value else None
    return value


def parse_measures(payload: Any) -> tuple[tuple[Observation, ...], tuple[str, ...]]:
    """`/id/measures?...` items with `latestReading`, as observations keyed by measure notation."""
    observations: list[Observation] = []
    quirks: list[str] = []
    for index, item in enumerate(_items(payload, "measures")):
        if not isinstance(item, Mapping):
            raise PayloadInvalid(f"measures item {index}: not an object")
        notation = str(item.get("notation") or str(item.get("@id", "")).rsplit("/", 1)[-1])
        parameter = _PARAMETERS.get(str(item.get("parameter")))
        if parameter is None:
            quirks.append(f"{notation}: parameter {item.get('parameter')!r} not read")
            continue
        reading = item.get("latestReading")
        if reading is None:
            quirks.append(f"{notation}: no latestReading")
            continue
        if isinstance(reading, str):
            # A bare URI instead of the embedded object: the reading is elsewhere.
            quirks.append(f"{notation}: latestReading is a link, not a reading")
            continue
        if not isinstance(reading, Mapping):
            raise PayloadInvalid(f"{notation}: latestReading is {type(reading).__name__}")
        unit = str(item.get("unitName") or "")
        try:
            factor = unit_factor(unit, parameter)
        except PayloadInvalid:
            quirks.append(f"{notation}: unit {unit!r} is not a {parameter.value}; skipped")
            continue
        observed_at = parse_time(reading.get("dateTime"), f"{notation} dateTime")
        raw = reading.get("value")
        note = ""
        if isinstance(raw, list):
            # Two values for one instant: nothing says which is right, so neither is used.
            quirks.append(f"{notation}: value is a list {raw}; stored as missing")
            note = f"ambiguous value {raw}"
            value = None
        else:
            value = number(raw, f"{notation} value")
        if observed_at.second or observed_at.minute % 15:
            quirks.append(f"{notation}: off-grid time {observed_at:%H:%M:%S}")
        period = item.get("period")
        rainfall = parameter is Parameter.rainfall
        interval_s = period if rainfall and isinstance(period, int) else 0
        observations.append(
            Observation(
                notation,
                parameter,
                observed_at,
                None if value is None else round(value * factor, 6),
                interval_s=interval_s,
                note=note,
            )
        )
    return tuple(observations), tuple(quirks)


def parse_stations(payload: Any) -> tuple[tuple[CatalogueEntry, ...], tuple[str, ...]]:
    """`/id/stations?...`: name, river, position, measures and stage scale of each station."""
    entries: list[CatalogueEntry] = []
    quirks: list[str] = []
    for index, item in enumerate(_items(payload, "stations")):
        if not isinstance(item, Mapping):
            raise PayloadInvalid(f"stations item {index}: not an object")
        notation = str(item.get("notation") or item.get("stationReference") or "")
        if not notation:
            quirks.append(f"station {index}: no notation")
            continue
        label = _scalar(item.get("label"), "label", notation, quirks)
        lat = number(_scalar(item.get("lat"), "lat", notation, quirks), f"{notation} lat")
        lon = number(_scalar(item.get("long"), "long", notation, quirks), f"{notation} long")
        scale = item.get("stageScale")
        details: dict[str, Any] = {}
        if isinstance(scale, Mapping):
            details["typical_range_low"] = number(scale.get("typicalRangeLow"), f"{notation} low")
            details["typical_range_high"] = number(
                scale.get("typicalRangeHigh"), f"{notation} high"
            )
            record = scale.get("maxOnRecord")
            if isinstance(record, Mapping):
                details["max_on_record"] = number(record.get("value"), f"{notation} max")
        elif isinstance(scale, str):
            quirks.append(f"{notation}: stageScale is a link, not a scale")
        measures = item.get("measures")
        if isinstance(measures, list):
            details["measures"] = [
                str(m.get("@id", "")).rsplit("/", 1)[-1] for m in measures if isinstance(m, Mapping)
            ]
        entries.append(
            CatalogueEntry(
                source_id=notation,
                name=str(label or ""),
                lat=lat,
                lon=lon,
                river=str(_scalar(item.get("riverName"), "riverName", notation, quirks) or ""),
                details=details,
            )
        )
    return tuple(entries), tuple(quirks)


class EaSource:
    name = NAME

    def __init__(self, config: EaConfig) -> None:
        self._config = config
        self._catalogue_at: datetime | None = None

    async def fetch(self, client: FeedClient, now: datetime) -> FetchResult:
        base = self._config.base_url.rstrip("/")
        observations: tuple[Observation, ...] = ()
        quirks: list[str] = []
        response = await client.get(
            f"{base}/id/measures?{self._config.measures_query}", conditional=True
        )
        if response is not None:
            observations, measure_quirks = parse_measures(response.json())
            quirks.extend(measure_quirks)
        catalogue: tuple[CatalogueEntry, ...] = ()
        due = self._catalogue_at is None or now - self._catalogue_at >= timedelta(
            seconds=self._config.catalogue_interval_s
        )
        if self._config.stations_query and due:
            # The station list changes rarely; ask only when it did (ETag / Last-Modified).
            listed = await client.get(
                f"{base}/id/stations?{self._config.stations_query}", conditional=True
            )
            if listed is not None:
                catalogue, station_quirks = parse_stations(listed.json())
                quirks.extend(station_quirks)
            self._catalogue_at = now
        return FetchResult(observations=observations, catalogue=catalogue, quirks=tuple(quirks))
