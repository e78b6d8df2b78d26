"""The durable event log: events another domain acts on, stored with their cause, delivered from it.

A domain appends its events inside the transaction that causes them (readings → threshold
events), so they commit or vanish together, and calls `committed()` once that transaction is
over. Each subscriber has its own cursor in the database and its own task: it reads the log
after its cursor, hands each event to its handler and then moves the cursor. Delivery is at
least once (a crash between a handler's effect and the cursor's move delivers the event again
after restart), so handlers must be idempotent. A handler that fails is retried with backoff,
from the same event, without holding up any other subscriber; while it fails, /healthz shows
its subscriber degraded (never critical) and /metrics counts its failures and its lag.

Events nothing durable depends on stay on the in-process bus (canhbao.events).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

import aiosqlite
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from canhbao.clock import Clock, utc_text
from canhbao.db import Database, Migration
from canhbao.health import HealthRegistry

log = logging.getLogger(__name__)

E = TypeVar("E")

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "events",
        1,
        "the durable event log and each subscriber's cursor",
        """
        CREATE TABLE event_log (
            id INTEGER PRIMARY KEY,
            type TEXT NOT NULL,
            payload TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX event_log_type ON event_log (type, id);
        -- Where each subscriber stands: the id of the last event its handler finished.
        CREATE TABLE event_cursors (
            subscriber TEXT PRIMARY KEY,
            position INTEGER NOT NULL,
            updated_at TEXT NOT NULL
        ) WITHOUT ROWID;
        """,
    ),
)

# Events read from the log at a time, per subscriber.
BATCH = 100
# One encoder for every payload: json.dumps with any option builds a new encoder per call,
# which cost more than the encoding of a small event. The rows' text stays as it was.
_ENCODE = json.JSONEncoder(ensure_ascii=False).encode
# Backoff of a failing handler: doubles from the first delay up to the cap.
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 300.0


@dataclass(frozen=True)
class EventType(Generic[E]):
    """How one kind of event is named in the log and written as JSON; declared by its domain."""

    name: str
    encode: Callable[[E], Mapping[str, Any]]
    decode: Callable[[Mapping[str, Any]], E]


async def append(
    conn: aiosqlite.Connection, event_type: EventType[E], events: Sequence[E], at: datetime
) -> None:
    """Store events inside the caller's open transaction, from a process that delivers none
    (the outbox sender's): the process that delivers them reads them at its next start, or at
    once when it is told (EventLog.committed())."""
    if not events:
        return
    name, encode = event_type.name, event_type.encode
    created_at = utc_text(at)
    await conn.executemany(
        "INSERT INTO event_log (type, payload, created_at) VALUES (?, ?, ?)",
        [(name, _ENCODE(encode(event)), created_at) for event in events],
    )


Handler = Callable[[E], Awaitable[object]]


@dataclass(eq=False)
class _Subscriber:
    name: str
    types: dict[str, EventType[Any]]
    handler: Handler[Any]
    position: int = 0
    failures_total: int = 0
    consecutive_failures: int = 0
    last_error: str = ""
    lag: int = 0
    task: asyncio.Task[None] | None = None
    # Set by committed(): there may be more to read.
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    # Set while the subscriber has nothing to do, or waits out a failure's backoff.
    quiet: asyncio.Event = field(default_factory=asyncio.Event)
    # Set by retry_now(): end the current backoff early.
    retry: asyncio.Event = field(default_factory=asyncio.Event)
    backing_off: bool = False


class EventLog:
    """Appends events in their cause's transaction; runs one delivery task per subscriber."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        health: HealthRegistry,
        *,
        retry_first_s: float = RETRY_FIRST_S,
        retry_max_s: float = RETRY_MAX_S,
    ) -> None:
        self._db = db
        self._clock = clock
        self._health = health
        self._retry_first_s = retry_first_s
        self._retry_max_s = retry_max_s
        self._subscribers: dict[str, _Subscriber] = {}
        self._started = False

    # -- writing ----------------------------------------------------------------------------

    async def append(
        self, conn: aiosqlite.Connection, event_type: EventType[E], events: Sequence[E]
    ) -> None:
        """Store events inside the caller's open transaction; call committed() after it."""
        await append(conn, event_type, events, self._clock.now())

    def committed(self) -> None:
        """The transaction that appended events is over: subscribers look for them now."""
        for subscriber in self._subscribers.values():
            if not subscriber.backing_off:
                # A subscriber waiting out a failure stays quiet: it reads on once it retries.
                subscriber.quiet.clear()
            subscriber.wake.set()

    # -- subscribing and delivering ---------------------------------------------------------

    def subscribe(self, name: str, event_type: EventType[E], handler: Handler[E]) -> None:
        """Deliver every `event_type` event to `handler`, at least once, from `name`'s cursor.

        Subscribe before start(); a subscriber new to the database starts at the log's end
        (it is not handed the history of events before it existed).
        """
        if self._started:
            raise RuntimeError(f"subscribe {name!r} before the event log starts")
        subscriber = self._subscribers.get(name)
        if subscriber is None:
            subscriber = self._subscribers[name] = _Subscriber(name, {}, handler)
        elif subscriber.handler is not handler:
            raise ValueError(f"subscriber {name!r} already has another handler")
        subscriber.types[event_type.name] = event_type

    async def start(self) -> None:
        """Load (or create) every subscriber's cursor and start its delivery task."""
        self._started = True
        now = utc_text(self._clock.now())
        async with self._db.transaction() as conn:
            for subscriber in self._subscribers.values():
                await conn.execute(
                    "INSERT OR IGNORE INTO event_cursors (subscriber, position, updated_at)"
                    " SELECT ?, coalesce(max(id), 0), ? FROM event_log",
                    (subscriber.name, now),
                )
                async with conn.execute(
                    "SELECT position FROM event_cursors WHERE subscriber = ?", (subscriber.name,)
                ) as cursor:
                    row = await cursor.fetchone()
                subscriber.position = int(row[0]) if row else 0
        for subscriber in self._subscribers.values():
            self._health.report(self._health_name(subscriber), "ok", "", critical=False)
            subscriber.task = asyncio.create_task(
                self._deliver(subscriber), name=f"events.{subscriber.name}"
            )

    async def stop(self) -> None:
        tasks = [s.task for s in self._subscribers.values() if s.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for subscriber in self._subscribers.values():
            subscriber.task = None

    async def settled(self) -> None:
        """Wait until every subscriber has caught up with the log or is backing off after a
        failure (tests and benchmarks wait on this rather than sleeping)."""
        for subscriber in self._subscribers.values():
            await subscriber.quiet.wait()

    def retry_now(self) -> None:
        """End every failing subscriber's backoff: it tries its event again at once."""
        for subscriber in self._subscribers.values():
            if subscriber.consecutive_failures:
                subscriber.quiet.clear()
                subscriber.retry.set()

    async def _deliver(self, subscriber: _Subscriber) -> None:
        types = sorted(subscriber.types)
        marks = ", ".join("?" * len(types))
        query = (
            "SELECT id, type, payload FROM event_log"  # noqa: S608  # placeholders only
            f" WHERE id > ? AND type IN ({marks}) ORDER BY id LIMIT ?"
        )
        while True:
            subscriber.wake.clear()
            try:
                rows = await self._db.background.fetch_all(
                    query, (subscriber.position, *types, BATCH)
                )
                handled = True
                for row in rows:
                    handled = await self._hand_over(subscriber, row)
                    if not handled:
                        break
            except Exception as err:
                # The log unreadable or the cursor not moved: the task must outlive it too.
                self._failed(subscriber, subscriber.position + 1, err)
                handled = False
            if not handled:
                await self._back_off(subscriber)
                continue
            if not rows:
                self._recovered(subscriber)
                subscriber.lag = 0
                if not subscriber.wake.is_set():
                    subscriber.quiet.set()
                await subscriber.wake.wait()

    async def _hand_over(self, subscriber: _Subscriber, row: Any) -> bool:
        """One event to the handler, then the cursor; False when the handler failed (the
        cursor's own failure raises)."""
        event_id, type_name, payload = row
        try:
            event = subscriber.types[type_name].decode(json.loads(payload))
            await subscriber.handler(event)
        except Exception as err:
            self._failed(subscriber, event_id, err)
            return False
        await self._db.write(
            "UPDATE event_cursors SET position = ?, updated_at = ? WHERE subscriber = ?",
            (event_id, utc_text(self._clock.now()), subscriber.name),
        )
        subscriber.position = event_id
        self._recovered(subscriber)
        return True

    def _recovered(self, subscriber: _Subscriber) -> None:
        if not subscriber.consecutive_failures:
            return
        log.info(
            "event handler recovered",
            extra={
                "subscriber": subscriber.name,
                "position": subscriber.position,
                "failures": subscriber.consecutive_failures,
            },
        )
        subscriber.consecutive_failures = 0
        subscriber.last_error = ""
        self._health.report(
            self._health_name(subscriber), "ok", "", at=self._clock.now(), critical=False
        )

    def _failed(self, subscriber: _Subscriber, event_id: int, err: Exception) -> None:
        subscriber.failures_total += 1
        subscriber.consecutive_failures += 1
        subscriber.last_error = f"{type(err).__name__}: {err}"
        if subscriber.consecutive_failures == 1:
            # Logged once per outage, with its traceback; retries only move the counters.
            log.exception(
                "event handler failed",
                extra={"subscriber": subscriber.name, "event_id": event_id},
            )
        self._health.report(
            self._health_name(subscriber),
            "degraded",
            f"event {event_id} failed {subscriber.consecutive_failures} time(s), retrying:"
            f" {subscriber.last_error}",
            at=self._clock.now(),
            critical=False,
        )

    async def _back_off(self, subscriber: _Subscriber) -> None:
        delay = min(
            self._retry_first_s * 2 ** (subscriber.consecutive_failures - 1), self._retry_max_s
        )
        subscriber.retry.clear()
        subscriber.backing_off = True
        subscriber.quiet.set()
        # Wall time, not the injected clock: this paces retries (retry_now() ends it early).
        try:
            # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancel that
            # lands as the retry is asked for, and stop() would wait for this task forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await subscriber.retry.wait()
        finally:
            subscriber.backing_off = False
        subscriber.quiet.clear()

    @staticmethod
    def _health_name(subscriber: _Subscriber) -> str:
        return f"events.{subscriber.name}"

    # -- metrics ----------------------------------------------------------------------------

    async def refresh_metrics(self) -> None:
        """Before a scrape: how many events each subscriber has still to handle."""
        for subscriber in self._subscribers.values():
            types = sorted(subscriber.types)
            marks = ", ".join("?" * len(types))
            row = await self._db.fetch_one(
                f"SELECT count(*) FROM event_log WHERE id > ? AND type IN ({marks})",  # noqa: S608  # placeholders only
                (subscriber.position, *types),
            )
            subscriber.lag = int(row[0]) if row else 0

    def collector(self) -> Collector:
        return _EventLogCollector(self)

    def subscribers(self) -> list[_Subscriber]:
        return list(self._subscribers.values())


class _EventLogCollector(Collector):
    def __init__(self, events: EventLog) -> None:
        self._events = events

    def collect(self) -> Iterator[Metric]:
        failures = CounterMetricFamily(
            "canhbao_events_handler_failures",
            "Failed deliveries of a durable event to a subscriber since start",
            labels=["subscriber"],
        )
        failing = GaugeMetricFamily(
            "canhbao_events_handler_consecutive_failures",
            "Failed deliveries in a row (0 when the subscriber is healthy)",
            labels=["subscriber"],
        )
        lag = GaugeMetricFamily(
            "canhbao_events_subscriber_lag",
            "Durable events stored but not yet handled by the subscriber",
            labels=["subscriber"],
        )
        for subscriber in sorted(self._events.subscribers(), key=lambda s: s.name):
            failures.add_metric([subscriber.name], subscriber.failures_total)
            failing.add_metric([subscriber.name], subscriber.consecutive_failures)
            lag.add_metric([subscriber.name], subscriber.lag)
        yield from (failures, failing, lag)
