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

import dataclasses
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

import aiosqlite

from canhbao.clock import Clock, parse_utc, utc_text
from canhbao.db import Database, Migration
from notify.models import Channel, PushMessage, SmsMessage, TopicChange, VoiceCall

Message = PushMessage | TopicChange | SmsMessage | VoiceCall
Status = Literal["queued", "sending", "sent", "failed", "dead"]

CHANNELS: tuple[Channel, ...] = get_args(Channel)
STATUSES: tuple[Status, ...] = get_args(Status)
MESSAGE_TYPES: dict[Channel, type[Message]] = {
    "push": PushMessage,
    "topic": TopicChange,
    "sms": SmsMessage,
    "voice": VoiceCall,
}

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
)


@dataclass(frozen=True)
class OutboxItem:
    """One message to enqueue. A higher priority is sent first; `reference` groups rows (e.g.
    an alert identifier) for counts(); the idempotency key makes enqueueing it twice a no-op."""

    channel: Channel
    message: Message
    idempotency_key: str
    reference: str = ""
    priority: int = 0

    def __post_init__(self) -> None:
        expected = MESSAGE_TYPES.get(self.channel)
        if expected is None or not isinstance(self.message, expected):
            raise ValueError(
                f"channel {self.channel!r} carries {expected.__name__ if expected else 'nothing'},"
                f" not {type(self.message).__name__}"
            )
        if not self.idempotency_key:
            raise ValueError("an outbox item needs an idempotency key")


@dataclass(frozen=True, slots=True)
class ClaimedRow:
    """A row the worker holds in `sending`; attempts counts the sends made before this one."""

    id: int
    channel: Channel
    idempotency_key: str
    payload: str
    attempts: int
    claimed_at: datetime

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
                    next_attempt_at, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, 'queued', 0, ?, ?, ?)
ON CONFLICT (idempotency_key) DO NOTHING
"""

# The literal status = 'queued' lets SQLite use the partial index outbox_due.
_CLAIM = """
UPDATE outbox SET status = 'sending', claimed_at = :now, updated_at = :now
WHERE id IN (
    SELECT id FROM outbox
    WHERE status = 'queued' AND channel = :channel AND next_attempt_at <= :now
    ORDER BY priority DESC, next_attempt_at
    LIMIT :limit
)
RETURNING id, channel, idempotency_key, payload, attempts
"""

_RECORD = """
UPDATE outbox SET
    status = ?,
    attempts = ?,
    next_attempt_at = COALESCE(?, next_attempt_at),
    provider_id = COALESCE(?, provider_id),
    sent_at = ?,
    error_code = ?,
    last_error = ?,
    updated_at = ?
WHERE id = ? AND status = 'sending'
"""


class Outbox:
    """Enqueue messages and read their state; the worker claims and records through it too."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._listeners: list[Callable[[], None]] = []

    def on_enqueue(self, listener: Callable[[], None]) -> None:
        """Call `listener` whenever new rows are enqueued (the worker wakes instead of polling)."""
        self._listeners.append(listener)

    async def enqueue(self, items: Sequence[OutboxItem]) -> int:
        """Store items in their own transaction; returns how many were new."""
        async with self._db.transaction() as conn:
            return await self.enqueue_in(conn, items)

    async def enqueue_in(self, conn: aiosqlite.Connection, items: Sequence[OutboxItem]) -> int:
        """Store items inside the caller's transaction, so its state change and its messages
        commit (or roll back) together; returns how many were new."""
        if not items:
            return 0
        now = utc_text(self._clock.now())
        rows = [
            (
                item.idempotency_key,
                item.channel,
                encode_message(item.message),
                item.reference,
                item.priority,
                now,
                now,
                now,
            )
            for item in items
        ]
        async with conn.executemany(_INSERT, rows) as cursor:
            added = cursor.rowcount
        if added:
            # Waking before the commit is safe: the worker's claim waits for the write lock
            # this transaction holds, so it sees the rows once they are committed.
            for listener in self._listeners:
                listener()
        return added

    async def counts(self, reference: str) -> dict[str, dict[str, int]]:
        """channel → status → number of rows, for one reference."""
        rows = await self._db.fetch_all(
            "SELECT channel, status, COUNT(*) AS n FROM outbox WHERE reference = ?"
            " GROUP BY channel, status",
            (reference,),
        )
        counts: dict[str, dict[str, int]] = {}
        for row in rows:
            counts.setdefault(row["channel"], {})[row["status"]] = row["n"]
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
        """Mark due rows `sending`, all lanes in one transaction. Each lane is a list of channels
        sharing one limit, taken in order (so a rare channel listed first is not starved)."""
        now = self._clock.now()
        now_text = utc_text(now)
        claimed: list[ClaimedRow] = []
        async with self._db.transaction() as conn:
            for channels, limit in lanes:
                for channel in channels:
                    if limit <= 0:
                        break
                    params = {"now": now_text, "channel": channel, "limit": limit}
                    async with conn.execute(_CLAIM, params) as cursor:
                        rows = list(await cursor.fetchall())
                    limit -= len(rows)
                    claimed.extend(
                        ClaimedRow(
                            id=row[0],
                            channel=row[1],
                            idempotency_key=row[2],
                            payload=row[3],
                            attempts=row[4],
                            claimed_at=now,
                        )
                        for row in rows
                    )
        return claimed

    async def record(self, outcomes: Iterable[Outcome]) -> int:
        """Write outcomes for rows still `sending`, all in one transaction; returns rows changed."""
        now = self._clock.now()
        now_text = utc_text(now)
        rows = [
            (
                outcome.status,
                outcome.attempts,
                utc_text(outcome.next_attempt_at) if outcome.next_attempt_at else None,
                outcome.provider_id,
                now_text if outcome.status == "sent" else None,
                outcome.error_code,
                outcome.error,
                now_text,
                outcome.row_id,
            )
            for outcome in outcomes
        ]
        if not rows:
            return 0
        async with self._db.transaction() as conn, conn.executemany(_RECORD, rows) as cursor:
            return cursor.rowcount

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
            "SELECT id, channel, idempotency_key, payload, attempts, claimed_at"
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
            )
            for row in sorted(rows, key=lambda row: int(row["id"]))
            if row["id"] not in held
        ]
