"""The call log: calls, their recordings, and the webhook steps already answered."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiosqlite

from canhbao.clock import parse_utc, utc_text
from canhbao.db import Database
from hotline.models import FINAL_STATUSES, CallKind, CallStatus, next_status

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


def time_or_none(value: str | None) -> datetime | None:
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
        answered_at=time_or_none(row["answered_at"]),
        ended_at=time_or_none(row["ended_at"]),
        enqueued_at=time_or_none(row["enqueued_at"]),
        dequeued_at=time_or_none(row["dequeued_at"]),
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


async def queue_departures(conn: aiosqlite.Connection, since: datetime) -> list[CallRow]:
    """Callers who left a queue (taken, hung up, or chose a way out) at or after a moment."""
    async with conn.execute(
        f"SELECT {CALL_COLUMNS} FROM hotline_calls"  # noqa: S608  # constant
        " WHERE enqueued_at IS NOT NULL AND kind IN ('inbound', 'callback')"
        " AND COALESCE(dequeued_at, ended_at) >= ? ORDER BY enqueued_at",
        (utc_text(since),),
    ) as cursor:
        rows = await cursor.fetchall()
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


async def figures_rows(db: Database, since: datetime, until: datetime) -> Sequence[sqlite3.Row]:
    return await db.fetch_all(
        f"SELECT {CALL_COLUMNS} FROM hotline_calls"  # noqa: S608  # constant
        " WHERE received_at >= ? AND received_at <= ? ORDER BY received_at",
        (utc_text(since), utc_text(until)),
    )


async def count_calls_since(db: Database, since: datetime) -> list[tuple[str, str, int]]:
    """(kind, final status or "in-progress", count) of the calls received since a moment."""
    rows = await db.fetch_all(
        "SELECT kind, COALESCE(status, 'in-progress') AS status, COUNT(*) AS n"
        " FROM hotline_calls WHERE received_at >= ? GROUP BY kind, 2",
        (utc_text(since),),
    )
    return [(row["kind"], row["status"], int(row["n"])) for row in rows]
