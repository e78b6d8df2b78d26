"""The staff live stream: events from every process, stored in order, fanned out to consoles.

    audit_log, event_log rows (any process) ─┐
    emit(StreamEvent) (this process) ────────┴─► StreamRecorder ─► stream_events table
        (batched: one transaction per flush, the followed tables' cursors moved with it)
    stream_events ─► StreamHub (web process: tails the table, woken at once by its own
        writes, polled for others') ─► Subscription per console (bounded queue; a slow
        console is dropped and resumes with Last-Event-ID)

The recorder never sits in a hot path: `emit` only appends to a list; the followed tables are
read by id after the recorder's own position. A console that reconnects with Last-Event-ID is
sent what it missed from the table, then the live events, without a gap or a repeat: it is
registered with the hub before the replay, which reads up to the hub's position at that moment.

Errors: StreamError (the shell's only stream error) ─ BadLastEventId.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import aiosqlite

from canhbao import stream_store
from canhbao.clock import Clock, utc_text
from canhbao.db import Database, Reads
from canhbao.errors import CanhbaoError

log = logging.getLogger(__name__)

ADMIN = "admin"
# Rows read from the stream table at a time (the hub's tail and a replay's pages).
PAGE = 500
# Events emitted in-process and not yet stored; past it the oldest go (logged, counted).
MAX_BUFFER = 10_000
# Positions moved over rows the stream does not show are stored at most this often.
POSITIONS_EVERY_S = 5.0
# How long the recorder waits, once woken, for more events to store with the first.
COALESCE_S = 0.05
# How long stopping waits for the recorder's last flush.
STOP_WAIT_S = 5.0


class StreamError(CanhbaoError):
    """Base of the live stream's errors."""


class BadLastEventId(StreamError):
    """A Last-Event-ID that is not an event id this service gives."""


@dataclass(frozen=True)
class StreamSettings:
    poll_s: float = 0.2
    keepalive_s: float = 15.0
    client_queue: int = 256
    keep_events: int = 50_000
    keep_hours: float = 48.0


@dataclass(frozen=True)
class StreamEvent:
    """One event for consoles: its dotted type, which roles see it (admin sees all), the fields
    a view needs (the one-line JSON gets "type" and "at" besides)."""

    type: str
    audience: frozenset[str]
    data: Mapping[str, Any]
    at: datetime | None = None


class StreamSource(Protocol):
    """A table the stream follows from its own stored position."""

    name: str

    async def newest(self, db: Reads) -> int:
        """Where a stream new to this database starts: the table's end (no history)."""
        ...

    async def read(self, db: Reads, after: int) -> tuple[int, list[StreamEvent]]:
        """What is new after `after`, as stream events; and the position read up to."""
        ...


class StreamRecorder:
    """Writes stream events: those emitted in this process and those read from the followed
    tables, one transaction per flush, the followed tables' positions moved in it."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: StreamSettings,
        sources: Sequence[StreamSource] = (),
    ) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings
        self._sources = list(sources)
        self._positions: dict[str, int] = {}
        # The positions as last stored, and when.
        self._stored: dict[str, int] = {}
        self._stored_at = 0.0
        self._buffer: list[StreamEvent] = []
        self._dropped = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failing = False
        self._stopping = False
        self.written: list[Callable[[], None]] = []

    def emit(self, event: StreamEvent) -> None:
        """Queue an event for the next flush (never waits)."""
        if len(self._buffer) >= MAX_BUFFER:
            self._buffer.pop(0)
            self._dropped += 1
            if self._dropped == 1:
                log.warning("stream buffer full: oldest events dropped")
        self._buffer.append(event)
        self._wake.set()

    def poke(self) -> None:
        """Something may be new in a followed table: read now rather than at the next poll."""
        self._wake.set()

    async def start(self) -> None:
        stored = await stream_store.positions(self._db)
        self._stored = dict(stored)
        for source in self._sources:
            self._positions[source.name] = stored.get(source.name, await source.newest(self._db))
        self._task = asyncio.create_task(self._run(), name="stream.recorder")

    async def stop(self) -> None:
        """Store what is pending, then stop. The task is asked to end after its flush rather
        than cancelled: a cancel landing in the middle of a write transaction's BEGIN would
        leave the app's one writer connection inside a transaction while others wait on it."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), STOP_WAIT_S)
        except TimeoutError:
            log.warning("stream recorder did not stop in time; cancelled")
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while not self._stopping:
            # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancel that
            # lands as the wait ends, and this loop would then outlive its app (a shutdown hung).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._settings.poll_s):
                    await self._wake.wait()
                    # What else comes within COALESCE_S goes in the same flush: a busy hotline
                    # emits hundreds of events a second, and a flush each cost reads and a write.
                    await asyncio.sleep(COALESCE_S)
            self._wake.clear()
            try:
                await self.flush()
            except Exception:
                if not self._failing:
                    log.exception("stream events could not be stored; retrying")
                self._failing = True
            else:
                if self._failing:
                    log.info("stream events stored again")
                self._failing = False

    async def flush(self) -> int:
        """Store what is pending; returns how many events were stored."""
        emitted, self._buffer = self._buffer, []
        events = list(emitted)
        moved: dict[str, int] = {}
        try:
            for source in self._sources:
                after = self._positions[source.name]
                position, found = await source.read(self._db.background, after)
                if position != after:
                    moved[source.name] = position
                events.extend(found)
            if not events and not self._due(moved):
                # Only rows the stream does not show were passed: the positions move in memory
                # and are stored with the next events (or within POSITIONS_EVERY_S), so a busy
                # event log never costs a write per poll.
                self._positions.update(moved)
                return 0
            moved = {
                name: position
                for name, position in self._positions.items()
                if self._stored.get(name) != position
            } | moved
            now = self._clock.now()
            rows = [
                (
                    event.type,
                    " ".join(sorted(event.audience)),
                    {"type": event.type, "at": utc_text(event.at or now), **event.data},
                )
                for event in events
            ]

            async def store(conn: aiosqlite.Connection) -> None:
                await stream_store.insert_events(conn, rows, now)
                for name, position in moved.items():
                    await stream_store.set_position(conn, name, position)

            # Whole in the writer's thread: the writers' lock is held for the SQL alone.
            await self._db.transact(store)
        except BaseException:
            # Kept for the next try; the followed tables are simply read again.
            self._buffer[:0] = emitted[-MAX_BUFFER:]
            raise
        self._positions.update(moved)
        self._stored.update(moved)
        self._stored_at = time.monotonic()
        for callback in self.written:
            callback()
        return len(events)

    def _due(self, moved: Mapping[str, int]) -> bool:
        return bool(moved) and time.monotonic() - self._stored_at >= POSITIONS_EVERY_S


# -- the hub: one tail of the table, many consoles ---------------------------------------------


_KEEPALIVE = b": keep-alive\n\n"


def frame(row: stream_store.StoredEvent) -> bytes:
    """The SSE frame of one stored event (data is one line: JSON escapes newlines)."""
    return f"id: {row.id}\nevent: {row.type}\ndata: {row.data}\n\n".encode()


def reset_frame(newest: int, at: datetime) -> bytes:
    """Said to a console whose Last-Event-ID is older than what is kept: reload, then go on."""
    data = f'{{"type":"stream.reset","at":"{utc_text(at)}","reason":"pruned"}}'
    return f"id: {newest}\nevent: stream.reset\ndata: {data}\n\n".encode()


@dataclass(eq=False)
class Subscription:
    """One connected console: its roles, its bounded queue of frames, live after `floor`."""

    roles: frozenset[str]
    queue: asyncio.Queue[bytes | None]
    floor: int = 0
    dropped: bool = False
    on_drop: Callable[[], None] | None = field(default=None, repr=False)

    def sees(self, audience: frozenset[str]) -> bool:
        return ADMIN in self.roles or not self.roles.isdisjoint(audience)

    def offer(self, data: bytes) -> None:
        if self.dropped:
            return
        try:
            self.queue.put_nowait(data)
        except asyncio.QueueFull:
            self.drop()

    def drop(self) -> None:
        """Too slow: end its stream now, even mid-write; it resumes with Last-Event-ID."""
        if self.dropped:
            return
        self.end()
        if self.on_drop is not None:
            self.on_drop()

    def end(self) -> None:
        """End its stream after the frame being written (shutdown)."""
        self.dropped = True
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)

    async def next(self, quiet_s: float) -> bytes | None:
        """The frames ready now, written at once (one write for a burst, not one per frame);
        a keep-alive after `quiet_s` quiet seconds; None at the end."""
        try:
            async with asyncio.timeout(quiet_s):
                first = await self.queue.get()
        except TimeoutError:
            return _KEEPALIVE
        if first is None:
            return None
        ready = [first]
        while not self.queue.empty():
            more = self.queue.get_nowait()
            if more is None:
                # The end: what came before it still goes out; the next call ends.
                self.queue.put_nowait(None)
                break
            ready.append(more)
        return b"".join(ready) if len(ready) > 1 else first


class StreamHub:
    """Tails the stream table (woken at once by this process's writes, polled for others')
    and hands each new event's frame to every console whose roles see it."""

    def __init__(self, db: Database, clock: Clock, settings: StreamSettings) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings
        self._subscriptions: set[Subscription] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.position = 0

    @property
    def connected(self) -> int:
        return len(self._subscriptions)

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        _, self.position = await stream_store.bounds(self._db)
        self._task = asyncio.create_task(self._run(), name="stream.hub")

    async def stop(self) -> None:
        """End every stream (consoles reconnect to the next process) and the tail."""
        for subscription in list(self._subscriptions):
            subscription.end()
        self._subscriptions.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        failing = False
        while True:
            # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancel that
            # lands as the wait ends, and this loop would then outlive its app (a shutdown hung).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._settings.poll_s):
                    await self._wake.wait()
            self._wake.clear()
            try:
                while await self._tail():
                    pass
            except Exception:
                if not failing:
                    log.exception("stream table unreadable; retrying")
                failing = True
            else:
                failing = False

    async def _tail(self) -> bool:
        """Hand on what is new; True when a full page was read (there may be more)."""
        rows = await stream_store.read_after(
            self._db.background, self.position, upto=None, limit=PAGE
        )
        for row in rows:
            data = frame(row)
            for subscription in list(self._subscriptions):
                if row.id > subscription.floor and subscription.sees(row.audience):
                    subscription.offer(data)
            self.position = row.id
        return len(rows) == PAGE

    def subscribe(self, roles: frozenset[str]) -> Subscription:
        """A console, live from the hub's position now."""
        subscription = Subscription(
            frozenset(roles), asyncio.Queue(self._settings.client_queue), floor=self.position
        )
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    async def replay(self, subscription: Subscription, after: int) -> AsyncIterator[bytes]:
        """What the console missed after `after` up to where it went live: the stored frames
        it may see, in pages; first a reset if some were pruned."""
        if after >= subscription.floor:
            return
        oldest, _ = await stream_store.bounds(self._db)
        if after < oldest:
            yield reset_frame(oldest, self._clock.now())
            after = oldest
        while after < subscription.floor:
            rows = await stream_store.read_after(
                self._db, after, upto=subscription.floor, limit=PAGE
            )
            if not rows:
                return
            for row in rows:
                if subscription.sees(row.audience):
                    yield frame(row)
            after = rows[-1].id

    async def prune(self) -> int:
        settings = self._settings
        before = self._clock.now() - timedelta(hours=settings.keep_hours)
        return await stream_store.prune(self._db, keep=settings.keep_events, before=before)


def parse_last_event_id(text: str) -> int:
    """A Last-Event-ID header: an id this service gave (ASCII digits), else BadLastEventId."""
    value = text.strip()
    if not value:
        return 0
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise BadLastEventId(f"Last-Event-ID {text[:40]!r} is not an event id")
    return int(value)
