"""Alerting's ports (alerting.ports) over geofences, notify and auth."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import shapely
from aiohttp import web

from alerting.errors import InvalidArea, UnknownWards
from alerting.models import Point
from alerting.ports import AlertingPorts, ContactTarget, DeviceTarget, Geometry, Plan
from canhbao import keys
from canhbao.adapters.cameras import CamerasEvidence
from canhbao.auth.sponsors import approver_sponsors
from canhbao.db import Database
from geofences.areas import make_outline
from geofences.devices import DeviceRegistry
from geofences.errors import GeofenceError
from geofences.keys import GEOFENCES
from geofences.targeting import warning_polygon
from notify import keys as notify_keys


def alerting_ports(app: web.Application) -> AlertingPorts:
    """Built when alerting's context starts: the contexts it depends on ran before it."""
    return AlertingPorts(
        directory=GeofencesDirectory(app[GEOFENCES]),
        outbox=app[notify_keys.OUTBOX],
        sponsors=AuthSponsors(app[keys.DB]),
        evidence=CamerasEvidence(app),
    )


class AuthSponsors:
    """Alerting's Sponsors over the audit log of account changes (auth.sponsors)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def sponsors(self, username: str, since: datetime) -> frozenset[str]:
        return await approver_sponsors(self._db, username, since)


class GeofencesDirectory:
    """alerting.ports.Directory over geofences' DeviceRegistry, through its public methods.

    Geofences' errors become alerting's: an unknown ward code UnknownWards, an area targeting
    cannot use (GeofenceError) InvalidArea.
    """

    def __init__(self, registry: DeviceRegistry) -> None:
        self._registry = registry

    def plan(self, area: Geometry) -> Plan:
        try:
            return self._registry.plan(area)
        except GeofenceError as err:
            raise InvalidArea([f"area: targeting cannot use it: {err}"]) from err

    def check_area(self, area: Geometry) -> None:
        try:
            warning_polygon(area)
        except GeofenceError as err:
            raise InvalidArea([f"area: targeting cannot use it: {err}"]) from err

    def ward_geometry(self, codes: Sequence[str]) -> Geometry:
        catalog = self._registry.catalog
        missing = [code for code in codes if code not in catalog.by_code]
        if missing:
            raise UnknownWards(missing)
        return shapely.union_all([catalog.geometry[catalog.by_code[c].id] for c in codes])

    def ward_names(self, codes: Sequence[str]) -> list[str]:
        catalog = self._registry.catalog
        return [catalog.by_code[c].name if c in catalog.by_code else c for c in codes]

    def ward_outline(self, codes: Sequence[str], max_points: int) -> tuple[tuple[Point, ...], ...]:
        try:
            outline = make_outline(self.ward_geometry(codes), max_points)
        except GeofenceError as err:
            raise InvalidArea([f"area: targeting cannot use it: {err}"]) from err
        return tuple(
            tuple((round(lat, 5), round(lon, 5)) for lon, lat in part.exterior.coords)
            for part in getattr(outline, "geoms", [outline])
        )

    async def devices(self, device_ids: Sequence[int]) -> list[DeviceTarget]:
        if not len(device_ids):
            return []
        found = await self._registry.push_targets(device_ids)
        return [DeviceTarget(device_id, token, language) for device_id, token, language in found]

    async def contacts(self, contact_ids: Sequence[int]) -> list[ContactTarget]:
        if not len(contact_ids):
            return []
        found = await self._registry.contact_targets(contact_ids)
        return [ContactTarget(*row) for row in found]
