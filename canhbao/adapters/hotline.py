"""The hotline's ports (hotline.ports) over feeds, alerting, geofences and dispatch."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from aiohttp import web

from alerting.errors import AlertingError
from alerting.keys import ALERTING
from alerting.workflow import Workflow
from canhbao import keys
from canhbao.adapters.dispatch import DispatchRescueDesk
from canhbao.clock import Clock
from dispatch.keys import DISPATCH_REQUESTS
from feeds import levels as feed_levels
from feeds.errors import FeedError
from feeds.keys import FEEDS
from feeds.pipeline import Pipeline
from geofences.devices import DeviceRegistry
from geofences.errors import GeofenceError
from geofences.keys import GEOFENCES
from hotline import texts as hotline_texts
from hotline.errors import SourceUnavailable
from hotline.models import KnownLocation
from hotline.ports import HotlinePorts, StationLevel, WarningInForce


def hotline_ports(app: web.Application) -> HotlinePorts:
    """Built when the hotline's context starts: the other domains' contexts ran before it."""
    return HotlinePorts(
        flood=FeedsFloodInfo(app[FEEDS].pipeline, app[keys.CLOCK]),
        warnings=AlertingWarnings(app[ALERTING]),
        locations=GeofencesLocations(app[GEOFENCES]),
        rescue=DispatchRescueDesk(app[DISPATCH_REQUESTS]),
    )


class AlertingWarnings:
    """The hotline's WarningSource over alerting's workflow: issued warnings in force at the
    caller's known place, or anywhere in the province when the place is not known."""

    SEVERE = frozenset({"Severe", "Extreme"})

    def __init__(self, workflow: Workflow) -> None:
        self._workflow = workflow

    async def in_force(self, location: KnownLocation | None) -> list[WarningInForce] | None:
        try:
            if location is None:
                alerts = await self._workflow.in_force_at()
            else:
                alerts = await self._workflow.in_force_at(location.lon, location.lat)
        except AlertingError as err:
            raise SourceUnavailable(f"warnings in force: {err}") from err
        warnings = []
        for alert in alerts:
            info = alert.info("vi-VN") or alert.infos[0]
            warnings.append(WarningInForce(info.headline, info.severity in self.SEVERE))
        return warnings


class GeofencesLocations:
    """The hotline's LocationSource over geofences' registry: the app device or phone-only
    contact that registered this number."""

    def __init__(self, registry: DeviceRegistry) -> None:
        self._registry = registry

    async def locate(self, phone: str) -> KnownLocation | None:
        try:
            found = await self._registry.location_for_phone(phone)
        except GeofenceError as err:
            raise SourceUnavailable(f"location of a phone: {err}") from err
        if found is None:
            return None
        if found.source == "contact":
            description = ", ".join(part for part in (found.address, found.ward) if part)
        else:
            description = hotline_texts.near_ward(found.ward).vi if found.ward else ""
        return KnownLocation(
            lat=found.lat,
            lon=found.lon,
            accuracy_m=found.accuracy_m,
            located_at=found.located_at,
            description=description,
            source=found.source,
        )


class FeedsFloodInfo:
    """The hotline's FloodInfoSource over feeds' pipeline: its stations, their recent good
    water levels, and feeds' own band and trend rules."""

    # A reading older than this is not read out as the current level.
    FRESH_READING = timedelta(hours=3)
    TREND_WINDOW = timedelta(hours=6)

    def __init__(self, pipeline: Pipeline, clock: Clock) -> None:
        self._pipeline = pipeline
        self._clock = clock

    async def levels(self, station_ids: Sequence[str]) -> list[StationLevel]:
        stations = self._pipeline.stations
        now = self._clock.now()
        found: list[StationLevel] = []
        for station_id in station_ids:
            station = stations.get(station_id)
            if station is None:
                continue
            try:
                points = await self._pipeline.recent_water_levels(
                    station_id, now - self.TREND_WINDOW
                )
            except FeedError as err:
                raise SourceUnavailable(f"water levels of {station_id}: {err}") from err
            if not points or now - points[-1][0] > self.FRESH_READING:
                found.append(StationLevel(station.id, station.name, station.river, None))
                continue
            observed_at, value = points[-1]
            thresholds = station.thresholds
            trend = feed_levels.trend(points)
            found.append(
                StationLevel(
                    station.id,
                    station.name,
                    station.river,
                    value,
                    feed_levels.band(value, thresholds) if thresholds is not None else 0,
                    trend.direction if trend else None,
                    trend.rate_m_per_h if trend else None,
                    observed_at,
                )
            )
        return found
