"""Device writes by group commit: registrations and changes arriving together share one
transaction (the write lock, not the CPU, limits how many transactions a second SQLite takes).

Each request awaits its own future; a batch that fails is retried one by one, so one bad row
fails only its own request.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

from canhbao.clock import Clock
from canhbao.db import Database
from geofences import store
from geofences.errors import DeviceRefused
from geofences.models import Device, DeviceUpdate, Location, Registration
from geofences.state import RegistryState, hash_secret, location_columns, row_location

log = logging.getLogger(__name__)

# Registrations (or changes) written per transaction at most.
MAX_BATCH = 500


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


class DeviceWriter:
    """Queues registrations and changes and writes them a batch per transaction."""

    def __init__(self, db: Database, clock: Clock, state: RegistryState) -> None:
        self._db = db
        self._clock = clock
        self._state = state
        self._pending: list[_Pending] = []
        self._changes: list[_Change] = []
        self._writer: asyncio.Task[None] | None = None

    async def register(self, registration: Registration) -> tuple[Device, str]:
        """Store a new device; returns it and its secret (shown this once, stored hashed).

        A token already registered belongs to an app that lost its secret (reinstalled,
        data cleared): that old device is replaced. Registrations arriving together are
        written in one transaction (group commit): the write lock, not the CPU, limits how
        many transactions a second SQLite takes.
        """
        now = self._clock.now()
        area_ids = self._state.area_ids(registration.area_codes)
        secret = secrets.token_urlsafe(32)
        location = registration.location
        location_area = self._state.catalog.locate(location.lon, location.lat) if location else -1
        fresh = self._state.fresh(location, now)
        topics = self._state.topics(location_area, fresh, area_ids, registration.language)
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
            location_area=self._state.code(location_area),
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
                await store.delete_devices(conn, [row.id for row in previous.values()])
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
                    location=location_columns(p.registration.location),
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
                self._state.forget(old.id, old.area_ids)
                log.info("device replaced", extra={"old_device": old.id})
            for row, p in zip(rows, batch, strict=True):
                self._state.remember(row.id, p.registration.location, p.location_area, p.area_ids)

    async def close(self) -> None:
        """Finish the registrations already accepted (at shutdown)."""
        if self._writer is not None:
            await self._writer

    async def update(self, public_id: str, secret: str, change: DeviceUpdate) -> Device:
        """Apply one device's change; changes arriving together share one transaction."""
        area_ids = (
            self._state.area_ids(change.area_codes) if change.area_codes is not None else None
        )
        location_area = (
            self._state.catalog.locate(change.location.lon, change.location.lat)
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
                await store.delete_devices(conn, [r.id for r in plan.deleted])
            if plan.forgotten_tokens:
                await store.forget_tokens(conn, [token for _, token in plan.forgotten_tokens])
            await store.update_devices(conn, plan.updates, now)
            await store.replace_subscriptions(conn, plan.subscriptions)
            await store.queue_many_topic_changes(conn, [q[1:] for q in plan.queue], now)
            for old in plan.deleted:
                self._state.forget(old.id, old.area_ids)
            for forget, remember in plan.memory:
                self._state.forget(*forget)
                if remember is not None:
                    self._state.remember(*remember)

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
        location = row_location(row)
        location_area = row.location_area_id if row.location_area_id is not None else -1
        if change.location is not None and item.location_area is not None:
            location, location_area = change.location, item.location_area
        fresh = self._state.fresh(location, now)
        subscribed = item.area_ids if item.area_ids is not None else row.area_ids
        if item.area_ids is not None and item.area_ids != row.area_ids:
            plan.subscriptions[row.id] = item.area_ids
        topics = self._state.topics(
            location_area, fresh, subscribed, change.language or row.language
        )
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
        lon, lat, accuracy, located_at = location_columns(location) or (None, None, None, None)
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
        return self._state.view(updated, location)
