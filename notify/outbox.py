"""The durable outbox: every outbound message is a row before anything is sent.

A row moves queued → sending → sent | failed | dead, or back to queued for a retry:

- queued   waiting until next_attempt_at (new, deferred, or recovered after a crash)
- sending  claimed by the worker; its send may be in flight (claimed_at says since when)
- sent     the provider accepted it (provider_id holds its id)
- failed   refused for good (InvalidMessage or DeliveryRejected; error_code says why)
- dead     max_attempts transient failures in a row; given up

All of this table's SQL lives here; the worker (notify.outbox_worker) decides what to write.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

import aiosqlite

from canhbao import eventlog
from canhbao.clock import Clock, parse_utc, utc_text
from canhbao.db import Database, Migration
from notify.events import PUSH_TOKEN_REJECTED, PushTokenRejected
from notify.models import (
    Channel,
    Encoded,
    Message,
    OutboxItem,
    PushMessage,
    SmsMessage,
    TopicChange,
    VoiceCall,
)

Status = Literal["queued", "sending", "sent", "failed", "dead"]

CHANNELS: tuple[Channel, ...] = get_args(Channel)
STATUSES: tuple[Status, ...] = get_args(Status)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "notify",
        1,
        "outbox",
        """
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            idempotency_key TEXT NOT NULL UNIQUE,
            channel TEXT NOT NULL CHECK (channel IN ('push', 'topic', 'sms', 'voice')),
            payload TEXT NOT NULL,
            reference TEXT NOT NULL DEFAULT '',
            priority INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'dead')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            claimed_at TEXT,
            sent_at TEXT,
            provider_id TEXT,
            error_code TEXT,
            last_error TEXT
        );
        -- Partial: only waiting rows are indexed, so the index stays as small as the queue
        -- however many million sent rows pile up, and a claim reads due rows in priority order.
        CREATE INDEX outbox_due ON outbox (channel, priority DESC, next_attempt_at)
            WHERE status = 'queued';
        CREATE INDEX outbox_sending ON outbox (channel) WHERE status = 'sending';
        CREATE INDEX outbox_reference ON outbox (reference, channel, status);
        """,
    ),
    Migration(
        "notify",
        3,  # 2 is notify.local's
        "outbox rows may carry the moment after which they are not worth sending",
        """
        -- UTC; NULL: no limit. A warning's messages stop at its expiry.
        ALTER TABLE outbox ADD COLUMN not_after TEXT;
        """,
    ),
)


@dataclass(frozen=True, slots=True)
class ClaimedRow:
    """A row the worker holds in `sending`; attempts counts the sends made before this one."""

    id: int
    channel: Channel
    idempotency_key: str
    payload: str
    attempts: int
    claimed_at: datetime
    not_after: datetime | None = None

    def message(self) -> Message:
        return decode_message(self.channel, self.payload)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What to write back for one claimed row."""

    row_id: int
    channel: Channel
    status: Literal["queued", "sent", "failed", "dead"]
    attempts: int
    next_attempt_at: datetime | None = None
    provider_id: str | None = None
    error_code: str | None = None
    error: str | None = None


def encode_message(message: Message) -> str:
    """The stored form of a message: its dataclass fields as compact JSON."""
    fields: dict[str, Any] = {f.name: getattr(message, f.name) for f in dataclasses.fields(message)}
    if isinstance(message, PushMessage):
        fields["data"] = dict(message.data)
    elif isinstance(message, TopicChange):
        fields["tokens"] = list(message.tokens)
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))


def decode_message(channel: Channel, payload: str) -> Message:
    """The message a stored payload was encoded from (equal to the original)."""
    fields: dict[str, Any] = json.loads(payload)
    if channel == "push":
        return PushMessage(**{**fields, "data": dict(fields.get("data", {}))})
    if channel == "topic":
        return TopicChange(**{**fields, "tokens": tuple(fields["tokens"])})
    if channel == "sms":
        return SmsMessage(**fields)
    if channel == "voice":
        return VoiceCall(**fields)
    raise ValueError(f"unknown outbox channel: {channel!r}")


_INSERT = """
INSERT INTO outbox (idempotency_key, channel, payload, reference, priority, status, attempts,
                    next_attempt_at, created_at, updated_at, not_after)
VALUES (?, ?, ?, ?, ?, 'queued', 0, ?, ?, ?, ?)
ON CONFLICT (idempotency_key) DO NOTHING
"""

# The literal status = 'queued' lets SQLite use the partial index outbox_due, channel by channel.
_DUE = (
    "SELECT id, {order} AS k FROM (SELECT id FROM outbox WHERE status = 'queued'"
    " AND channel = :c{n} AND next_attempt_at <= :now"
    " ORDER BY priority DESC, next_attempt_at LIMIT :l{lane})"
)
_CLAIM = """
UPDATE outbox SET status = 'sending', claimed_at = :now, updated_at = :now
WHERE id IN ({lanes})
RETURNING id, channel, idempotency_key, payload, attempts, not_after
"""


def claim_statement(lanes: Sequence[Sequence[Channel]]) -> str:
    """One UPDATE … RETURNING claiming every lane: each lane's channels in order, up to the
    lane's limit (:l0, :l1, …); a channel's due rows by priority, then age."""
    selects = []
    n = 0
    for lane, channels in enumerate(lanes):
        due = []
        for order, _ in enumerate(channels):
            due.append(_DUE.format(order=order, n=n, lane=lane))
            n += 1
        union = " UNION ALL ".join(due)
        # Only our own fragments and numbers go into the text; the values are parameters.
        selects.append(f"SELECT id FROM ({union} ORDER BY k LIMIT :l{lane})")  # noqa: S608
    return _CLAIM.format(lanes=" UNION ALL ".join(selects))


# One statement for a whole flush (one trip to the writer thread); `+status` keeps SQLite
# from scanning the `sending` rows instead of looking each id up.
_RECORD = """
UPDATE outbox SET
    status = json_extract(v.value, '$[1]'),
    attempts = json_extract(v.value, '$[2]'),
    next_attempt_at = COALESCE(json_extract(v.value, '$[3]'), outbox.next_attempt_at),
    provider_id = COALESCE(json_extract(v.value, '$[4]'), outbox.provider_id),
    sent_at = json_extract(v.value, '$[5]'),
    error_code = json_extract(v.value, '$[6]'),
    last_error = json_extract(v.value, '$[7]'),
    updated_at = :now
FROM json_each(:rows) AS v
WHERE outbox.id = json_extract(v.value, '$[0]') AND +outbox.status = 'sending'
"""


class Outbox:
    """Enqueue messages and read their state; the worker claims and records through it too."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._listeners: list[Callable[[], None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None  # where the listeners run

    def on_enqueue(self, listener: Callable[[], None]) -> None:
        """Call `listener` whenever new rows are enqueued (the worker wakes instead of polling)."""
        self._listeners.append(listener)
        self._loop = _running_loop() or self._loop

    async def enqueue(self, items: Sequence[OutboxItem]) -> int:
        """Store items in their own transaction; returns how many were new."""
        async with self._db.transaction() as conn:
            return await self.enqueue_in(conn, items)

    def encode(self, items: Sequence[OutboxItem]) -> Encoded:
        """Items as rows ready to insert: encode a large batch before taking the write lock."""
        now = utc_text(self._clock.now())
        return Encoded(
            [
                (
                    item.idempotency_key,
                    item.channel,
                    encode_message(item.message),
                    item.reference,
                    item.priority,
                    now,
                    now,
                    now,
                    utc_text(item.not_after) if item.not_after else None,
                )
                for item in items
            ]
        )

    async def enqueue_in(
        self, conn: aiosqlite.Connection, items: Sequence[OutboxItem] | Encoded
    ) -> int:
        """Store items inside the caller's transaction, so its state change and its messages
        commit (or roll back) together; returns how many were new."""
        rows = (items if isinstance(items, Encoded) else self.encode(items)).rows
        if not rows:
            return 0
        async with conn.executemany(_INSERT, rows) as cursor:
            added = cursor.rowcount
        if added:
            # Waking before the commit is safe: the worker's claim waits for the write lock
            # this transaction holds, so it sees the rows once they are committed.
            self._wake()
        return added

    def _wake(self) -> None:
        if _running_loop() is not None:
            for listener in self._listeners:
                listener()
        elif self._loop is not None:
            # In the writer's thread (a Database.transact body): listeners touch the event
            # loop's objects, so they run there.
            self._loop.call_soon_threadsafe(self._wake)

    async def withdraw_in(
        self, conn: aiosqlite.Connection, reference: str, code: str, reason: str
    ) -> int:
        """Fail a reference's rows that are still queued, inside the caller's transaction (e.g.
        a warning's, when an Update or Cancel replaces it); returns how many. Rows being sent
        finish; sent ones are sent."""
        now = utc_text(self._clock.now())
        async with conn.execute(
            "UPDATE outbox SET status = 'failed', error_code = ?, last_error = ?, updated_at = ?"
            " WHERE reference = ? AND status = 'queued'",
            (code, reason, now, reference),
        ) as cursor:
            return cursor.rowcount

    async def counts(self, reference: str) -> dict[str, dict[str, int]]:
        """channel → status → number of rows, for one reference (a count over a fan-out's
        rows: on the background connection, where no webhook's read waits behind it)."""
        rows = await self._db.background.fetch_all(
            "SELECT channel, status, COUNT(*) AS n FROM outbox WHERE reference = ?"
            " GROUP BY channel, status",
            (reference,),
        )
        counts: dict[str, dict[str, int]] = {}
        for row in rows:
            counts.setdefault(row["channel"], {})[row["status"]] = row["n"]
        return counts

    async def counts_by_priority(self, reference: str) -> dict[tuple[str, int], dict[str, int]]:
        """(channel, priority) → status → number of rows, for one reference: a caller that
        enqueues different routes at different priorities reads them apart."""
        rows = await self._db.fetch_all(
            "SELECT channel, priority, status, COUNT(*) AS n FROM outbox WHERE reference = ?"
            " GROUP BY channel, priority, status",
            (reference,),
        )
        counts: dict[tuple[str, int], dict[str, int]] = {}
        for row in rows:
            counts.setdefault((row["channel"], row["priority"]), {})[row["status"]] = row["n"]
        return counts

    async def failure_codes(self, reference: str) -> dict[str, dict[str, int]]:
        """channel → error code → number of failed rows, for one reference (e.g. how many
        tokens FCM reported UNREGISTERED, which the device registry then removed)."""
        rows = await self._db.fetch_all(
            "SELECT channel, error_code, COUNT(*) AS n FROM outbox"
            " WHERE reference = ? AND status = 'failed' GROUP BY channel, error_code",
            (reference,),
        )
        codes: dict[str, dict[str, int]] = {}
        for row in rows:
            codes.setdefault(row["channel"], {})[row["error_code"] or ""] = row["n"]
        return codes

    async def depth(self) -> dict[tuple[Channel, Status], int]:
        """Rows waiting or in flight, per (channel, status); both counts come from small indexes."""
        rows = await self._db.fetch_all(
            "SELECT channel, 'queued' AS status, COUNT(*) AS n FROM outbox"
            " WHERE status = 'queued' GROUP BY channel"
            " UNION ALL"
            " SELECT channel, 'sending' AS status, COUNT(*) AS n FROM outbox"
            " WHERE status = 'sending' GROUP BY channel"
        )
        return {(row["channel"], row["status"]): row["n"] for row in rows}

    async def claim(self, lanes: Sequence[tuple[Sequence[Channel], int]]) -> list[ClaimedRow]:
        """Mark due rows `sending`, all lanes in one statement. Each lane is a list of channels
        sharing one limit, taken in order (so a rare channel listed first is not starved)."""
        now = self._clock.now()
        wanted = [(channels, limit) for channels, limit in lanes if channels and limit > 0]
        if not wanted:
            return []
        params: dict[str, Any] = {"now": utc_text(now)}
        n = 0
        for lane, (channels, limit) in enumerate(wanted):
            params[f"l{lane}"] = limit
            for channel in channels:
                params[f"c{n}"] = channel
                n += 1
        # One statement, so one trip to the writer thread: the writer lock is held for as short
        # a time as possible, and the recorder of finished sends waits less behind it.
        rows = await self._db.write_returning(
            claim_statement([channels for channels, _ in wanted]), params
        )
        return [
            ClaimedRow(
                id=row[0],
                channel=row[1],
                idempotency_key=row[2],
                payload=row[3],
                attempts=row[4],
                claimed_at=now,
                not_after=parse_utc(row[5]) if row[5] else None,
            )
            for row in rows
        ]

    async def record(
        self, outcomes: Iterable[Outcome], rejected: Sequence[PushTokenRejected] = ()
    ) -> int:
        """Write outcomes for rows still `sending`, all in one transaction; returns rows changed.

        `rejected`: the tokens FCM refused for good in these sends, stored in the durable event
        log in the same transaction (the device registry drops them from there)."""
        now = self._clock.now()
        now_text = utc_text(now)
        rows = [
            (
                outcome.row_id,
                outcome.status,
                outcome.attempts,
                utc_text(outcome.next_attempt_at) if outcome.next_attempt_at else None,
                outcome.provider_id,
                now_text if outcome.status == "sent" else None,
                outcome.error_code,
                outcome.error,
            )
            for outcome in outcomes
        ]
        if not rows:
            return 0
        values = {"now": now_text, "rows": json.dumps(rows, ensure_ascii=False)}
        if not rejected:
            return await self._db.write(_RECORD, values)

        async def with_events(conn: aiosqlite.Connection) -> int:
            async with conn.execute(_RECORD, values) as cursor:
                changed = cursor.rowcount
            await eventlog.append(conn, PUSH_TOKEN_REJECTED, rejected, now)
            return changed

        return await self._db.transact(with_events)  # in one go, as write() above

    async def release(self, row_ids: Iterable[int]) -> int:
        """Put claimed rows whose send never started back to queued, attempts unchanged."""
        now = utc_text(self._clock.now())
        rows = [(now, now, row_id) for row_id in row_ids]
        if not rows:
            return 0
        async with self._db.transaction() as conn:
            async with conn.executemany(
                "UPDATE outbox SET status = 'queued', next_attempt_at = ?, updated_at = ?"
                " WHERE id = ? AND status = 'sending'",
                rows,
            ) as cursor:
                return cursor.rowcount

    async def stale(self, exclude: Iterable[int] = ()) -> list[ClaimedRow]:
        """Rows left `sending` by a worker that is gone (all but the ids in `exclude`)."""
        held = set(exclude)
        rows = await self._db.fetch_all(
            # Without statistics SQLite would rather scan a covering index of every row.
            "SELECT id, channel, idempotency_key, payload, attempts, claimed_at, not_after"
            " FROM outbox INDEXED BY outbox_sending WHERE status = 'sending'"
        )
        return [
            ClaimedRow(
                id=row["id"],
                channel=row["channel"],
                idempotency_key=row["idempotency_key"],
                payload=row["payload"],
                attempts=row["attempts"],
                claimed_at=parse_utc(row["claimed_at"]),
                not_after=parse_utc(row["not_after"]) if row["not_after"] else None,
            )
            for row in sorted(rows, key=lambda row: int(row["id"]))
            if row["id"] not in held
        ]


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
