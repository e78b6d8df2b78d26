"""What the hotline reads from other domains, each behind a small Protocol of its own.

- FloodInfoSource: river levels at the key stations (implemented over the feeds domain);
- WarningSource: warnings in force (over the alerting domain's issued alerts);
- LocationSource: where a registered phone was last known to be (over the geofences registry's
  lookup by phone number).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

from aiohttp import web

from canhbao import keys
from hotline import texts
from hotline.models import KnownLocation


@dataclass(frozen=True)
class StationLevel:
    """A key station's latest water level; level_m None when there is no fresh reading."""

    station_id: str
    name: str
    river: str
    level_m: float | None
    band: int = 0
    trend: Literal["rising", "falling", "steady"] | None = None
    rate_m_per_h: float | None = None
    observed_at: datetime | None = None


@dataclass(frozen=True)
class WarningInForce:
    headline: str  # Vietnamese, as it should be spoken
    severe: bool


class FloodInfoSource(Protocol):
    async def levels(self, station_ids: Sequence[str]) -> list[StationLevel]:
        """One entry per known station id, in the order asked."""
        ...


class WarningSource(Protocol):
    async def in_force(self, location: KnownLocation | None) -> list[WarningInForce] | None:
        """Warnings in force for the place (or the whole province); None: not known."""
        ...


class LocationSource(Protocol):
    async def locate(self, phone: str) -> KnownLocation | None:
        """The last known location of a registered phone, or None."""
        ...


class AlertingWarnings:
    """WarningSource over the alerting domain: issued warnings in force at the caller's known
    place, or anywhere in the province when the place is not known."""

    SEVERE = frozenset({"Severe", "Extreme"})

    def __init__(self, app: web.Application) -> None:
        self._app = app

    async def in_force(self, location: KnownLocation | None) -> list[WarningInForce] | None:
        workflow = self._app[keys.ALERTING]
        if location is None:
            alerts = await workflow.in_force_at()
        else:
            alerts = await workflow.in_force_at(location.lon, location.lat)
        warnings = []
        for alert in alerts:
            info = alert.info("vi-VN") or alert.infos[0]
            warnings.append(WarningInForce(info.headline, info.severity in self.SEVERE))
        return warnings


class GeofencesLocations:
    """LocationSource over the geofences registry: the app device or phone-only contact that
    registered this number (a domain's public method, never its tables)."""

    def __init__(self, app: web.Application) -> None:
        self._app = app

    async def locate(self, phone: str) -> KnownLocation | None:
        found = await self._app[keys.GEOFENCES].location_for_phone(phone)
        if found is None:
            return None
        if found.source == "contact":
            parts = [found.address, found.ward]
            description = ", ".join(part for part in parts if part)
        else:
            description = texts.near_ward(found.ward).vi if found.ward else ""
        return KnownLocation(
            lat=found.lat,
            lon=found.lon,
            accuracy_m=found.accuracy_m,
            located_at=found.located_at,
            description=description,
            source=found.source,
        )


# A reading older than this is not read out as the current level.
FRESH_READING = timedelta(hours=3)
TREND_WINDOW = timedelta(hours=6)


class FeedsFloodInfo:
    """FloodInfoSource over the feeds domain's public API: its station registry, stored
    readings (feeds.store.recent_points) and its band and trend rules (feeds.levels)."""

    def __init__(self, app: web.Application) -> None:
        self._app = app

    async def levels(self, station_ids: Sequence[str]) -> list[StationLevel]:
        from feeds import levels as feed_levels  # feeds is optional for the hotline's tests
        from feeds import store as feed_store
        from feeds.models import Parameter

        app = self._app
        stations = app[keys.FEEDS].pipeline.stations
        now = app[keys.CLOCK].now()
        found: list[StationLevel] = []
        for station_id in station_ids:
            station = stations.get(station_id)
            if station is None:
                continue
            points = await feed_store.recent_points(
                app[keys.DB], station_id, Parameter.water_level, now - TREND_WINDOW
            )
            if not points or now - points[-1][0] > FRESH_READING:
                found.append(StationLevel(station.id, station.name, station.river, None))
                continue
            observed_at, value = points[-1]
            band = (
                feed_levels.band(value, station.thresholds) if station.thresholds is not None else 0
            )
            trend = feed_levels.trend(points)
            found.append(
                StationLevel(
                    station.id,
                    station.name,
                    station.river,
                    value,
                    band,
                    trend.direction if trend else None,
                    trend.rate_m_per_h if trend else None,
                    observed_at,
                )
            )
        return found
