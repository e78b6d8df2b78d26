"""Rescue requests' rows: insert, read, change (the audited operations are hotline.rescue)."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

import aiosqlite

from canhbao.clock import parse_utc, utc_text
from canhbao.db import Database
from hotline.models import (
    OPEN_REQUEST_STATUSES,
    NewRescueRequest,
    RequestStatus,
    RescueRequest,
    Vulnerability,
    request_number,
)

_COLUMNS = (
    "id, number, source, caller, source_sid, lat, lon, accuracy_m, location_source, address,"
    " recording_url, people, vulnerabilities, status, created_at, updated_at"
)


def _from_row(row: sqlite3.Row) -> RescueRequest:
    return RescueRequest(
        id=row["id"],
        number=row["number"],
        source=row["source"],
        caller=row["caller"],
        source_sid=row["source_sid"],
        lat=row["lat"],
        lon=row["lon"],
        accuracy_m=row["accuracy_m"],
        location_source=row["location_source"],
        address=row["address"],
        recording_url=row["recording_url"],
        people=row["people"],
        vulnerabilities=tuple(Vulnerability(v) for v in row["vulnerabilities"].split(",") if v),
        status=RequestStatus(row["status"]),
        created_at=parse_utc(row["created_at"]),
        updated_at=parse_utc(row["updated_at"]),
    )


async def insert_request(conn: aiosqlite.Connection, draft: NewRescueRequest, at: datetime) -> int:
    """Insert a request and give it its number; returns its id."""
    now = utc_text(at)
    async with conn.execute(
        "INSERT INTO hotline_rescue_requests (number, source, caller, source_sid, lat, lon,"
        " accuracy_m, location_source, address, recording_url, people, vulnerabilities,"
        " created_at, updated_at) VALUES ('', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            draft.source,
            draft.caller,
            draft.source_sid,
            draft.lat,
            draft.lon,
            draft.accuracy_m,
            draft.location_source,
            draft.address,
            draft.recording_url,
            draft.people,
            ",".join(v.value for v in draft.vulnerabilities),
            now,
            now,
        ),
    ) as cursor:
        row_id = cursor.lastrowid
    assert row_id is not None  # noqa: S101  # an INSERT always has a rowid
    await conn.execute(
        "UPDATE hotline_rescue_requests SET number = ? WHERE id = ?",
        (request_number(row_id), row_id),
    )
    return row_id


async def update_request(
    conn: aiosqlite.Connection, request_id: int, at: datetime, **columns: Any
) -> None:
    """Set columns of one request (names are ours, never a client's)."""
    columns["updated_at"] = utc_text(at)
    assignments = ", ".join(f"{name} = ?" for name in columns)
    await conn.execute(
        f"UPDATE hotline_rescue_requests SET {assignments} WHERE id = ?",  # noqa: S608  # names are ours
        (*columns.values(), request_id),
    )


async def get_request(
    conn: aiosqlite.Connection | Database, request_id: int
) -> RescueRequest | None:
    sql = f"SELECT {_COLUMNS} FROM hotline_rescue_requests WHERE id = ?"  # noqa: S608  # constant
    if isinstance(conn, Database):
        row = await conn.fetch_one(sql, (request_id,))
    else:
        async with conn.execute(sql, (request_id,)) as cursor:
            row = await cursor.fetchone()
    return None if row is None else _from_row(row)


async def open_request_for(conn: aiosqlite.Connection, caller: str) -> RescueRequest | None:
    """The newest request from this number that is still being handled, if any."""
    marks = ", ".join("?" for _ in OPEN_REQUEST_STATUSES)
    async with conn.execute(
        f"SELECT {_COLUMNS} FROM hotline_rescue_requests WHERE caller = ?"  # noqa: S608  # placeholders only
        f" AND status IN ({marks}) ORDER BY id DESC LIMIT 1",
        (caller, *(s.value for s in OPEN_REQUEST_STATUSES)),
    ) as cursor:
        row = await cursor.fetchone()
    return None if row is None else _from_row(row)


async def list_requests(
    db: Database, *, status: RequestStatus | None, limit: int, before_id: int | None
) -> list[RescueRequest]:
    conditions: list[str] = ["1 = 1"]
    params: list[object] = []
    if status is not None:
        conditions.append("status = ?")
        params.append(status.value)
    if before_id is not None:
        conditions.append("id < ?")
        params.append(before_id)
    rows = await db.fetch_all(
        f"SELECT {_COLUMNS} FROM hotline_rescue_requests WHERE {' AND '.join(conditions)}"  # noqa: S608  # literal conditions
        " ORDER BY id DESC LIMIT ?",
        (*params, limit),
    )
    return [_from_row(row) for row in rows]


async def count_new_requests(db: Database) -> int:
    row = await db.fetch_one("SELECT COUNT(*) FROM hotline_rescue_requests WHERE status = 'new'")
    return int(row[0]) if row else 0
