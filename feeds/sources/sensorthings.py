"""OGC SensorThings API (FROST and others): Datastreams with Thing/Locations and latest Observation.

Pages follow `@iot.nextLink`, but only on the configured server: a next link to another host is
an upstream misconfiguration (or worse) and is not followed. Units come from each Datastream's
`unitOfMeasurement` (Taiwan's Civil IoT flood-depth sensors report centimetres).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from canhbao.config import SensorThingsConfig
from feeds.errors import PayloadInvalid
from feeds.models import (
    CatalogueEntry,
    FetchResult,
    Observation,
    Parameter,
    number,
    unit_factor,
)
from feeds.ports import FeedClient

NAME = "sensorthings"
EXPAND = "Thing($expand=Locations),Observations($top=1;$orderby=phenomenonTime desc)"


@dataclass(frozen=True, slots=True)
class Page:
    observations: tuple[Observation, ...]
    catalogue: tuple[CatalogueEntry, ...]
    quirks: tuple[str, ...]
    next_link: str | None


def parse_time(text: Any, where: str) -> datetime:
    """An ISO 8601 instant, or the end of an interval "start/end"; naive times are refused."""
    if not isinstance(text, str) or not text:
        raise PayloadInvalid(f"{where}: missing time")
    end = text.split("/")[-1].strip()
    try:
        moment = datetime.fromisoformat(end.replace("Z", "+00:00"))
    except ValueError:
        raise PayloadInvalid(f"{where}: {text!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise PayloadInvalid(f"{where}: {text!r} has no time zone")
    return moment.astimezone(UTC)


def parse(payload: Any, *, parameter: Parameter) -> Page:
    """One page of `Datastreams?$expand=Thing/Locations,Observations($top=1)`."""
    if not isinstance(payload, Mapping) or not isinstance(payload.get("value"), list):
        raise PayloadInvalid("Datastreams: expected an object with a 'value' list")
    observations: list[Observation] = []
    catalogue: list[CatalogueEntry] = []
    quirks: list[str] = []
    for index, stream in enumerate(payload["value"]):
        if not isinstance(stream, Mapping) or "@iot.id" not in stream:
            quirks.append(f"datastream {index}: no @iot.id")
            continue
        source_id = str(stream["@iot.id"])
        catalogue.append(_catalogue_entry(source_id, stream))
        unit = stream.get("unitOfMeasurement")
        symbol = unit.get("symbol") or unit.get("name") if isinstance(unit, Mapping) else None
        try:
            factor = unit_factor(str(symbol), parameter) if symbol else None
        except PayloadInvalid as err:
            quirks.append(f"datastream {source_id}: {err}; skipped")
            continue
        if factor is None:
            quirks.append(f"datastream {source_id}: no unitOfMeasurement; skipped")
            continue
        latest = stream.get("Observations")
        if not isinstance(latest, Sequence) or not latest:
            quirks.append(f"datastream {source_id}: no observation")
            continue
        for observation in latest:
            if not isinstance(observation, Mapping):
                raise PayloadInvalid(f"datastream {source_id}: observation is not an object")
            observed_at = parse_time(
                observation.get("phenomenonTime") or observation.get("resultTime"),
                f"datastream {source_id} phenomenonTime",
            )
            result = observation.get("result")
            if isinstance(result, str):
                # Some servers send numbers as strings; a non-numeric string is missing data.
                try:
                    result = float(result)
                except ValueError:
                    quirks.append(f"datastream {source_id}: result {result!r} is not a number")
                    result = None
            value = number(result, f"datastream {source_id} result")
            observations.append(
                Observation(
                    source_id,
                    parameter,
                    observed_at,
                    None if value is None else round(value * factor, 6),
                )
            )
    next_link = payload.get("@iot.nextLink")
    return Page(
        tuple(observations),
        tuple(catalogue),
        tuple(quirks),
        next_link if isinstance(next_link, str) and next_link else None,
    )


def _catalogue_entry(source_id: str, stream: Mapping[str, Any]) -> CatalogueEntry:
    thing = _mapping(stream.get("Thing"))
    properties = _mapping(thing.get("properties"))
    lon = lat = None
    locations = thing.get("Locations")
    if isinstance(locations, list) and locations and isinstance(locations[0], Mapping):
        point = locations[0].get("location")
        coordinates = point.get("coordinates") if isinstance(point, Mapping) else None
        if isinstance(coordinates, list) and len(coordinates) >= 2:
            lon = number(coordinates[0], f"datastream {source_id} longitude")
            lat = number(coordinates[1], f"datastream {source_id} latitude")
    return CatalogueEntry(
        source_id=source_id,
        name=str(properties.get("stationName") or thing.get("name") or stream.get("name") or ""),
        lat=lat,
        lon=lon,
        details={"datastream": stream.get("name"), "thing": thing.get("name")},
    )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def same_server(link: str, base_url: str) -> bool:
    ours, theirs = urlsplit(base_url), urlsplit(link)
    return (ours.scheme, ours.netloc) == (theirs.scheme, theirs.netloc)


class SensorThingsSource:
    name = NAME

    def __init__(self, config: SensorThingsConfig) -> None:
        self._config = config
        self._parameter = Parameter(config.parameter)

    async def fetch(self, client: FeedClient, now: datetime) -> FetchResult:
        base = self._config.base_url.rstrip("/")
        params = {"$expand": EXPAND}
        if self._config.filter:
            params["$filter"] = self._config.filter
        url: str | None = f"{base}/Datastreams"
        observations: list[Observation] = []
        catalogue: list[CatalogueEntry] = []
        quirks: list[str] = []
        pages = 0
        while url is not None and pages < self._config.max_pages:
            response = await client.get(url, params=params if pages == 0 else None)
            if response is None:
                break
            page = parse(response.json(), parameter=self._parameter)
            pages += 1
            observations.extend(page.observations)
            catalogue.extend(page.catalogue)
            quirks.extend(page.quirks)
            url = page.next_link
            if url is not None and not same_server(url, base):
                quirks.append(f"nextLink to another server not followed: {url[:80]}")
                url = None
        if url is not None:
            quirks.append(f"stopped after {pages} pages (max_pages)")
        return FetchResult(
            observations=tuple(observations), catalogue=tuple(catalogue), quirks=tuple(quirks)
        )
