"""The hotline's SQL: call log, recordings, webhook steps, callback tasks and attempts, roster."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiosqlite

from canhbao.clock import parse_utc, utc_text
from canhbao.db import Database, Migration
from hotline.models import (
    FINAL_STATUSES,
    CallbackReason,
    CallKind,
    CallStatus,
    Operator,
    next_status,
    parse_shift_time,
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "hotline",
        2,
        "call log, webhook steps, callbacks, operators",
        """
        CREATE TABLE hotline_calls (
            sid TEXT PRIMARY KEY,
            parent_sid TEXT,
            kind TEXT NOT NULL CHECK (kind IN ('inbound', 'callback', 'operator')),
            direction TEXT NOT NULL DEFAULT '',
            from_number TEXT NOT NULL DEFAULT '',
            to_number TEXT NOT NULL DEFAULT '',
            status TEXT,
            -- Twilio's SequenceNumber of the status callback the status came from.
            status_sequence INTEGER,
            received_at TEXT NOT NULL,
            answered_at TEXT,
            ended_at TEXT,
            enqueued_at TEXT,
            dequeued_at TEXT,
            queue_wait_s REAL,
            duration_s INTEGER,
            menu_path TEXT NOT NULL DEFAULT '',
            answered_by TEXT,
            -- handled | informed | callback | voicemail; NULL when the call ends = abandoned.
            outcome TEXT,
            -- What the caller pressed in the queue: callback | voicemail.
            queue_choice TEXT,
            rescue_request_id INTEGER REFERENCES hotline_rescue_requests (id),
            operator_id INTEGER REFERENCES hotline_operators (id),
            callback_task_id INTEGER REFERENCES hotline_callbacks (id),
            callback_attempt_id INTEGER,
            notes TEXT NOT NULL DEFAULT '',
            updated_at TEXT NOT NULL
        );
        CREATE INDEX hotline_calls_received ON hotline_calls (received_at);
        CREATE INDEX hotline_calls_from ON hotline_calls (from_number, received_at);
        -- Calls waiting in a Twilio queue right now (small: only those not yet dequeued).
        CREATE INDEX hotline_calls_waiting ON hotline_calls (enqueued_at)
            WHERE enqueued_at IS NOT NULL AND dequeued_at IS NULL;
        CREATE INDEX hotline_calls_operator_legs ON hotline_calls (operator_id)
            WHERE kind = 'operator';

        CREATE TABLE hotline_recordings (
            id INTEGER PRIMARY KEY,
            call_sid TEXT NOT NULL,
            recording_sid TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL CHECK (kind IN ('address', 'voicemail')),
            url TEXT NOT NULL,
            duration_s INTEGER,
            status TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX hotline_recordings_call ON hotline_recordings (call_sid);

        -- One row per side-effecting webhook step: a retried webhook finds its row and gets the
        -- same answer without acting again.
        CREATE TABLE hotline_webhook_steps (
            sid TEXT NOT NULL,
            step TEXT NOT NULL,
            response TEXT NOT NULL,
            received_at TEXT NOT NULL,
            PRIMARY KEY (sid, step)
        ) WITHOUT ROWID;

        CREATE TABLE hotline_operators (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            phone TEXT NOT NULL UNIQUE,
            shift_start TEXT NOT NULL,
            shift_end TEXT NOT NULL,
            active INTEGER NOT NULL DEFAULT 1,
            last_offered_at TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );

        CREATE TABLE hotline_callbacks (
            id INTEGER PRIMARY KEY,
            phone TEXT NOT NULL,
            reason TEXT NOT NULL
                CHECK (reason IN ('abandoned', 'voicemail', 'requested', 'no_operator', 'rescue')),
            source_call_sid TEXT,
            rescue_request_id INTEGER REFERENCES hotline_rescue_requests (id),
            status TEXT NOT NULL DEFAULT 'open'
                CHECK (status IN ('open', 'calling', 'reached', 'exhausted', 'closed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            closed_at TEXT,
            closed_by TEXT,
            close_reason TEXT
        );
        -- One open task per number: a second missed call joins the task already there.
        CREATE UNIQUE INDEX hotline_callbacks_one_open ON hotline_callbacks (phone)
            WHERE status IN ('open', 'calling');
        CREATE INDEX hotline_callbacks_due ON hotline_callbacks (next_attempt_at)
            WHERE status = 'open';

        CREATE TABLE hotline_callback_attempts (
            id INTEGER PRIMARY KEY,
            task_id INTEGER NOT NULL REFERENCES hotline_callbacks (id),
            -- 1, 2, 3 for calls Twilio accepted; a call Twilio refused keeps the next number.
            number INTEGER NOT NULL,
            call_sid TEXT UNIQUE,
            outcome TEXT NOT NULL,
            answered_by TEXT,
            started_at TEXT NOT NULL,
            ended_at TEXT,
            error TEXT
        );
        CREATE INDEX hotline_callback_attempts_task ON hotline_callback_attempts (task_id, id);
        """,
    ),
)


# --- webhook steps ----------------------------------------------------------------------


async def step_response(db: Database, sid: str, step: str) -> str | None:
    """The answer already given to this (CallSid or MessageSid, step), if any."""
    row = await db.fetch_one(
        "SELECT response FROM hotline_webhook_steps WHERE sid = ? AND step = ?", (sid, step)
    )
    return None if row is None else str(row["response"])


async def claim_step(
    conn: aiosqlite.Connection, sid: str, step: str, response: str, at: datetime
) -> bool:
    """Record a step inside the transaction that acts on it; False if it was already taken
    (a retry racing the first delivery), in which case the caller must roll back."""
    async with conn.execute(
        "INSERT INTO hotline_webhook_steps (sid, step, response, received_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (sid, step) DO NOTHING",
        (sid, step, response, utc_text(at)),
    ) as cursor:
        return cursor.rowcount == 1


# --- calls ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallRow:
    sid: str
    parent_sid: str | None
    kind: CallKind
    direction: str
    from_number: str
    to_number: str
    status: CallStatus | None
    status_sequence: int | None
    received_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    enqueued_at: datetime | None
    dequeued_at: datetime | None
    queue_wait_s: float | None
    duration_s: int | None
    menu_path: str
    answered_by: str | None
    outcome: str | None
    queue_choice: str | None
    rescue_request_id: int | None
    operator_id: int | None
    callback_task_id: int | None
    callback_attempt_id: int | None
    notes: str

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES

    def to_json(self) -> dict[str, Any]:
        def text(moment: datetime | None) -> str | None:
            return utc_text(moment) if moment else None

        return {
            "sid": self.sid,
            "parent_sid": self.parent_sid,
            "kind": self.kind,
            "direction": self.direction,
            "from": self.from_number,
            "to": self.to_number,
            "status": self.status.value if self.status else None,
            "received_at": text(self.received_at),
            "answered_at": text(self.answered_at),
            "ended_at": text(self.ended_at),
            "enqueued_at": text(self.enqueued_at),
            "dequeued_at": text(self.dequeued_at),
            "queue_wait_s": self.queue_wait_s,
            "duration_s": self.duration_s,
            "menu_path": [p for p in self.menu_path.split(">") if p],
            "answered_by": self.answered_by,
            "outcome": self.outcome,
            "rescue_request_id": self.rescue_request_id,
            "operator_id": self.operator_id,
            "callback_task_id": self.callback_task_id,
            "notes": self.notes,
        }


CALL_COLUMNS = (
    "sid, parent_sid, kind, direction, from_number, to_number, status, status_sequence,"
    " received_at, answered_at, ended_at, enqueued_at, dequeued_at, queue_wait_s, duration_s,"
    " menu_path, answered_by, outcome, queue_choice, rescue_request_id, operator_id,"
    " callback_task_id, callback_attempt_id, notes"
)


def _time(value: str | None) -> datetime | None:
    return parse_utc(value) if value else None


def call_from_row(row: sqlite3.Row | aiosqlite.Row) -> CallRow:
    return CallRow(
        sid=row["sid"],
        parent_sid=row["parent_sid"],
        kind=row["kind"],
        direction=row["direction"],
        from_number=row["from_number"],
        to_number=row["to_number"],
        status=CallStatus(row["status"]) if row["status"] else None,
        status_sequence=row["status_sequence"],
        received_at=parse_utc(row["received_at"]),
        answered_at=_time(row["answered_at"]),
        ended_at=_time(row["ended_at"]),
        enqueued_at=_time(row["enqueued_at"]),
        dequeued_at=_time(row["dequeued_at"]),
        queue_wait_s=row["queue_wait_s"],
        duration_s=row["duration_s"],
        menu_path=row["menu_path"],
        answered_by=row["answered_by"],
        outcome=row["outcome"],
        queue_choice=row["queue_choice"],
        rescue_request_id=row["rescue_request_id"],
        operator_id=row["operator_id"],
        callback_task_id=row["callback_task_id"],
        callback_attempt_id=row["callback_attempt_id"],
        notes=row["notes"],
    )


async def ensure_call(
    conn: aiosqlite.Connection,
    sid: str,
    *,
    kind: CallKind,
    at: datetime,
    direction: str = "",
    from_number: str = "",
    to_number: str = "",
    parent_sid: str | None = None,
    **extra: Any,
) -> None:
    """Create the call's row if it is new (webhooks and status callbacks may come first)."""
    columns = {
        "sid": sid,
        "kind": kind,
        "direction": direction,
        "from_number": from_number,
        "to_number": to_number,
        "parent_sid": parent_sid,
        "received_at": utc_text(at),
        "updated_at": utc_text(at),
        **extra,
    }
    names = ", ".join(columns)
    marks = ", ".join("?" for _ in columns)
    await conn.execute(
        f"INSERT INTO hotline_calls ({names}) VALUES ({marks}) ON CONFLICT (sid) DO NOTHING",  # noqa: S608  # names are ours
        tuple(columns.values()),
    )


async def get_call(conn: aiosqlite.Connection, sid: str) -> CallRow | None:
    async with conn.execute(
        f"SELECT {CALL_COLUMNS} FROM hotline_calls WHERE sid = ?",  # noqa: S608  # constant
        (sid,),
    ) as cursor:
        row = await cursor.fetchone()
    return None if row is None else call_from_row(row)


async def update_call(conn: aiosqlite.Connection, sid: str, at: datetime, **columns: Any) -> None:
    """Set columns of one call; datetimes are stored as UTC text."""
    values = {k: utc_text(v) if isinstance(v, datetime) else v for k, v in columns.items()}
    values["updated_at"] = utc_text(at)
    assignments = ", ".join(f"{name} = ?" for name in values)
    await conn.execute(
        f"UPDATE hotline_calls SET {assignments} WHERE sid = ?",  # noqa: S608  # names are ours
        (*values.values(), sid),
    )


async def append_path(conn: aiosqlite.Connection, sid: str, step: str, at: datetime) -> None:
    await conn.execute(
        "UPDATE hotline_calls SET menu_path = CASE WHEN menu_path = '' THEN ? ELSE"
        " menu_path || '>' || ? END, updated_at = ? WHERE sid = ?",
        (step, step, utc_text(at), sid),
    )


@dataclass(frozen=True)
class StatusUpdate:
    status: CallStatus
    sequence: int | None
    duration_s: int | None
    answered_by: str | None
    at: datetime


async def apply_status(
    conn: aiosqlite.Connection, call: CallRow, update: StatusUpdate
) -> CallRow | None:
    """Apply a status callback if it moves the call forward; the updated row, or None when the
    callback was stale or repeated (and nothing changed)."""
    if not next_status(call.status, call.status_sequence, update.status, update.sequence):
        return None
    columns: dict[str, Any] = {"status": update.status.value}
    if update.sequence is not None:
        columns["status_sequence"] = update.sequence
    if update.status is CallStatus.in_progress and call.answered_at is None:
        columns["answered_at"] = update.at
    if update.status in FINAL_STATUSES:
        columns["ended_at"] = update.at
        if update.status is CallStatus.completed and call.answered_at is None:
            # Answered but the in-progress callback was lost or is still on its way.
            duration = update.duration_s or 0
            columns["answered_at"] = update.at - timedelta(seconds=duration)
        if update.duration_s is not None:
            columns["duration_s"] = update.duration_s
    if update.answered_by and not call.answered_by:
        columns["answered_by"] = update.answered_by
    await update_call(conn, call.sid, update.at, **columns)
    return await get_call(conn, call.sid)


async def waiting_calls(db: Database | aiosqlite.Connection) -> list[CallRow]:
    """Callers in a Twilio queue now (enqueued, not yet dequeued, not ended), oldest first."""
    sql = (
        f"SELECT {CALL_COLUMNS} FROM hotline_calls"  # noqa: S608  # constant
        " WHERE enqueued_at IS NOT NULL AND dequeued_at IS NULL AND ended_at IS NULL"
        " ORDER BY enqueued_at"
    )
    if isinstance(db, Database):
        rows = await db.fetch_all(sql)
    else:
        async with db.execute(sql) as cursor:
            rows = list(await cursor.fetchall())
    return [call_from_row(row) for row in rows]


async def list_calls(
    db: Database,
    *,
    since: datetime | None,
    until: datetime | None,
    kind: str | None,
    status: str | None,
    number: str | None,
    limit: int,
    before: str | None,
) -> list[CallRow]:
    conditions: list[str] = ["1 = 1"]
    params: list[object] = []
    for clause, value in (
        ("received_at >= ?", utc_text(since) if since else None),
        ("received_at < ?", utc_text(until) if until else None),
        ("kind = ?", kind),
        ("status = ?", status),
        ("received_at < ?", before),
    ):
        if value is not None:
            conditions.append(clause)
            params.append(value)
    if number is not None:
        conditions.append("(from_number = ? OR to_number = ?)")
        params += [number, number]
    rows = await db.fetch_all(
        f"SELECT {CALL_COLUMNS} FROM hotline_calls WHERE {' AND '.join(conditions)}"  # noqa: S608  # literal conditions
        " ORDER BY received_at DESC LIMIT ?",
        (*params, limit),
    )
    return [call_from_row(row) for row in rows]


# --- recordings -------------------------------------------------------------------------


async def save_recording(
    conn: aiosqlite.Connection,
    *,
    call_sid: str,
    recording_sid: str,
    kind: str,
    url: str,
    duration_s: int | None,
    status: str,
    at: datetime,
) -> None:
    """Insert or update a recording (the Record action and the status callback both report it;
    'completed' is never replaced by an earlier 'in-progress')."""
    now = utc_text(at)
    await conn.execute(
        "INSERT INTO hotline_recordings (call_sid, recording_sid, kind, url, duration_s, status,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (recording_sid) DO UPDATE SET"
        " url = excluded.url,"
        " duration_s = COALESCE(excluded.duration_s, duration_s),"
        " status = CASE WHEN status IN ('completed', 'absent', 'failed') THEN status"
        " ELSE excluded.status END,"
        " updated_at = excluded.updated_at",
        (call_sid, recording_sid, kind, url, duration_s, status, now, now),
    )


async def recordings_of(db: Database, call_sid: str) -> list[dict[str, Any]]:
    rows = await db.fetch_all(
        "SELECT recording_sid, kind, url, duration_s, status, created_at FROM hotline_recordings"
        " WHERE call_sid = ? ORDER BY id",
        (call_sid,),
    )
    return [dict(row) for row in rows]


# --- callbacks --------------------------------------------------------------------------


@dataclass(frozen=True)
class CallbackTask:
    id: int
    phone: str
    reason: CallbackReason
    source_call_sid: str | None
    rescue_request_id: int | None
    status: str
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    closed_by: str | None
    close_reason: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "phone": self.phone,
            "reason": self.reason,
            "source_call_sid": self.source_call_sid,
            "rescue_request_id": self.rescue_request_id,
            "status": self.status,
            "attempts": self.attempts,
            "next_attempt_at": utc_text(self.next_attempt_at) if self.next_attempt_at else None,
            "created_at": utc_text(self.created_at),
            "updated_at": utc_text(self.updated_at),
            "closed_at": utc_text(self.closed_at) if self.closed_at else None,
            "closed_by": self.closed_by,
            "close_reason": self.close_reason,
        }


_TASK_COLUMNS = (
    "id, phone, reason, source_call_sid, rescue_request_id, status, attempts, next_attempt_at,"
    " created_at, updated_at, closed_at, closed_by, close_reason"
)


def _task(row: Mapping[str, Any] | sqlite3.Row) -> CallbackTask:
    return CallbackTask(
        id=row["id"],
        phone=row["phone"],
        reason=row["reason"],
        source_call_sid=row["source_call_sid"],
        rescue_request_id=row["rescue_request_id"],
        status=row["status"],
        attempts=row["attempts"],
        next_attempt_at=_time(row["next_attempt_at"]),
        created_at=parse_utc(row["created_at"]),
        updated_at=parse_utc(row["updated_at"]),
        closed_at=_time(row["closed_at"]),
        closed_by=row["closed_by"],
        close_reason=row["close_reason"],
    )


async def open_task_for(conn: aiosqlite.Connection, phone: str) -> CallbackTask | None:
    async with conn.execute(
        f"SELECT {_TASK_COLUMNS} FROM hotline_callbacks"  # noqa: S608  # constant
        " WHERE phone = ? AND status IN ('open', 'calling')",
        (phone,),
    ) as cursor:
        row = await cursor.fetchone()
    return None if row is None else _task(row)


async def insert_task(
    conn: aiosqlite.Connection,
    *,
    phone: str,
    reason: CallbackReason,
    source_call_sid: str | None,
    rescue_request_id: int | None,
    due: datetime,
    at: datetime,
) -> CallbackTask:
    now = utc_text(at)
    async with conn.execute(
        "INSERT INTO hotline_callbacks (phone, reason, source_call_sid, rescue_request_id,"  # noqa: S608  # constant columns
        " next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
        f" RETURNING {_TASK_COLUMNS}",
        (phone, reason, source_call_sid, rescue_request_id, utc_text(due), now, now),
    ) as cursor:
        row = await cursor.fetchone()
    assert row is not None  # noqa: S101  # RETURNING of an INSERT
    return _task(row)


async def get_task(conn: aiosqlite.Connection | Database, task_id: int) -> CallbackTask | None:
    sql = f"SELECT {_TASK_COLUMNS} FROM hotline_callbacks WHERE id = ?"  # noqa: S608  # constant
    if isinstance(conn, Database):
        row = await conn.fetch_one(sql, (task_id,))
    else:
        async with conn.execute(sql, (task_id,)) as cursor:
            row = await cursor.fetchone()
    return None if row is None else _task(row)


async def set_task(conn: aiosqlite.Connection, task_id: int, at: datetime, **columns: Any) -> None:
    values = {k: utc_text(v) if isinstance(v, datetime) else v for k, v in columns.items()}
    values["updated_at"] = utc_text(at)
    assignments = ", ".join(f"{name} = ?" for name in values)
    await conn.execute(
        f"UPDATE hotline_callbacks SET {assignments} WHERE id = ?",  # noqa: S608  # names are ours
        (*values.values(), task_id),
    )


async def due_tasks(db: Database, now: datetime, limit: int) -> list[CallbackTask]:
    rows = await db.fetch_all(
        f"SELECT {_TASK_COLUMNS} FROM hotline_callbacks"  # noqa: S608  # constant
        " WHERE status = 'open' AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?",
        (utc_text(now), limit),
    )
    return [_task(row) for row in rows]


async def list_tasks(db: Database, *, status: str | None, limit: int) -> list[CallbackTask]:
    if status is None:
        rows = await db.fetch_all(
            f"SELECT {_TASK_COLUMNS} FROM hotline_callbacks ORDER BY id DESC LIMIT ?",  # noqa: S608  # constant
            (limit,),
        )
    else:
        rows = await db.fetch_all(
            f"SELECT {_TASK_COLUMNS} FROM hotline_callbacks WHERE status = ?"  # noqa: S608  # constant
            " ORDER BY id DESC LIMIT ?",
            (status, limit),
        )
    return [_task(row) for row in rows]


async def insert_attempt(
    conn: aiosqlite.Connection, task_id: int, number: int, at: datetime
) -> int:
    async with conn.execute(
        "INSERT INTO hotline_callback_attempts (task_id, number, outcome, started_at)"
        " VALUES (?, ?, 'placing', ?)",
        (task_id, number, utc_text(at)),
    ) as cursor:
        row_id = cursor.lastrowid
    assert row_id is not None  # noqa: S101  # an INSERT always has a rowid
    return row_id


async def set_attempt(conn: aiosqlite.Connection, attempt_id: int, **columns: Any) -> None:
    values = {k: utc_text(v) if isinstance(v, datetime) else v for k, v in columns.items()}
    assignments = ", ".join(f"{name} = ?" for name in values)
    await conn.execute(
        f"UPDATE hotline_callback_attempts SET {assignments} WHERE id = ?",  # noqa: S608  # names are ours
        (*values.values(), attempt_id),
    )


async def get_attempt(conn: aiosqlite.Connection, attempt_id: int) -> dict[str, Any] | None:
    async with conn.execute(
        "SELECT id, task_id, number, call_sid, outcome, answered_by, started_at, ended_at, error"
        " FROM hotline_callback_attempts WHERE id = ?",
        (attempt_id,),
    ) as cursor:
        row = await cursor.fetchone()
    return None if row is None else dict(row)


async def attempts_of(db: Database, task_id: int) -> list[dict[str, Any]]:
    rows = await db.fetch_all(
        "SELECT id, number, call_sid, outcome, answered_by, started_at, ended_at, error"
        " FROM hotline_callback_attempts WHERE task_id = ? ORDER BY id",
        (task_id,),
    )
    return [dict(row) for row in rows]


async def silent_attempts(db: Database, started_before: datetime) -> list[dict[str, Any]]:
    """Callback calls Twilio accepted but never reported an end for, started before a time."""
    rows = await db.fetch_all(
        "SELECT a.id, a.task_id, a.call_sid FROM hotline_callback_attempts a"
        " JOIN hotline_callbacks c ON c.id = a.task_id"
        " WHERE a.outcome = 'ringing' AND c.status = 'calling' AND a.started_at < ?",
        (utc_text(started_before),),
    )
    return [dict(row) for row in rows]


async def placing_attempts(db: Database) -> list[dict[str, Any]]:
    """Attempts a previous process began and never heard back from Twilio about."""
    rows = await db.fetch_all(
        "SELECT a.id, a.task_id, a.number, a.started_at, c.phone FROM hotline_callback_attempts a"
        " JOIN hotline_callbacks c ON c.id = a.task_id WHERE a.outcome = 'placing'"
    )
    return [dict(row) for row in rows]


# --- operators --------------------------------------------------------------------------

_OPERATOR_COLUMNS = "id, name, phone, shift_start, shift_end, active"


def _operator(row: Mapping[str, Any] | sqlite3.Row) -> Operator:
    return Operator(
        id=row["id"],
        name=row["name"],
        phone=row["phone"],
        shift_start=parse_shift_time(row["shift_start"]),
        shift_end=parse_shift_time(row["shift_end"]),
        active=bool(row["active"]),
    )


def operator_json(operator: Operator) -> dict[str, Any]:
    return {
        "id": operator.id,
        "name": operator.name,
        "phone": operator.phone,
        "shift_start": operator.shift_start.strftime("%H:%M"),
        "shift_end": operator.shift_end.strftime("%H:%M"),
        "active": operator.active,
    }


async def list_operators(db: Database) -> list[Operator]:
    rows = await db.fetch_all(
        f"SELECT {_OPERATOR_COLUMNS} FROM hotline_operators ORDER BY id"  # noqa: S608  # constant
    )
    return [_operator(row) for row in rows]


async def insert_operator(
    conn: aiosqlite.Connection, values: Mapping[str, Any], at: datetime
) -> int:
    """Add an operator from `operator_values`; returns the new id."""
    async with conn.execute(
        "INSERT INTO hotline_operators (name, phone, shift_start, shift_end, active,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (*values.values(), utc_text(at), utc_text(at)),
    ) as cursor:
        operator_id = cursor.lastrowid
    assert operator_id is not None  # noqa: S101  # an INSERT always has a rowid
    return operator_id


async def update_operator(
    conn: aiosqlite.Connection, operator_id: int, values: Mapping[str, Any], at: datetime
) -> None:
    await conn.execute(
        "UPDATE hotline_operators SET name = ?, phone = ?, shift_start = ?, shift_end = ?,"
        " active = ?, updated_at = ? WHERE id = ?",
        (*values.values(), utc_text(at), operator_id),
    )


async def deactivate_operator(conn: aiosqlite.Connection, operator_id: int, at: datetime) -> None:
    await conn.execute(
        "UPDATE hotline_operators SET active = 0, updated_at = ? WHERE id = ?",
        (utc_text(at), operator_id),
    )


async def get_operator(conn: aiosqlite.Connection, operator_id: int) -> Operator | None:
    async with conn.execute(
        f"SELECT {_OPERATOR_COLUMNS} FROM hotline_operators WHERE id = ?",  # noqa: S608  # constant
        (operator_id,),
    ) as cursor:
        row = await cursor.fetchone()
    return None if row is None else _operator(row)


async def idle_operators(db: Database, stale_before: datetime) -> list[Operator]:
    """Active operators with no call leg in flight, least recently offered first. A leg with
    no news since `stale_before` no longer holds its operator (a lost status callback)."""
    rows = await db.fetch_all(
        f"SELECT {_OPERATOR_COLUMNS} FROM hotline_operators o WHERE active = 1"  # noqa: S608  # constant
        " AND NOT EXISTS (SELECT 1 FROM hotline_calls c WHERE c.kind = 'operator'"
        " AND c.operator_id = o.id AND c.ended_at IS NULL AND c.updated_at >= ?)"
        " ORDER BY last_offered_at IS NOT NULL, last_offered_at, id",
        (utc_text(stale_before),),
    )
    return [_operator(row) for row in rows]


async def pending_operator_legs(db: Database, stale_before: datetime) -> int:
    """Operator legs placed but not yet bridged to a caller (ringing, or offered)."""
    row = await db.fetch_one(
        "SELECT COUNT(*) AS n FROM hotline_calls WHERE kind = 'operator' AND ended_at IS NULL"
        " AND outcome IS NULL AND updated_at >= ?",
        (utc_text(stale_before),),
    )
    return int(row["n"]) if row else 0


def operator_values(body: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": body["name"],
        "phone": body["phone"],
        "shift_start": body["shift_start"],
        "shift_end": body["shift_end"],
        "active": 1 if body.get("active", True) else 0,
    }


async def figures_rows(db: Database, since: datetime, until: datetime) -> Sequence[sqlite3.Row]:
    return await db.fetch_all(
        f"SELECT {CALL_COLUMNS} FROM hotline_calls"  # noqa: S608  # constant
        " WHERE received_at >= ? AND received_at <= ? ORDER BY received_at",
        (utc_text(since), utc_text(until)),
    )


async def attempt_rows(db: Database, since: datetime, until: datetime) -> Sequence[sqlite3.Row]:
    return await db.fetch_all(
        "SELECT a.outcome, a.started_at, a.task_id FROM hotline_callback_attempts a"
        " WHERE a.started_at >= ? AND a.started_at <= ?",
        (utc_text(since), utc_text(until)),
    )
