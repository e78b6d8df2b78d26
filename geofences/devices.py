"""The device registry: citizen devices, phone-only contacts, areas, and their in-memory indexes.

Every change is written to SQLite first; the in-memory state (the point indexes and the
subscriber sets that targeting reads) is changed at the end of the same write transaction, so
changes reach memory in the order they commit. Topic subscriptions are queued in the same
transaction and handed to the outbox in batches of up to 1,000 tokens by `flush_topics`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

import aiosqlite
import numpy as np

from canhbao.audit import record_audit
from canhbao.clock import Clock, parse_utc, utc_text
from canhbao.db import Database
from geofences import store
from geofences.areas import ImportPlan
from geofences.errors import DeviceRefused, UnknownArea
from geofences.index import AreaCatalog, PointIndex
from geofences.models import (
    ContactDraft,
    DeliveryPlan,
    Device,
    DeviceUpdate,
    Location,
    PhoneLocation,
    PlanOptions,
    Registration,
    desired_topics,
)
from geofences.ports import TopicSender, TopicSubscriptions
from geofences.targeting import Audience, plan_delivery

log = logging.getLogger(__name__)

# Contacts live in their own index; their points never go stale.
_CONTACT_TIME = 0.0


@dataclass(frozen=True)
class RegistrySettings:
    topic_prefix: str = "area-"
    location_max_age: timedelta = timedelta(hours=24)
    max_subscriptions: int = 10
    topic_flush_batch: int = 50_000


# Registrations (or changes) written per transaction at most.
MAX_BATCH = 500
# Devices moved into their new areas per transaction after an import.
REASSIGN_CHUNK = 5_000


class _Queued:
    """Something waiting for the next group commit, and the future its request awaits."""

    done: asyncio.Future[Any]
    result: Any = None

    def finish(self) -> None:
        if self.done.done():
            return
        if isinstance(self.result, BaseException):
            self.done.set_exception(self.result)
        else:
            self.done.set_result(self.result)

    def fail(self) -> None:
        if not self.done.done():
            self.done.set_exception(RuntimeError("the device change could not be stored"))


@dataclass(eq=False)
class _Pending(_Queued):
    """A registration waiting for the next group commit."""

    registration: Registration
    public_id: str
    secret_hash: str
    area_ids: tuple[int, ...]
    location_area: int
    fresh: bool
    topics: frozenset[str]
    done: asyncio.Future[Any]


@dataclass(eq=False)
class _Change(_Queued):
    """A device's change waiting for the next group commit (its result: a Device, or the
    DeviceRefused to raise)."""

    public_id: str
    secret_hash: str
    change: DeviceUpdate
    area_ids: tuple[int, ...] | None
    location_area: int | None
    done: asyncio.Future[Any]


@dataclass
class _ChangeSet:
    """The writes of one batch of changes, gathered to be made with a few statements."""

    updates: list[store.DeviceRow] = field(default_factory=list)
    deleted: list[store.DeviceRow] = field(default_factory=list)
    # Each entry names the device it is for, so a device gone in the batch can be left out.
    forgotten_tokens: list[tuple[int, str]] = field(default_factory=list)
    subscriptions: dict[int, tuple[int, ...]] = field(default_factory=dict)
    queue: list[tuple[int, str, str, bool]] = field(default_factory=list)
    memory: list[
        tuple[
            tuple[int, Sequence[int]],
            tuple[int, Location | None, int, Sequence[int]] | None,
        ]
    ] = field(default_factory=list)


Q = TypeVar("Q", bound=_Queued)


def _token_of(pending: _Pending) -> str:
    return pending.registration.token


def _device_of(change: _Change) -> str:
    return change.public_id


def _take_batch(queue: list[Q], limit: int, key: Callable[[Q], str]) -> list[Q]:
    """Take up to `limit` items off the front, stopping before a repeated key (a second
    registration of a token, or change of a device, must see the first one's result)."""
    batch: list[Q] = []
    seen: set[str] = set()
    for item in queue[:limit]:
        if key(item) in seen:
            break
        seen.add(key(item))
        batch.append(item)
    del queue[: len(batch)]
    return batch


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class DeviceRegistry:
    """Owns the geofences tables' writes and the in-memory state targeting reads."""

    def __init__(
        self, db: Database, clock: Clock, topics: TopicSender | None, settings: RegistrySettings
    ) -> None:
        self._db = db
        self._clock = clock
        self._topics_out = topics
        self.settings = settings
        self.catalog = AreaCatalog.empty()
        self.devices = PointIndex()
        self.subscribers: dict[int, set[int]] = {}
        self.contacts = PointIndex()
        self.area_contacts: dict[int, set[int]] = {}
        # contact id → area id, for contacts known only by their area
        self._contact_area: dict[int, int] = {}
        self.areas_revision = 0
        self._topic_of: dict[int, str] = {}
        self._pending: list[_Pending] = []
        self._changes: list[_Change] = []
        self._writer: asyncio.Task[None] | None = None

    # -- start-up and areas ---------------------------------------------------------------------

    async def load(self) -> None:
        """Read the areas and every located device and contact into memory."""
        await self._load_catalog()
        snapshot = await store.read_snapshot(self._db.path)
        self.devices.load(
            snapshot.device_ids,
            snapshot.lon,
            snapshot.lat,
            snapshot.located,
            snapshot.device_areas,
        )
        self.subscribers = _group(snapshot.subscriptions)
        self.contacts.load(
            snapshot.contact_ids,
            snapshot.contact_lon,
            snapshot.contact_lat,
            np.full(snapshot.contact_ids.size, _CONTACT_TIME),
            snapshot.contact_areas,
        )
        self.area_contacts = _group(snapshot.area_only_contacts)
        self._contact_area = {
            int(contact): int(area) for contact, area in snapshot.area_only_contacts.tolist()
        }
        if await store.read_value(self._db, "assigned_revision") != self.areas_revision:
            await self.reassign_areas()
        log.info(
            "device index loaded",
            extra={
                "devices": len(self.devices),
                "contacts": len(self.contacts),
                "areas": len(self.catalog),
                "index_bytes": self.devices.nbytes(),
            },
        )

    async def _load_catalog(self) -> None:
        revision = await store.read_value(self._db, "areas_revision")
        areas, geometries = await store.load_areas(self._db)
        self.catalog = AreaCatalog(areas, geometries)
        self._topic_of = dict(self.catalog.topics())
        self.areas_revision = revision

    async def refresh_areas(self) -> bool:
        """Reload the areas if another process (the CLI) imported some; True if it did."""
        if await store.read_value(self._db, "areas_revision") == self.areas_revision:
            return False
        await self._load_catalog()
        await self.reassign_areas()
        return True

    async def import_areas(self, plan: ImportPlan, source: str, actor: str) -> dict[str, Any]:
        """Store an import (all or nothing), then put devices and contacts in their new areas."""
        repairs: dict[str, list[str]] = {}
        for repair in plan.repairs:
            code = next(a.code for a in plan.areas if a.name == repair.name)
            repairs.setdefault(code, []).append(repair.describe())
        try:
            async with self._db.transaction() as conn:
                added, updated = await store.save_areas(
                    conn,
                    plan.areas,
                    topic_prefix=self.settings.topic_prefix,
                    source=source,
                    repairs=repairs,
                    now=self._clock.now(),
                )
                await record_audit(
                    conn,
                    at=self._clock.now(),
                    actor=actor,
                    action="areas.import",
                    entity="areas",
                    entity_id=source,
                    before=None,
                    after={
                        "added": added,
                        "updated": updated,
                        "codes": [area.code for area in plan.areas],
                        "repairs": [repair.describe() for repair in plan.repairs],
                    },
                )
        except LookupError as err:
            raise UnknownArea([str(err.args[0])]) from None
        await self._load_catalog()
        await self.reassign_areas()
        log.info("areas imported", extra={"source": source, "added": added, "updated": updated})
        return {"added": added, "updated": updated, **plan.report()}

    async def reassign_areas(self) -> int:
        """Recompute every located device's and contact's area; returns how many changed.

        Devices whose area changed get their topics re-derived and the changes queued. The work
        goes in transactions of REASSIGN_CHUNK devices, so registrations and updates are not
        held up for the whole of a country-wide re-import.
        """
        ids, x, y, _, old = self.devices.points()
        moved_ids = ids[self.catalog.locate_many(x, y) != old]
        now = self._clock.now()
        changed = 0
        for start in range(0, moved_ids.size, REASSIGN_CHUNK):
            chunk = moved_ids[start : start + REASSIGN_CHUNK].tolist()
            async with self._db.transaction() as conn:
                rows = [r for r in (await store.devices_by_ids(conn, chunk)) if r.lon is not None]
                # Read again inside the transaction: a device may have moved since the scan.
                areas = self.catalog.locate_many(
                    np.array([r.lon for r in rows], dtype=np.float64),
                    np.array([r.lat for r in rows], dtype=np.float64),
                )
                updates, queue = [], []
                for row, area in zip(rows, areas.tolist(), strict=True):
                    location = _row_location(row)
                    fresh = self._fresh(location, now)
                    topics = (
                        self._topics(area, fresh, row.area_ids, row.language)
                        if row.token
                        else frozenset()
                    )
                    if row.token is not None:
                        queue += [(row.token, topic, True) for topic in topics - row.topics]
                        queue += [(row.token, topic, False) for topic in row.topics - topics]
                    updates.append(
                        replace(
                            row,
                            location_area_id=area if area >= 0 else None,
                            location_topics=fresh,
                            topics=topics,
                        )
                    )
                await store.update_devices(conn, updates, now)
                await store.queue_many_topic_changes(conn, queue, now)
                self.devices.set_areas(
                    np.array([r.id for r in rows], dtype=np.int64), areas.astype(np.int32)
                )
                changed += len(rows)
        async with self._db.transaction() as conn:
            cids, cx, cy, _, cold = self.contacts.points()
            cnew = self.catalog.locate_many(cx, cy)
            cmoved = np.flatnonzero(cnew != cold)
            await conn.executemany(
                "UPDATE geofences_contacts SET area_id = ? WHERE id = ?",
                [(int(cnew[i]) if cnew[i] >= 0 else None, int(cids[i])) for i in cmoved],
            )
            await conn.execute(
                "UPDATE geofences_state SET value = ? WHERE key = 'assigned_revision'",
                (self.areas_revision,),
            )
            self.contacts.set_areas(cids[cmoved], cnew[cmoved])
            changed += int(cmoved.size)
        if changed:
            log.info("areas reassigned", extra={"changed": changed})
        return changed

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

    # -- devices --------------------------------------------------------------------------------

    async def register(self, registration: Registration) -> tuple[Device, str]:
        """Store a new device; returns it and its secret (shown this once, stored hashed).

        A token already registered belongs to an app that lost its secret (reinstalled,
        data cleared): that old device is replaced. Registrations arriving together are
        written in one transaction (group commit): the write lock, not the CPU, limits how
        many transactions a second SQLite takes.
        """
        now = self._clock.now()
        area_ids = self.area_ids(registration.area_codes)
        secret = secrets.token_urlsafe(32)
        location = registration.location
        location_area = self.catalog.locate(location.lon, location.lat) if location else -1
        fresh = self._fresh(location, now)
        topics = self._topics(location_area, fresh, area_ids, registration.language)
        pending = _Pending(
            registration=registration,
            public_id=secrets.token_urlsafe(16),
            secret_hash=hash_secret(secret),
            area_ids=area_ids,
            location_area=location_area,
            fresh=fresh,
            topics=topics,
            done=asyncio.get_running_loop().create_future(),
        )
        self._pending.append(pending)
        self._wake_writer()
        # Shielded: a client that hangs up does not take its batch-mates' write down with it.
        await asyncio.shield(pending.done)
        device = Device(
            public_id=pending.public_id,
            platform=registration.platform,
            language=registration.language,
            has_token=True,
            phone=registration.phone,
            location=location,
            location_area=self._code(location_area),
            area_codes=tuple(sorted(registration.area_codes)),
            topics=tuple(sorted(topics)),
        )
        return device, secret

    def _wake_writer(self) -> None:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_pending(), name="geofences-writer")

    async def _write_pending(self) -> None:
        """Write queued registrations and changes, a batch per transaction, until none are left."""
        while self._pending or self._changes:
            if self._pending:
                registrations = _take_batch(self._pending, MAX_BATCH, _token_of)
                await self._write_batch(registrations, self._insert)
            if self._changes:
                changes = _take_batch(self._changes, MAX_BATCH, _device_of)
                await self._write_batch(changes, self._apply_changes)

    async def _write_batch(
        self, batch: Sequence[_Queued], write: Callable[[Sequence[Any]], Awaitable[None]]
    ) -> None:
        try:
            await write(batch)
        except Exception:
            if len(batch) == 1:
                batch[0].fail()
                return
            # One bad row must not fail the others: write them one by one.
            log.exception("device batch failed; retrying one by one")
            for item in batch:
                try:
                    await write([item])
                except Exception:
                    item.fail()
            return
        for item in batch:
            item.finish()

    async def _insert(self, batch: Sequence[_Pending]) -> None:
        now = self._clock.now()
        async with self._db.transaction() as conn:
            tokens = [p.registration.token for p in batch]
            previous = await store.devices_by_tokens(conn, tokens)
            if previous:
                await conn.executemany(
                    "DELETE FROM geofences_devices WHERE id = ?",
                    [(row.id,) for row in previous.values()],
                )
            first_id = await store.next_device_id(conn)
            rows = [
                store.NewDevice(
                    id=first_id + n,
                    public_id=p.public_id,
                    secret_hash=p.secret_hash,
                    token=p.registration.token,
                    platform=p.registration.platform,
                    language=p.registration.language,
                    phone=p.registration.phone,
                    location=_location_columns(p.registration.location),
                    location_area_id=p.location_area if p.location_area >= 0 else None,
                    location_topics=p.fresh,
                    topics=p.topics,
                    area_ids=p.area_ids,
                )
                for n, p in enumerate(batch)
            ]
            await store.insert_devices(conn, rows, now)
            changes: list[tuple[str, str, bool]] = []
            for row in rows:
                before = previous[row.token].topics if row.token in previous else frozenset()
                changes += [(row.token, topic, True) for topic in row.topics - before]
                changes += [(row.token, topic, False) for topic in before - row.topics]
            await store.queue_many_topic_changes(conn, changes, now)
            for old in previous.values():
                self._forget(old.id, old.area_ids)
                log.info("device replaced", extra={"old_device": old.id})
            for row, p in zip(rows, batch, strict=True):
                self._remember(row.id, p.registration.location, p.location_area, p.area_ids)

    async def close(self) -> None:
        """Finish the registrations already accepted (at shutdown)."""
        if self._writer is not None:
            await self._writer

    async def device(self, public_id: str, secret: str) -> Device:
        async with self._db.transaction() as conn:
            row = await self._authenticate(conn, public_id, secret)
        return self._view(row)

    async def update(self, public_id: str, secret: str, change: DeviceUpdate) -> Device:
        """Apply one device's change; changes arriving together share one transaction."""
        area_ids = self.area_ids(change.area_codes) if change.area_codes is not None else None
        location_area = (
            self.catalog.locate(change.location.lon, change.location.lat)
            if change.location is not None
            else None
        )
        item = _Change(
            public_id=public_id,
            secret_hash=hash_secret(secret),
            change=change,
            area_ids=area_ids,
            location_area=location_area,
            done=asyncio.get_running_loop().create_future(),
        )
        self._changes.append(item)
        self._wake_writer()
        return await asyncio.shield(item.done)

    async def _apply_changes(self, batch: Sequence[_Change]) -> None:
        """One transaction for a batch of changes: a handful of statements whatever its size."""
        now = self._clock.now()
        async with self._db.transaction() as conn:
            rows = await store.devices_by_public_ids(conn, [c.public_id for c in batch])
            new_tokens = [
                c.change.token
                for c in batch
                if c.change.token is not None
                and c.public_id in rows
                and c.change.token != rows[c.public_id].token
            ]
            holders = await store.devices_by_tokens(conn, new_tokens) if new_tokens else {}
            plan = _ChangeSet()
            changed: list[tuple[_Change, int]] = []
            for item in batch:
                row = rows.get(item.public_id)
                # Compared even when the id is unknown, so both refusals take as long.
                expected = row.secret_hash if row else hash_secret(item.public_id + "unknown")
                if row is None or not hmac.compare_digest(expected, item.secret_hash):
                    item.result = DeviceRefused("unknown device or wrong secret")
                    continue
                item.result = self._plan_change(row, item, holders, plan, now)
                changed.append((item, row.id))
            # A device whose token another device in this batch took is gone: its own change
            # (made in the same batch) must not bring it back.
            gone = {old.id for old in plan.deleted}
            if gone:
                plan.updates = [d for d in plan.updates if d.id not in gone]
                plan.memory = [m for m in plan.memory if m[0][0] not in gone]
                plan.forgotten_tokens = [f for f in plan.forgotten_tokens if f[0] not in gone]
                plan.queue = [q for q in plan.queue if q[0] not in gone]
                plan.subscriptions = {
                    d: areas for d, areas in plan.subscriptions.items() if d not in gone
                }
                for item, device_id in changed:
                    if device_id in gone:
                        item.result = DeviceRefused("the device was replaced")
            if plan.deleted:
                await conn.executemany(
                    "DELETE FROM geofences_devices WHERE id = ?", [(r.id,) for r in plan.deleted]
                )
            if plan.forgotten_tokens:
                await conn.executemany(
                    "DELETE FROM geofences_topic_queue WHERE token = ?",
                    [(token,) for _, token in plan.forgotten_tokens],
                )
            await store.update_devices(conn, plan.updates, now)
            if plan.subscriptions:
                await conn.executemany(
                    "DELETE FROM geofences_subscriptions WHERE device_id = ?",
                    [(device_id,) for device_id in plan.subscriptions],
                )
                await conn.executemany(
                    "INSERT INTO geofences_subscriptions (device_id, area_id) VALUES (?, ?)",
                    [(d, a) for d, areas in plan.subscriptions.items() for a in areas],
                )
            await store.queue_many_topic_changes(conn, [q[1:] for q in plan.queue], now)
            for old in plan.deleted:
                self._forget(old.id, old.area_ids)
            for forget, remember in plan.memory:
                self._forget(*forget)
                if remember is not None:
                    self._remember(*remember)

    def _plan_change(
        self,
        row: store.DeviceRow,
        item: _Change,
        holders: dict[str, store.DeviceRow],
        plan: _ChangeSet,
        now: datetime,
    ) -> Device:
        """Work out one change's writes (added to `plan`) and the device it leaves."""
        change = item.change
        location = _row_location(row)
        location_area = row.location_area_id if row.location_area_id is not None else -1
        if change.location is not None and item.location_area is not None:
            location, location_area = change.location, item.location_area
        fresh = self._fresh(location, now)
        subscribed = item.area_ids if item.area_ids is not None else row.area_ids
        if item.area_ids is not None and item.area_ids != row.area_ids:
            plan.subscriptions[row.id] = item.area_ids
        topics = self._topics(location_area, fresh, subscribed, change.language or row.language)
        token = row.token
        before = row.topics
        if change.token is not None and change.token != row.token:
            holder = holders.pop(change.token, None)
            if holder is not None and holder.id != row.id:
                plan.deleted.append(holder)
            if row.token is not None:
                plan.forgotten_tokens.append((row.id, row.token))
                plan.queue += [(row.id, row.token, topic, False) for topic in row.topics]
            token = change.token
            before = holder.topics if holder else frozenset()
        if token is not None:
            plan.queue += [(row.id, token, topic, True) for topic in topics - before]
            plan.queue += [(row.id, token, topic, False) for topic in before - topics]
        phone = change.phone if change.phone is not None or change.clear_phone else row.phone
        lon, lat, accuracy, located_at = _location_columns(location) or (None, None, None, None)
        updated = replace(
            row,
            lon=lon,
            lat=lat,
            accuracy_m=accuracy,
            located_at=located_at,
            token=token,
            language=change.language or row.language,
            phone=phone,
            area_ids=subscribed,
            location_area_id=location_area if location_area >= 0 else None,
            location_topics=fresh,
            topics=topics if token is not None else frozenset(),
        )
        plan.updates.append(updated)
        plan.memory.append(
            (
                (row.id, row.area_ids),
                (row.id, location, location_area, subscribed) if token is not None else None,
            )
        )
        return self._view(updated, location)

    async def unregister(self, public_id: str, secret: str) -> None:
        async with self._db.transaction() as conn:
            row = await self._authenticate(conn, public_id, secret)
            await store.delete_device(conn, row.id)
            if row.token is not None:
                await store.forget_token(conn, row.token)
                await self._queue(conn, row.token, frozenset(), row.topics)
            self._forget(row.id, row.area_ids)
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
            self._forget(row.id, row.area_ids)
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

    def _fresh(self, location: Location | None, now: datetime) -> bool:
        return location is not None and location.at >= now - self.settings.location_max_age

    def _topics(
        self, location_area: int, fresh: bool, area_ids: Sequence[int], language: str
    ) -> frozenset[str]:
        chosen = list(area_ids)
        if fresh and location_area >= 0:
            chosen.append(location_area)
        return desired_topics(chosen, self.catalog.ancestors, self._topic_of, language)

    async def _queue(
        self,
        conn: aiosqlite.Connection,
        token: str,
        topics: frozenset[str],
        before: frozenset[str],
    ) -> None:
        await store.queue_topic_changes(
            conn, token, topics - before, before - topics, self._clock.now()
        )

    async def flush_topics(self) -> int:
        """Hand queued topic changes to the outbox, ≤ 1,000 tokens a message; returns messages.

        Taking the rows off the queue and enqueueing them is one transaction, so a crash loses
        nothing and sends nothing twice.
        """
        if self._topics_out is None:
            return 0
        async with self._db.transaction() as conn:
            rows = await store.take_topic_changes(conn, self.settings.topic_flush_batch)
            if not rows:
                return 0
            groups: dict[tuple[str, bool], list[str]] = {}
            for topic, token, subscribe in rows:
                groups.setdefault((topic, subscribe), []).append(token)
            hand_over = await store.next_value(conn, "topic_batch")
            changes = [
                TopicSubscriptions(topic=topic, tokens=tuple(tokens), subscribe=subscribe)
                for (topic, subscribe), tokens in sorted(groups.items())
            ]
            messages = await self._topics_out.send_topic_changes(conn, hand_over, changes)
        log.info("topic changes queued", extra={"changes": len(rows), "messages": messages})
        return messages

    async def expire_locations(self, limit: int = REASSIGN_CHUNK) -> int:
        """Stop counting locations that went stale toward topics; returns devices changed."""
        now = self._clock.now()
        cutoff = now - self.settings.location_max_age
        async with self._db.transaction() as conn:
            rows = await store.expiring_locations(conn, cutoff, limit)
            updates, queue = [], []
            for row in rows:
                topics = (
                    self._topics(-1, False, row.area_ids, row.language)
                    if row.token
                    else frozenset()
                )
                if row.token is not None:
                    queue += [(row.token, topic, False) for topic in row.topics - topics]
                    queue += [(row.token, topic, True) for topic in topics - row.topics]
                updates.append(replace(row, location_topics=False, topics=topics))
            await store.update_devices(conn, updates, now)
            await store.queue_many_topic_changes(conn, queue, now)
        if rows:
            log.info("stale locations expired", extra={"devices": len(rows)})
        return len(rows)

    # -- contacts -------------------------------------------------------------------------------

    async def save_contacts(
        self, contacts: Sequence[tuple[ContactDraft, int | None]], actor: str, action: str
    ) -> tuple[int, int]:
        """Insert or update contacts by phone (area ids already resolved); (added, updated)."""
        located = [
            self.catalog.locate(c.lon, c.lat) if c.lon is not None and c.lat is not None else -1
            for c, _ in contacts
        ]
        rows = [
            (contact, area_id if area_id is not None else (found if found >= 0 else None))
            for (contact, area_id), found in zip(contacts, located, strict=True)
        ]
        async with self._db.transaction() as conn:
            saved = await store.upsert_contacts(conn, rows, actor, self._clock.now())
            # Counts and ids only: the audit log is read by every admin, and these are the
            # names and numbers of vulnerable people.
            await record_audit(
                conn,
                at=self._clock.now(),
                actor=actor,
                action=action,
                entity="contacts",
                entity_id=",".join(str(contact_id) for contact_id, _ in saved[:50]),
                before=None,
                after={"saved": len(saved), "added": sum(new for _, new in saved)},
            )
            for (contact_id, _), (contact, area_id) in zip(saved, rows, strict=True):
                self._forget_contact(contact_id)
                if contact.lon is not None and contact.lat is not None:
                    area = area_id if area_id is not None else -1
                    self.contacts.upsert(contact_id, contact.lon, contact.lat, _CONTACT_TIME, area)
                elif area_id is not None:
                    self.area_contacts.setdefault(area_id, set()).add(contact_id)
                    self._contact_area[contact_id] = area_id
        added = sum(new for _, new in saved)
        return added, len(saved) - added

    async def delete_contact(self, contact_id: int, actor: str) -> bool:
        async with self._db.transaction() as conn:
            deleted = await store.delete_contact(conn, contact_id)
            if deleted:
                await record_audit(
                    conn,
                    at=self._clock.now(),
                    actor=actor,
                    action="contacts.delete",
                    entity="contact",
                    entity_id=str(contact_id),
                    before=None,
                    after=None,
                )
            self._forget_contact(contact_id)
        return deleted

    def _forget_contact(self, contact_id: int) -> None:
        self.contacts.remove(contact_id)
        area_id = self._contact_area.pop(contact_id, None)
        if area_id is not None:
            self.area_contacts[area_id].discard(contact_id)

    # -- targeting ------------------------------------------------------------------------------

    def audience(self) -> Audience:
        return Audience(
            catalog=self.catalog,
            devices=self.devices,
            subscribers=self.subscribers,
            contacts=self.contacts,
            area_contacts=self.area_contacts,
        )

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

    # -- memory ---------------------------------------------------------------------------------

    def _remember(
        self, device_id: int, location: Location | None, area: int, area_ids: Sequence[int]
    ) -> None:
        if location is not None:
            self.devices.upsert(
                device_id, location.lon, location.lat, location.at.timestamp(), area
            )
        for area_id in area_ids:
            self.subscribers.setdefault(area_id, set()).add(device_id)

    def _forget(self, device_id: int, area_ids: Sequence[int]) -> None:
        self.devices.remove(device_id)
        for area_id in area_ids:
            members = self.subscribers.get(area_id)
            if members is not None:
                members.discard(device_id)

    def _code(self, area_id: int | None) -> str | None:
        if area_id is None or area_id < 0 or area_id not in self.catalog.areas:
            return None
        return self.catalog.areas[area_id].code

    def _view(self, row: store.DeviceRow, location: Location | None = None) -> Device:
        return Device(
            public_id=row.public_id,
            platform=row.platform,  # type: ignore[arg-type]  # the table's CHECK holds it to Platform
            language=row.language,  # type: ignore[arg-type]  # the table's CHECK holds it to Language
            has_token=row.token is not None,
            phone=row.phone,
            location=location or _row_location(row),
            location_area=self._code(row.location_area_id),
            area_codes=tuple(sorted(c for c in (self._code(a) for a in row.area_ids) if c)),
            topics=tuple(sorted(row.topics)),
        )


def _location_columns(location: Location | None) -> tuple[float, float, float | None, str] | None:
    if location is None:
        return None
    return location.lon, location.lat, location.accuracy_m, utc_text(location.at)


def _row_location(row: store.DeviceRow) -> Location | None:
    if row.lon is None or row.lat is None or row.located_at is None:
        return None
    return Location(row.lon, row.lat, row.accuracy_m, parse_utc(row.located_at))


def _group(pairs: Any) -> dict[int, set[int]]:
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
