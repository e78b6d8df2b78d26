"""The device registry: the geofences domain's one entry point for devices, contacts and areas.

A thin façade over one module per concern, all sharing the in-memory state (state.py):
- writer.py: registrations and changes, written by group commit;
- area_sync.py: the area catalog, imports, moving devices and contacts into their areas;
- topic_queue.py: handing FCM topic changes to the TopicSender port, expiring stale locations;
- contact_book.py: phone-only contacts.
Every change is written to SQLite first; memory changes at the end of the same transaction,
so changes reach memory in the order they commit.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Sequence
from typing import Any

import aiosqlite

from canhbao.clock import Clock
from canhbao.db import Database
from geofences import store
from geofences.area_sync import REASSIGN_CHUNK, AreaSync
from geofences.areas import ImportPlan
from geofences.contact_book import ContactBook
from geofences.errors import DeviceRefused
from geofences.index import AreaCatalog, PointIndex
from geofences.models import (
    ContactDraft,
    DeliveryPlan,
    Device,
    DeviceUpdate,
    PhoneLocation,
    PlanOptions,
    Registration,
)
from geofences.ports import TopicSender
from geofences.state import RegistrySettings, RegistryState, hash_secret
from geofences.targeting import Audience, plan_delivery
from geofences.topic_queue import TopicQueue
from geofences.writer import DeviceWriter

__all__ = ["DeviceRegistry", "RegistrySettings", "hash_secret"]

log = logging.getLogger(__name__)


class DeviceRegistry:
    """Owns the geofences tables' writes and the in-memory state targeting reads."""

    def __init__(
        self, db: Database, clock: Clock, topics: TopicSender | None, settings: RegistrySettings
    ) -> None:
        self._db = db
        self._clock = clock
        self.settings = settings
        self._state = RegistryState(settings)
        self._areas = AreaSync(db, clock, self._state)
        self._writer = DeviceWriter(db, clock, self._state)
        self._topic_queue = TopicQueue(db, clock, self._state, topics)
        self._contacts = ContactBook(db, clock, self._state)

    # -- what targeting and the routes read -----------------------------------------------------

    @property
    def catalog(self) -> AreaCatalog:
        return self._state.catalog

    @property
    def devices(self) -> PointIndex:
        return self._state.devices

    @property
    def subscribers(self) -> dict[int, set[int]]:
        return self._state.subscribers

    @property
    def contacts(self) -> PointIndex:
        return self._state.contacts

    @property
    def area_contacts(self) -> dict[int, set[int]]:
        return self._state.area_contacts

    # -- start-up and areas ---------------------------------------------------------------------

    async def load(self) -> None:
        """Read the areas and every located device and contact into memory."""
        await self._areas.load_catalog()
        self._state.load_points(await store.read_snapshot(self._db.path))
        if await store.read_value(self._db, "assigned_revision") != self._state.areas_revision:
            await self._areas.reassign_areas()
        log.info(
            "device index loaded",
            extra={
                "devices": len(self.devices),
                "contacts": len(self.contacts),
                "areas": len(self.catalog),
                "index_bytes": self.devices.nbytes(),
            },
        )

    async def refresh_areas(self) -> bool:
        """Reload the areas if another process (the CLI) imported some; True if it did."""
        return await self._areas.refresh_areas()

    async def import_areas(self, plan: ImportPlan, source: str, actor: str) -> dict[str, Any]:
        """Store an import (all or nothing), then put devices and contacts in their new areas."""
        return await self._areas.import_areas(plan, source, actor)

    async def reassign_areas(self) -> int:
        """Recompute every located device's and contact's area; returns how many changed."""
        return await self._areas.reassign_areas()

    def resolve_area(self, text: str) -> int:
        """An area id from its code or, failing that, its exact name (if only one has it)."""
        return self._state.resolve_area(text)

    def area_ids(self, codes: Sequence[str]) -> tuple[int, ...]:
        return self._state.area_ids(codes)

    # -- devices --------------------------------------------------------------------------------

    async def register(self, registration: Registration) -> tuple[Device, str]:
        """Store a new device; returns it and its secret (shown this once, stored hashed)."""
        return await self._writer.register(registration)

    async def update(self, public_id: str, secret: str, change: DeviceUpdate) -> Device:
        """Apply one device's change; changes arriving together share one transaction."""
        return await self._writer.update(public_id, secret, change)

    async def close(self) -> None:
        """Finish the registrations already accepted (at shutdown)."""
        await self._writer.close()

    async def device(self, public_id: str, secret: str) -> Device:
        async with self._db.transaction() as conn:
            row = await self._authenticate(conn, public_id, secret)
        return self._state.view(row)

    async def unregister(self, public_id: str, secret: str) -> None:
        async with self._db.transaction() as conn:
            row = await self._authenticate(conn, public_id, secret)
            await store.delete_device(conn, row.id)
            if row.token is not None:
                await store.forget_token(conn, row.token)
                await store.queue_topic_changes(
                    conn, row.token, frozenset(), row.topics, self._clock.now()
                )
            self._state.forget(row.id, row.area_ids)
        log.info("device unregistered", extra={"device": row.id})

    async def drop_token(self, token: str, code: str) -> bool:
        """FCM refused the token for good: forget it (the device may send a new one)."""
        async with self._db.transaction() as conn:
            row = await store.device_by_token(conn, token)
            if row is None:
                return False
            await store.update_device(
                conn, row.id, {"token": None, "topics": ""}, self._clock.now()
            )
            await store.forget_token(conn, token)
            self._state.forget(row.id, row.area_ids)
        log.info("device token dropped", extra={"device": row.id, "code": code})
        return True

    async def _authenticate(
        self, conn: aiosqlite.Connection, public_id: str, secret: str
    ) -> store.DeviceRow:
        row = await store.device_by_public_id(conn, public_id)
        # Compare against a dummy hash when the id is unknown, so both cases take as long.
        expected = row.secret_hash if row else hash_secret(public_id + "unknown")
        if not hmac.compare_digest(expected, hash_secret(secret)) or row is None:
            raise DeviceRefused("unknown device or wrong secret")
        return row

    # -- topics ---------------------------------------------------------------------------------

    async def flush_topics(self) -> int:
        """Hand queued topic changes over for sending; returns the requests queued."""
        return await self._topic_queue.flush()

    async def expire_locations(self, limit: int = REASSIGN_CHUNK) -> int:
        """Stop counting locations that went stale toward topics; returns devices changed."""
        return await self._topic_queue.expire(limit)

    # -- contacts -------------------------------------------------------------------------------

    async def save_contacts(
        self, contacts: Sequence[tuple[ContactDraft, int | None]], actor: str, action: str
    ) -> tuple[int, int]:
        """Insert or update contacts by phone (area ids already resolved); (added, updated)."""
        return await self._contacts.save(contacts, actor, action)

    async def delete_contact(self, contact_id: int, actor: str) -> bool:
        return await self._contacts.delete(contact_id, actor)

    # -- targeting ------------------------------------------------------------------------------

    def audience(self) -> Audience:
        return self._state.audience()

    def plan(self, geometry: Any, options: PlanOptions | None = None) -> DeliveryPlan:
        """Who gets a warning for this polygon, by which route (see geofences.targeting)."""
        options = options or PlanOptions(max_location_age=self.settings.location_max_age)
        return plan_delivery(geometry, options, audience=self.audience(), now=self._clock.now())

    async def location_for_phone(self, phone: str) -> PhoneLocation | None:
        """Where this number was last known to be (the hotline offers it to a caller)."""
        return await store.location_for_phone(self._db, phone)

    async def push_targets(self, device_ids: Sequence[int]) -> list[tuple[int, str, str]]:
        """(device id, FCM token, language) for a plan's token route; devices that lost their
        token since the plan are left out."""
        return await store.push_targets(self._db, device_ids)

    async def contact_targets(self, contact_ids: Sequence[int]) -> list[tuple[int, str, str, bool]]:
        """(contact id, phone, language, vulnerable) for a plan's phone-only contacts."""
        return await store.contact_targets(self._db, contact_ids)
