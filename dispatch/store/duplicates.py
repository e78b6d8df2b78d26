"""Duplicate proposals' rows, and the searches that find candidates."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiosqlite

from canhbao.clock import parse_utc, utc_text
from dispatch.models import OPEN_STATES, request_number
from dispatch.store.rows import Reader, fetch_all, parse_time

_OPEN_MARKS = ", ".join(f"'{s.value}'" for s in OPEN_STATES)
_COLUMNS = (
    "id, request_id, candidate_id, reason, distance_m, status, created_at, decided_at, decided_by"
)


@dataclass(frozen=True)
class Proposal:
    id: int
    request_id: int
    candidate_id: int
    reason: str
    distance_m: float | None
    status: str
    created_at: datetime
    decided_at: datetime | None
    decided_by: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "request": request_number(self.request_id),
            "request_id": self.request_id,
            "candidate": request_number(self.candidate_id),
            "candidate_id": self.candidate_id,
            "reason": self.reason,
            "distance_m": None if self.distance_m is None else round(self.distance_m, 1),
            "status": self.status,
            "created_at": utc_text(self.created_at),
            "decided_at": utc_text(self.decided_at) if self.decided_at else None,
            "decided_by": self.decided_by,
        }


def _proposal(row: sqlite3.Row) -> Proposal:
    return Proposal(
        id=row["id"],
        request_id=row["request_id"],
        candidate_id=row["candidate_id"],
        reason=row["reason"],
        distance_m=row["distance_m"],
        status=row["status"],
        created_at=parse_utc(row["created_at"]),
        decided_at=parse_time(row["decided_at"]),
        decided_by=row["decided_by"],
    )


async def same_phone_since(
    reader: Reader, request_id: int, phones: tuple[str, ...], since: datetime
) -> list[int]:
    """Open requests other than this one, received since `since`, sharing one of its phones."""
    if not phones:
        return []
    marks = ", ".join("?" for _ in phones)
    rows = await fetch_all(
        reader,
        "SELECT DISTINCT r.id FROM dispatch_requests r JOIN dispatch_request_phones p"  # noqa: S608  # placeholders only
        f" ON p.request_id = r.id WHERE p.phone IN ({marks}) AND r.id != ?"
        f" AND r.created_at >= ? AND r.state IN ({_OPEN_MARKS}) ORDER BY r.id",
        (*phones, request_id, utc_text(since)),
    )
    return [int(row[0]) for row in rows]


async def placed_near_since(
    reader: Reader,
    request_id: int,
    box: tuple[float, float, float, float],
    since: datetime,
) -> list[tuple[int, float, float]]:
    """Open requests other than this one, received since `since`, with a point in the box
    (south, west, north, east): (id, lat, lon) for the caller to measure exactly."""
    south, west, north, east = box
    rows = await fetch_all(
        reader,
        "SELECT id, lat, lon FROM dispatch_requests WHERE id != ? AND created_at >= ?"  # noqa: S608  # constants
        f" AND state IN ({_OPEN_MARKS}) AND lat BETWEEN ? AND ? AND lon BETWEEN ? AND ?"
        " ORDER BY id",
        (request_id, utc_text(since), south, north, west, east),
    )
    return [(int(row[0]), float(row[1]), float(row[2])) for row in rows]


async def insert_proposal(
    conn: aiosqlite.Connection,
    request_id: int,
    candidate_id: int,
    reason: str,
    distance_m: float | None,
    at: datetime,
) -> bool:
    async with conn.execute(
        "INSERT OR IGNORE INTO dispatch_duplicates (request_id, candidate_id, reason,"
        " distance_m, created_at) VALUES (?, ?, ?, ?, ?)",
        (request_id, candidate_id, reason, distance_m, utc_text(at)),
    ) as cursor:
        return cursor.rowcount > 0


async def get_proposal(reader: Reader, proposal_id: int) -> Proposal | None:
    rows = await fetch_all(
        reader,
        f"SELECT {_COLUMNS} FROM dispatch_duplicates WHERE id = ?",  # noqa: S608  # constant
        (proposal_id,),
    )
    return _proposal(rows[0]) if rows else None


async def list_proposals(reader: Reader, status: str | None, limit: int) -> list[Proposal]:
    where = "WHERE status = ?" if status else ""
    rows = await fetch_all(
        reader,
        f"SELECT {_COLUMNS} FROM dispatch_duplicates {where} ORDER BY id DESC LIMIT ?",  # noqa: S608  # constants
        (*((status,) if status else ()), limit),
    )
    return [_proposal(row) for row in rows]


async def decide_proposal(
    conn: aiosqlite.Connection, proposal_id: int, status: str, actor: str, at: datetime
) -> bool:
    """Decide a proposal still open; False if it was decided already."""
    async with conn.execute(
        "UPDATE dispatch_duplicates SET status = ?, decided_at = ?, decided_by = ?"
        " WHERE id = ? AND status = 'proposed'",
        (status, utc_text(at), actor, proposal_id),
    ) as cursor:
        return cursor.rowcount > 0


async def close_proposals_of(
    conn: aiosqlite.Connection, request_id: int, actor: str, at: datetime
) -> None:
    """A request merged away: its other open proposals are moot (rejected, with who and when)."""
    await conn.execute(
        "UPDATE dispatch_duplicates SET status = 'rejected', decided_at = ?, decided_by = ?"
        " WHERE status = 'proposed' AND (request_id = ? OR candidate_id = ?)",
        (utc_text(at), actor, request_id, request_id),
    )
