"""Callback tasks (one open per number) and their attempts."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiosqlite

from canhbao.clock import parse_utc, utc_text
from canhbao.db import Database
from hotline.models import CallbackReason
from hotline.store.calls import time_or_none

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
        next_attempt_at=time_or_none(row["next_attempt_at"]),
        created_at=parse_utc(row["created_at"]),
        updated_at=parse_utc(row["updated_at"]),
        closed_at=time_or_none(row["closed_at"]),
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


async def silent_attempts(
    db: Database, started_before: datetime, answered_before: datetime
) -> list[dict[str, Any]]:
    """Callback calls whose end Twilio never reported, of a task still calling: ringing ones
    started before `started_before`, and ones a person answered (who may still be waiting in
    the queue) started before `answered_before`."""
    rows = await db.fetch_all(
        "SELECT a.id, a.task_id, a.call_sid, a.outcome FROM hotline_callback_attempts a"
        " JOIN hotline_callbacks c ON c.id = a.task_id WHERE c.status = 'calling' AND a.ended_at"
        " IS NULL AND ((a.outcome = 'ringing' AND a.started_at < ?)"
        " OR (a.outcome = 'reached' AND a.started_at < ?))",
        (utc_text(started_before), utc_text(answered_before)),
    )
    return [dict(row) for row in rows]


async def placing_attempts(db: Database) -> list[dict[str, Any]]:
    """Attempts a previous process began and never heard back from Twilio about."""
    rows = await db.fetch_all(
        "SELECT a.id, a.task_id, a.number, a.started_at, c.phone FROM hotline_callback_attempts a"
        " JOIN hotline_callbacks c ON c.id = a.task_id WHERE a.outcome = 'placing'"
    )
    return [dict(row) for row in rows]


async def attempt_rows(db: Database, since: datetime, until: datetime) -> Sequence[sqlite3.Row]:
    return await db.fetch_all(
        "SELECT a.outcome, a.started_at, a.task_id FROM hotline_callback_attempts a"
        " WHERE a.started_at >= ? AND a.started_at <= ?",
        (utc_text(since), utc_text(until)),
    )


async def raise_attempts(conn: aiosqlite.Connection, task_id: int, number: int) -> None:
    """Count attempt `number` as made (never lowering the count)."""
    await conn.execute(
        "UPDATE hotline_callbacks SET attempts = MAX(attempts, ?) WHERE id = ?",
        (number, task_id),
    )


async def count_tasks_by_status(db: Database) -> dict[str, int]:
    rows = await db.fetch_all("SELECT status, COUNT(*) AS n FROM hotline_callbacks GROUP BY status")
    return {row["status"]: int(row["n"]) for row in rows}
