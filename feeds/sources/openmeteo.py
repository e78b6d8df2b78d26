"""Open-Meteo forecast: hourly rain and wind for configured stations' locations.

Times come local (ISO without offset) with `utc_offset_seconds`; wind is asked for in m/s
(`wind_speed_unit=ms`) but converted from whatever `hourly_units` says; precipitation and gusts
cover the hour before each time. Several points in one request come back as a list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from canhbao.config import OpenMeteoConfig
from feeds.errors import PayloadInvalid
from feeds.models import FetchResult, Forecast, Parameter, Station, number, unit_factor
from feeds.ports import FeedClient

NAME = "openmeteo"
HOURLY = {
    "precipitation": Parameter.rainfall,
    "wind_speed_10m": Parameter.wind_speed,
    "wind_gusts_10m": Parameter.wind_gust,
}


def parse(payload: Any, source_ids: Sequence[str]) -> tuple[Forecast, ...]:
    """A forecast answer (one object, or a list for several points) as hourly forecasts."""
    points = payload if isinstance(payload, list) else [payload]
    if len(points) != len(source_ids):
        raise PayloadInvalid(f"forecast: {len(points)} locations for {len(source_ids)} asked")
    forecasts: list[Forecast] = []
    for source_id, point in zip(source_ids, points, strict=True):
        forecasts.extend(_parse_point(point, source_id))
    return tuple(forecasts)


def _parse_point(point: Any, source_id: str) -> list[Forecast]:
    if not isinstance(point, Mapping):
        raise PayloadInvalid(f"forecast {source_id}: expected an object")
    if point.get("error"):
        raise PayloadInvalid(f"forecast {source_id}: {point.get('reason') or 'error'}")
    offset = point.get("utc_offset_seconds")
    hourly, units = point.get("hourly"), point.get("hourly_units")
    if not isinstance(offset, int) or not isinstance(hourly, Mapping):
        raise PayloadInvalid(f"forecast {source_id}: no utc_offset_seconds or hourly block")
    units = units if isinstance(units, Mapping) else {}
    times = hourly.get("time")
    if not isinstance(times, list):
        raise PayloadInvalid(f"forecast {source_id}: hourly.time is not a list")
    zone = timedelta(seconds=offset)
    moments = [_local_time(text, zone, source_id) for text in times]
    forecasts: list[Forecast] = []
    for key, parameter in HOURLY.items():
        values = hourly.get(key)
        if values is None:
            continue
        if not isinstance(values, list) or len(values) != len(moments):
            raise PayloadInvalid(f"forecast {source_id}: hourly.{key} does not match the times")
        factor = unit_factor(str(units.get(key, "")), parameter)
        for moment, raw in zip(moments, values, strict=True):
            value = number(raw, f"forecast {source_id} {key}")
            forecasts.append(
                Forecast(
                    source_id,
                    parameter,
                    moment,
                    None if value is None else round(value * factor, 3),
                )
            )
    return forecasts


def _local_time(text: Any, zone: timedelta, source_id: str) -> datetime:
    if not isinstance(text, str):
        raise PayloadInvalid(f"forecast {source_id}: time {text!r} is not a string")
    try:
        naive = datetime.fromisoformat(text)
    except ValueError:
        raise PayloadInvalid(f"forecast {source_id}: time {text!r} is not ISO 8601") from None
    if naive.tzinfo is not None:
        return naive.astimezone(UTC)
    return (naive - zone).replace(tzinfo=UTC)


class OpenMeteoSource:
    """One request for every configured point; forecasts are keyed by our station id."""

    name = NAME

    def __init__(self, config: OpenMeteoConfig, stations: Sequence[Station]) -> None:
        self._config = config
        self._stations = tuple(stations)

    async def fetch(self, client: FeedClient, now: datetime) -> FetchResult:
        if not self._stations:
            return FetchResult()
        params = {
            "latitude": ",".join(f"{s.lat:.4f}" for s in self._stations),
            "longitude": ",".join(f"{s.lon:.4f}" for s in self._stations),
            "hourly": ",".join(HOURLY),
            "wind_speed_unit": "ms",
            "precipitation_unit": "mm",
            "timezone": "Asia/Bangkok",  # GMT+7 like Huế; the offset in the answer is what counts
            "forecast_days": str(self._config.forecast_days),
        }
        response = await client.get(self._config.base_url, params=params)
        if response is None:
            return FetchResult(not_modified=True)
        forecasts = parse(response.json(), [s.id for s in self._stations])
        return FetchResult(forecasts=forecasts)
