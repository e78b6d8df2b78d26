"""What alerting needs from other domains, as Protocols in alerting's own terms.

The composition root (canhbao.app.create_app) builds their implementations from the other
domains' objects and hands them to alerting when its context starts; alerting never looks
another domain up in the app.

- Directory: who and where (geofences) — areas, targeting plans, devices and contacts. Its
  implementation translates geofences' errors into alerting's (UnknownWards, InvalidArea).
- Outbox: the durable outbox (notify) that sends a warning's messages, and its counts.
- Sponsors: who vouched for an account lately (auth), for the two-person rule.
- EvidenceSource: camera stills (cameras) offered for a warning's area and attached to it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol, TypeAlias

import aiosqlite
import numpy as np
import numpy.typing as npt
from aiohttp import web
from shapely.geometry.base import BaseGeometry

from alerting.models import Point, Resource
from notify.models import Encoded, OutboxItem

IdArray = npt.NDArray[np.int64]  # device or contact ids, sorted and unique
DeviceLanguage = Literal["vi", "en"]  # what devices and contacts register with
Geometry: TypeAlias = BaseGeometry  # lon/lat (shapely's order), a Polygon or MultiPolygon
Json = dict[str, object]


@dataclass(frozen=True, slots=True)
class DeviceTarget:
    device_id: int
    token: str
    language: str  # "vi" or "en"


@dataclass(frozen=True, slots=True)
class ContactTarget:
    contact_id: int
    phone: str
    language: str
    vulnerable: bool


class Plan(Protocol):
    """A targeting plan, as delivery reads it."""

    @property
    def token_device_ids(self) -> IdArray:
        """Devices sent to one by one, by their token."""
        ...

    @property
    def contact_ids(self) -> IdArray:
        """Phone-only contacts (SMS, and a call to the vulnerable)."""
        ...

    def conditions_in(self, language: DeviceLanguage) -> tuple[str, ...]:
        """FCM conditions reaching the ward-topic devices that use `language`."""
        ...

    def summary(self) -> Json:
        """The plan as staff preview it before approving (JSON-ready)."""
        ...


class Recipients(Protocol):
    """How to reach devices and phone-only contacts by id: all a fan-out's later batches need
    (alerting.fanout runs them in the outbox sender's process, which has no device index)."""

    async def devices(self, device_ids: Sequence[int]) -> list[DeviceTarget]:
        """Push targets of these devices (those that lost their token are left out)."""
        ...

    async def contacts(self, contact_ids: Sequence[int]) -> list[ContactTarget]: ...


class Directory(Recipients, Protocol):
    """Who is where: the areas, devices and phone-only contacts a warning can reach.

    Ward codes the catalogue does not know raise UnknownWards; an area targeting cannot use
    raises InvalidArea.
    """

    def plan(self, area: Geometry) -> Plan:
        """Who the area reaches and by which route."""
        ...

    def check_area(self, area: Geometry) -> None:
        """Raise as `plan` would for an area targeting cannot use, without planning."""
        ...

    def ward_geometry(self, codes: Sequence[str]) -> Geometry:
        """The union of these wards' geometries."""
        ...

    def ward_names(self, codes: Sequence[str]) -> list[str]:
        """The wards' names, in order (a code the catalogue lacks stands for itself)."""
        ...

    def ward_outline(self, codes: Sequence[str], max_points: int) -> tuple[tuple[Point, ...], ...]:
        """CAP polygons ((lat, lon), closed) of at most `max_points` points in all that
        cover these wards."""
        ...


class Outbox(Protocol):
    """The durable outbox: messages enqueued in the caller's transaction, sent at least once."""

    def encode(self, items: Sequence[OutboxItem]) -> Encoded:
        """Rows ready to insert (encoded outside the write lock)."""
        ...

    async def enqueue_in(
        self, conn: aiosqlite.Connection, items: Sequence[OutboxItem] | Encoded
    ) -> int:
        """Insert in `conn`'s transaction; a repeated idempotency key adds nothing."""
        ...

    async def withdraw_in(
        self, conn: aiosqlite.Connection, reference: str, code: str, reason: str
    ) -> int:
        """Fail the reference's messages not yet sent; returns how many."""
        ...

    async def counts(self, reference: str) -> dict[str, dict[str, int]]: ...

    async def counts_by_priority(self, reference: str) -> dict[tuple[str, int], dict[str, int]]: ...

    async def failure_codes(self, reference: str) -> dict[str, dict[str, int]]: ...


class Sponsors(Protocol):
    """Who vouched for an account lately (auth): the two-person rule's check that an author
    did not make their own approver."""

    async def sponsors(self, username: str, since: datetime) -> frozenset[str]:
        """Usernames of those who, at or after `since`, created the account `username` or
        granted it an approving role (or otherwise put it in their hands)."""
        ...


@dataclass(frozen=True, slots=True)
class EvidenceStill:
    """A camera's latest still, offered as evidence for a warning whose area holds the camera."""

    still_id: int
    camera_id: str
    camera_name: str
    watches: str  # the road or place the camera looks at
    taken_at: datetime
    url: str  # the public image
    thumbnail_url: str
    flags: tuple[str, ...]  # "frozen", "dark", "blurred", ... (a still to look at twice)


class EvidenceSource(Protocol):
    """Camera stills as a warning's evidence (cameras)."""

    async def offer(self, area: Geometry) -> list[EvidenceStill]:
        """The cameras inside the area, each with its latest still (none yet: left out)."""
        ...

    async def resource(self, still_id: int, language: str) -> Resource | None:
        """The still as a CAP resource described in `language` (uri to the public image, size
        and SHA-1 digest of its bytes), kept for good from now on; None if there is no such
        still."""
        ...


@dataclass(frozen=True)
class AlertingPorts:
    """Everything alerting receives from other domains, built by the composition root."""

    directory: Directory
    outbox: Outbox
    sponsors: Sponsors
    evidence: EvidenceSource


# Called when alerting's context starts (the other domains' contexts have run by then).
PortsFactory = Callable[[web.Application], AlertingPorts]
