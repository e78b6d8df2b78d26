"""The registry's in-memory state: areas, the device and contact point indexes, subscribers.

Targeting reads it; the writers (devices, areas, contacts, topics) change it at the end of
their write transaction, so memory follows the order of commits. Also the rules every writer
shares: which FCM topics a device belongs in, and how a stored row reads as a Device.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from canhbao.clock import parse_utc, utc_text
from geofences import store
from geofences.errors import UnknownArea
from geofences.index import AreaCatalog, PointIndex
from geofences.models import Device, Location, desired_topics
from geofences.targeting import Audience

# Contacts live in their own index; their points never go stale.
CONTACT_TIME = 0.0


@dataclass(frozen=True)
class RegistrySettings:
    topic_prefix: str = "area-"
    location_max_age: timedelta = timedelta(hours=24)
    max_subscriptions: int = 10
    topic_flush_batch: int = 50_000


class RegistryState:
    """What is in memory, and the shared rules over it; no I/O."""

    def __init__(self, settings: RegistrySettings) -> None:
        self.settings = settings
        self.catalog = AreaCatalog.empty()
        self.devices = PointIndex()
        self.subscribers: dict[int, set[int]] = {}
        self.contacts = PointIndex()
        self.area_contacts: dict[int, set[int]] = {}
        # contact id → area id, for contacts known only by their area
        self.contact_area: dict[int, int] = {}
        self.areas_revision = 0
        self._topic_of: dict[int, str] = {}

    def set_catalog(self, catalog: AreaCatalog, revision: int) -> None:
        self.catalog = catalog
        self._topic_of = dict(catalog.topics())
        self.areas_revision = revision

    def load_points(self, snapshot: store.Snapshot) -> None:
        """Fill the indexes from the start-up snapshot."""
        self.devices.load(
            snapshot.device_ids,
            snapshot.lon,
            snapshot.lat,
            snapshot.located,
            snapshot.device_areas,
        )
        self.subscribers = group(snapshot.subscriptions)
        self.contacts.load(
            snapshot.contact_ids,
            snapshot.contact_lon,
            snapshot.contact_lat,
            np.full(snapshot.contact_ids.size, CONTACT_TIME),
            snapshot.contact_areas,
        )
        self.area_contacts = group(snapshot.area_only_contacts)
        self.contact_area = {
            int(contact): int(area) for contact, area in snapshot.area_only_contacts.tolist()
        }

    # -- areas --------------------------------------------------------------------------------

    def resolve_area(self, text: str) -> int:
        """An area id from its code or, failing that, its exact name (if only one has it)."""
        if text in self.catalog.by_code:
            return self.catalog.by_code[text].id
        named = [area.id for area in self.catalog.areas.values() if area.name == text]
        if len(named) != 1:
            raise UnknownArea([text] if not named else [f"{text} (several areas: use the code)"])
        return named[0]

    def area_ids(self, codes: Sequence[str]) -> tuple[int, ...]:
        unknown = [code for code in codes if code not in self.catalog.by_code]
        if unknown:
            raise UnknownArea(unknown)
        return tuple(sorted(self.catalog.by_code[code].id for code in codes))

    def code(self, area_id: int | None) -> str | None:
        if area_id is None or area_id < 0 or area_id not in self.catalog.areas:
            return None
        return self.catalog.areas[area_id].code

    # -- topics -------------------------------------------------------------------------------

    def fresh(self, location: Location | None, now: datetime) -> bool:
        return location is not None and location.at >= now - self.settings.location_max_age

    def topics(
        self, location_area: int, fresh: bool, area_ids: Sequence[int], language: str
    ) -> frozenset[str]:
        chosen = list(area_ids)
        if fresh and location_area >= 0:
            chosen.append(location_area)
        return desired_topics(chosen, self.catalog.ancestors, self._topic_of, language)

    # -- devices and contacts in memory -------------------------------------------------------

    def remember(
        self, device_id: int, location: Location | None, area: int, area_ids: Sequence[int]
    ) -> None:
        if location is not None:
            self.devices.upsert(
                device_id, location.lon, location.lat, location.at.timestamp(), area
            )
        for area_id in area_ids:
            self.subscribers.setdefault(area_id, set()).add(device_id)

    def forget(self, device_id: int, area_ids: Sequence[int]) -> None:
        self.devices.remove(device_id)
        for area_id in area_ids:
            members = self.subscribers.get(area_id)
            if members is not None:
                members.discard(device_id)

    def remember_contact(
        self, contact_id: int, lon: float | None, lat: float | None, area_id: int | None
    ) -> None:
        self.forget_contact(contact_id)
        if lon is not None and lat is not None:
            area = area_id if area_id is not None else -1
            self.contacts.upsert(contact_id, lon, lat, CONTACT_TIME, area)
        elif area_id is not None:
            self.area_contacts.setdefault(area_id, set()).add(contact_id)
            self.contact_area[contact_id] = area_id

    def forget_contact(self, contact_id: int) -> None:
        self.contacts.remove(contact_id)
        area_id = self.contact_area.pop(contact_id, None)
        if area_id is not None:
            self.area_contacts[area_id].discard(contact_id)

    def audience(self) -> Audience:
        return Audience(
            catalog=self.catalog,
            devices=self.devices,
            subscribers=self.subscribers,
            contacts=self.contacts,
            area_contacts=self.area_contacts,
        )

    def view(self, row: store.DeviceRow, location: Location | None = None) -> Device:
        return Device(
            public_id=row.public_id,
            platform=row.platform,  # type: ignore[arg-type]  # the table's CHECK holds it to Platform
            language=row.language,  # type: ignore[arg-type]  # the table's CHECK holds it to Language
            has_token=row.token is not None,
            phone=row.phone,
            location=location or row_location(row),
            location_area=self.code(row.location_area_id),
            area_codes=tuple(sorted(c for c in (self.code(a) for a in row.area_ids) if c)),
            topics=tuple(sorted(row.topics)),
        )


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def location_columns(location: Location | None) -> tuple[float, float, float | None, str] | None:
    if location is None:
        return None
    return location.lon, location.lat, location.accuracy_m, utc_text(location.at)


def row_location(row: store.DeviceRow) -> Location | None:
    if row.lon is None or row.lat is None or row.located_at is None:
        return None
    return Location(row.lon, row.lat, row.accuracy_m, parse_utc(row.located_at))


def group(pairs: Any) -> dict[int, set[int]]:
    """(member, area) rows → area → set of members."""
    groups: dict[int, set[int]] = {}
    if len(pairs) == 0:
        return groups
    order = np.argsort(pairs[:, 1], kind="stable")
    members, areas = pairs[order, 0], pairs[order, 1]
    cuts = np.flatnonzero(np.diff(areas)) + 1
    for chunk_members, chunk_areas in zip(
        np.split(members, cuts), np.split(areas, cuts), strict=True
    ):
        groups[int(chunk_areas[0])] = set(chunk_members.tolist())
    return groups
