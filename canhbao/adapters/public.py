"""The public pages' ports (public.ports) over alerting, feeds, geofences and cameras."""

from __future__ import annotations

import math
from collections.abc import Hashable
from datetime import datetime
from typing import Literal

from aiohttp import web

from alerting import store as alert_store
from alerting.audience import is_public
from alerting.errors import AlertingError
from alerting.keys import ALERTING
from alerting.models import LANGUAGE_VI, PARAM_RISK_LEVEL, Alert, Info
from alerting.workflow import Workflow
from cameras import store as camera_store
from cameras.errors import CameraError
from cameras.keys import CAMERAS
from cameras.service import Cameras
from canhbao import keys
from canhbao.db import Database
from feeds.errors import FeedError
from feeds.keys import FEEDS
from feeds.models import Parameter, Station
from feeds.pipeline import Pipeline
from feeds.thresholds import EventKind
from geofences.devices import DeviceRegistry
from geofences.index import AreaCatalog
from geofences.keys import GEOFENCES
from public.errors import SourceUnavailable
from public.models import distance_km
from public.ports import (
    RAIN_NEAR_KM,
    Language,
    PublicCamera,
    PublicPorts,
    PublicWard,
    PublicWarning,
    RainSeries,
    Ring,
    StationSeries,
    WarningText,
)


def public_ports(app: web.Application) -> PublicPorts:
    """Built when the public pages' context starts: the other domains' contexts ran before."""
    return PublicPorts(
        warnings=AlertingWarnings(app[ALERTING], app[keys.DB]),
        stations=FeedsStations(app[FEEDS].pipeline),
        wards=GeofencesWards(app[GEOFENCES]),
        cameras=CameraStills(app[CAMERAS]),
    )


class AlertingWarnings:
    """Warnings the public may read: alerting's own rule (alerting.audience.is_public; the
    in-force list comes from the same store query as the CAP feed's), never Test or Exercise."""

    def __init__(self, workflow: Workflow, db: Database) -> None:
        self._workflow = workflow
        self._db = db

    async def in_force(self) -> list[PublicWarning]:
        try:
            alerts = await self._workflow.in_force_at()
        except AlertingError as err:
            raise SourceUnavailable(f"warnings in force: {err}") from err
        return [public_warning(alert, "issued", None) for alert in alerts]

    async def warning(self, identifier: str) -> PublicWarning | None:
        try:
            found = await alert_store.get_alert(self._db.reader, identifier)
        except AlertingError as err:
            raise SourceUnavailable(f"warning {identifier}: {err}") from err
        if found is None or not is_public(found):
            return None
        state = found.state
        if state not in ("issued", "expired", "superseded"):  # is_public holds it; for mypy
            return None
        return public_warning(found.alert, state, found.superseded_by)

    async def version(self) -> Hashable:
        try:
            return await alert_store.public_version(self._db)
        except AlertingError as err:
            raise SourceUnavailable(f"warnings' version: {err}") from err


def public_warning(
    alert: Alert, state: Literal["issued", "expired", "superseded"], superseded_by: str | None
) -> PublicWarning:
    texts: dict[Language, WarningText] = {}
    for language in ("vi", "en"):
        info = next((i for i in alert.infos if i.language.lower().startswith(language)), None)
        if info is not None:
            texts["vi" if language == "vi" else "en"] = _text(info)
    if not texts and alert.infos:
        # Another system's message in neither language: shown as it came, marked English.
        texts["en"] = _text(alert.infos[0])
    first = alert.info(LANGUAGE_VI) or alert.infos[0]
    risk = first.parameter(PARAM_RISK_LEVEL)
    return PublicWarning(
        identifier=alert.identifier,
        sent=alert.sent,
        expires=alert.expires,
        msg_type=alert.msg_type,
        state=state,
        severity=first.severity,
        urgency=first.urgency,
        response_types=first.response_types,
        texts=texts,
        ward_codes=tuple(dict.fromkeys(c for a in first.areas for c in a.ward_codes)),
        polygons=tuple(
            tuple((lon, lat) for lat, lon in polygon) for a in first.areas for polygon in a.polygons
        ),
        risk_level=int(risk) if risk and risk.isdigit() else None,
        references=tuple(r.identifier for r in alert.references),
        superseded_by=superseded_by,
    )


def _text(info: Info) -> WarningText:
    return WarningText(
        headline=info.headline,
        event=info.event,
        description=info.description,
        instruction=info.instruction,
        area="; ".join(a.description for a in info.areas),
        sender_name=info.sender_name,
    )


class FeedsStations:
    """Stations and their good water levels through feeds' pipeline (what the hotline reads)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline

    def stations(self) -> list[Station]:
        return sorted(self._pipeline.stations.values(), key=lambda s: (s.river, s.name))

    async def series(self, station_id: str, since: datetime) -> StationSeries | None:
        station = self._pipeline.stations.get(station_id)
        if station is None:
            return None
        gauge = self._rain_gauge(station)
        try:
            levels = (
                await self._pipeline.recent_water_levels(station_id, since)
                if Parameter.water_level in station.parameters
                else []
            )
            rain = (
                RainSeries(
                    gauge[0], gauge[1], await self._pipeline.recent_rainfall(gauge[0].id, since)
                )
                if gauge is not None
                else None
            )
        except FeedError as err:
            raise SourceUnavailable(f"readings of {station_id}: {err}") from err
        return StationSeries(station, levels, rain)

    def _rain_gauge(self, station: Station) -> tuple[Station, float] | None:
        """The station itself if it gauges rain, else the nearest rain gauge in RAIN_NEAR_KM."""
        if Parameter.rainfall in station.parameters:
            return station, 0.0
        here = (station.lon, station.lat)
        near = [
            (distance_km(here, (other.lon, other.lat)), other)
            for other in self._pipeline.stations.values()
            if Parameter.rainfall in other.parameters
        ]
        distance, gauge = min(near, key=lambda pair: pair[0], default=(math.inf, None))
        return (gauge, distance) if gauge is not None and distance <= RAIN_NEAR_KM else None

    def version(self) -> Hashable:
        # The registry and each river's confirmed band: a band change rebuilds at once; other
        # readings show once the page's rebuild_s has passed.
        stations = self._pipeline.stations
        return tuple(
            (station, self._pipeline.level(station_id, EventKind.river_band).level)
            for station_id, station in sorted(stations.items())
        )


class GeofencesWards:
    """Wards and their outlines from geofences' catalogue, converted once per import."""

    def __init__(self, registry: DeviceRegistry) -> None:
        self._registry = registry
        self._seen: AreaCatalog | None = None
        self._wards: list[PublicWard] = []

    def wards(self) -> list[PublicWard]:
        catalog = self._registry.catalog  # replaced whole when areas are imported again
        if catalog is not self._seen:
            self._wards = _wards(catalog)
            self._seen = catalog
        return self._wards

    def version(self) -> Hashable:
        return id(self._registry.catalog)


def _wards(catalog: AreaCatalog) -> list[PublicWard]:
    found = []
    for area_id, area in sorted(catalog.areas.items(), key=lambda item: item[1].name):
        geometry = catalog.geometry[area_id]
        polygons = getattr(geometry, "geoms", [geometry])
        outline: tuple[Ring, ...] = tuple(
            tuple((float(x), float(y)) for x, y, *_ in polygon.exterior.coords)
            for polygon in polygons
        )
        centre = geometry.representative_point()
        parent = catalog.areas.get(area.parent_id) if area.parent_id is not None else None
        found.append(
            PublicWard(
                code=area.code,
                name=area.name,
                parent=parent.name if parent else "",
                population=area.population,
                outline=outline,
                centre=(float(centre.x), float(centre.y)),
                leaf=area_id not in catalog.children,
            )
        )
    return found


class CameraStills:
    """The cameras and their latest stills (the cameras domain's public image paths)."""

    def __init__(self, service: Cameras) -> None:
        self._service = service

    async def cameras(self) -> list[PublicCamera]:
        try:
            cameras = await camera_store.load_cameras(self._service.deps.db)
        except CameraError as err:
            raise SourceUnavailable(f"cameras: {err}") from err
        found = []
        for camera in cameras:
            if not camera.enabled:
                continue
            poller = self._service.pollers.get(camera.id)
            latest = poller.state.latest if poller is not None else None
            flags = tuple(str(f) for f in poller.state.flags) if poller is not None else ()
            found.append(
                PublicCamera(
                    id=camera.id,
                    name=camera.name,
                    lon=camera.lon,
                    lat=camera.lat,
                    ward_code=camera.ward_code,
                    ward_name=camera.ward_name,
                    watches=camera.watches,
                    image_path=f"/api/v1/camera-images/{latest.sha256}" if latest else None,
                    thumbnail_path=f"/api/v1/camera-images/{latest.sha256}/thumbnail"
                    if latest
                    else None,
                    seen_at=latest.last_seen_at if latest else None,
                    flags=flags,
                )
            )
        return found

    def version(self) -> Hashable:
        # A new still or a flag raised or cleared rebuilds the camera page.
        return tuple(
            (
                camera_id,
                poller.state.latest.sha256 if poller.state.latest else None,
                tuple(sorted(poller.state.flags)),
            )
            for camera_id, poller in sorted(self._service.pollers.items())
        )
