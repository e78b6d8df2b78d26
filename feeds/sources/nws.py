"""US National Weather Service observations (api.weather.gov): wind, gusts and rain of a station.

Each value is `{unitCode, value, qualityControl}` with WMO unit codes (`wmoUnit:km_h-1`,
`wmoUnit:m`); a null value is missing. The latest-observation endpoint answers a Feature; an
observation list answers a FeatureCollection whose features may carry no values at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from canhbao.config import NwsConfig
from feeds.errors import PayloadInvalid
from feeds.models import FetchResult, Observation, Parameter, number, unit_factor
from feeds.ports import FeedClient
from feeds.sources.sensorthings import parse_time

NAME = "nws"
FIELDS = {
    "windSpeed": (Parameter.wind_speed, 0),
    "windGust": (Parameter.wind_gust, 0),
    "precipitationLastHour": (Parameter.rainfall, 3600),
}
# NWS quality codes: Z not checked, C coarse-passed, S screened, V verified, X rejected,
# Q questioned, B subjective, G good. Rejected values are not carried as readings.
_REJECTED = frozenset({"X"})


def parse(payload: Any, *, source_id: str) -> tuple[tuple[Observation, ...], tuple[str, ...]]:
    """An observation Feature, or a FeatureCollection of them, as our observations."""
    if not isinstance(payload, Mapping):
        raise PayloadInvalid("observations: expected a GeoJSON object")
    if payload.get("type") == "FeatureCollection":
        features = payload.get("features")
        if not isinstance(features, list):
            raise PayloadInvalid("observations: FeatureCollection without features")
    else:
        features = [payload]
    observations: list[Observation] = []
    quirks: list[str] = []
    for index, feature in enumerate(features):
        properties = feature.get("properties") if isinstance(feature, Mapping) else None
        if not isinstance(properties, Mapping):
            raise PayloadInvalid(f"observation {index}: no properties")
        if "timestamp" not in properties:
            quirks.append(f"observation {index}: no timestamp or values; skipped")
            continue
        observed_at = parse_time(properties["timestamp"], f"observation {index} timestamp")
        for field, (parameter, interval_s) in FIELDS.items():
            quantity = properties.get(field)
            if not isinstance(quantity, Mapping):
                continue
            observations.append(
                _observation(source_id, parameter, observed_at, quantity, interval_s, quirks)
            )
    return tuple(observations), tuple(quirks)


def _observation(
    source_id: str,
    parameter: Parameter,
    observed_at: datetime,
    quantity: Mapping[str, Any],
    interval_s: int,
    quirks: list[str],
) -> Observation:
    value = number(quantity.get("value"), f"{source_id} {parameter.value}")
    code = str(quantity.get("qualityControl") or "")
    note = ""
    if value is not None and code in _REJECTED:
        quirks.append(f"{source_id} {parameter.value}: rejected by NWS QC ({code})")
        value, note = None, f"NWS qualityControl {code}"
    if value is not None:
        unit = str(quantity.get("unitCode") or "")
        try:
            value = round(value * unit_factor(unit, parameter), 6)
        except PayloadInvalid as err:
            quirks.append(f"{source_id}: {err}")
            value, note = None, f"unknown unit {unit}"
    return Observation(source_id, parameter, observed_at, value, interval_s=interval_s, note=note)


class NwsSource:
    name = NAME

    def __init__(self, config: NwsConfig, source_ids: Sequence[str]) -> None:
        self._config = config
        self._source_ids = tuple(source_ids)

    async def fetch(self, client: FeedClient, now: datetime) -> FetchResult:
        observations: list[Observation] = []
        quirks: list[str] = []
        base = self._config.base_url.rstrip("/")
        # api.weather.gov refuses requests without a User-Agent naming a contact.
        headers = {"User-Agent": self._config.user_agent, "Accept": "application/geo+json"}
        for source_id in self._source_ids:
            response = await client.get(
                f"{base}/stations/{source_id}/observations/latest",
                headers=headers,
                conditional=True,
            )
            if response is None:
                continue
            found, problems = parse(response.json(), source_id=source_id)
            observations.extend(found)
            quirks.extend(problems)
        return FetchResult(observations=tuple(observations), quirks=tuple(quirks))
