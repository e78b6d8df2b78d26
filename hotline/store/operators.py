"""The operators' roster: who can be rung, and who is free."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import aiosqlite

from canhbao.clock import utc_text
from canhbao.db import Database
from hotline.models import Operator, parse_shift_time

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


async def mark_offered(conn: aiosqlite.Connection, operator_id: int, at: datetime) -> None:
    """The operator was just rung: the next caller goes to someone else first."""
    await conn.execute(
        "UPDATE hotline_operators SET last_offered_at = ? WHERE id = ?",
        (utc_text(at), operator_id),
    )
