"""Rescue requests: the store every source writes to (calls, SMS, later the app's SOS button),
and the RescueRequestCreated event the dispatch domain will listen for."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiosqlite

from canhbao.audit import record_audit
from canhbao.clock import parse_utc, to_local, utc_text
from canhbao.db import Database, Migration
from hotline.errors import InvalidTransition, NotFound
from hotline.models import (
    REQUEST_TRANSITIONS,
    RequestSource,
    RequestStatus,
    Vulnerability,
    request_number,
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "hotline",
        1,
        "rescue requests",
        """
        CREATE TABLE hotline_rescue_requests (
            id INTEGER PRIMARY KEY,
            number TEXT NOT NULL UNIQUE,
            source TEXT NOT NULL CHECK (source IN ('call', 'sms', 'app')),
            caller TEXT NOT NULL,
            -- The call or SMS it came from (CallSid / MessageSid).
            source_sid TEXT,
            lat REAL,
            lon REAL,
            accuracy_m REAL,
            -- Where the location came from: device, contact (registered), or none.
            location_source TEXT,
            address TEXT NOT NULL DEFAULT '',
            recording_url TEXT,
            people INTEGER,
            vulnerabilities TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'new'
                CHECK (status IN ('new', 'triaged', 'dispatched', 'resolved', 'cancelled')),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            CHECK ((lat IS NULL) = (lon IS NULL))
        );
        CREATE INDEX hotline_rescue_requests_status ON hotline_rescue_requests (status, id);
        CREATE INDEX hotline_rescue_requests_source_sid ON hotline_rescue_requests (source_sid);
        """,
    ),
)


@dataclass(frozen=True)
class RescueRequest:
    id: int
    number: str
    source: RequestSource
    caller: str
    source_sid: str | None
    lat: float | None
    lon: float | None
    accuracy_m: float | None
    location_source: str | None
    address: str
    recording_url: str | None
    people: int | None
    vulnerabilities: tuple[Vulnerability, ...]
    status: RequestStatus
    created_at: datetime
    updated_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "number": self.number,
            "source": self.source,
            "caller": self.caller,
            "source_sid": self.source_sid,
            "location": None
            if self.lat is None
            else {
                "lat": self.lat,
                "lon": self.lon,
                "accuracy_m": self.accuracy_m,
                "source": self.location_source,
            },
            "address": self.address,
            "recording_url": self.recording_url,
            "people": self.people,
            "vulnerabilities": [v.value for v in self.vulnerabilities],
            "status": self.status.value,
            "created_at": utc_text(self.created_at),
            "created_at_local": to_local(self.created_at).isoformat(),
            "updated_at": utc_text(self.updated_at),
        }


@dataclass(frozen=True)
class NewRescueRequest:
    source: RequestSource
    caller: str
    source_sid: str | None = None
    lat: float | None = None
    lon: float | None = None
    accuracy_m: float | None = None
    location_source: str | None = None
    address: str = ""
    recording_url: str | None = None
    people: int | None = None
    vulnerabilities: tuple[Vulnerability, ...] = ()


@dataclass(frozen=True)
class RescueRequestCreated:
    """Published on the bus once a request is committed; dispatch takes it from here."""

    request_id: int
    number: str
    source: RequestSource
    caller: str
    lat: float | None
    lon: float | None
    address: str


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


async def create_request(
    conn: aiosqlite.Connection, draft: NewRescueRequest, *, at: datetime, actor: str
) -> RescueRequest:
    """Insert inside the caller's transaction (audited there); the caller publishes the event
    after the commit (event_for)."""
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
    request = await _get(conn, row_id)
    await record_audit(
        conn,
        at=at,
        actor=actor,
        action="rescue_request.create",
        entity="rescue_request",
        entity_id=str(row_id),
        before=None,
        after=request.to_json(),
    )
    return request


def event_for(request: RescueRequest) -> RescueRequestCreated:
    return RescueRequestCreated(
        request_id=request.id,
        number=request.number,
        source=request.source,
        caller=request.caller,
        lat=request.lat,
        lon=request.lon,
        address=request.address,
    )


async def update_details(
    conn: aiosqlite.Connection,
    request_id: int,
    *,
    at: datetime,
    actor: str,
    recording_url: str | None = None,
    people: int | None = None,
    vulnerabilities: Sequence[Vulnerability] | None = None,
) -> RescueRequest:
    """Add what the caller told us after the request was created (recording, people, needs)."""
    before = await _get(conn, request_id)
    columns: dict[str, Any] = {}
    if recording_url is not None:
        columns["recording_url"] = recording_url
    if people is not None:
        columns["people"] = people
    if vulnerabilities is not None:
        columns["vulnerabilities"] = ",".join(v.value for v in vulnerabilities)
    if not columns:
        return before
    columns["updated_at"] = utc_text(at)
    assignments = ", ".join(f"{name} = ?" for name in columns)
    await conn.execute(
        f"UPDATE hotline_rescue_requests SET {assignments} WHERE id = ?",  # noqa: S608  # names are ours
        (*columns.values(), request_id),
    )
    after = await _get(conn, request_id)
    await record_audit(
        conn,
        at=at,
        actor=actor,
        action="rescue_request.update",
        entity="rescue_request",
        entity_id=str(request_id),
        before=before.to_json(),
        after=after.to_json(),
    )
    return after


async def change_status(
    conn: aiosqlite.Connection,
    request_id: int,
    status: RequestStatus,
    *,
    at: datetime,
    actor: str,
) -> RescueRequest:
    before = await _get(conn, request_id)
    if status not in REQUEST_TRANSITIONS[before.status]:
        raise InvalidTransition(
            f"rescue request {before.number} is {before.status.value}; it cannot become"
            f" {status.value}"
        )
    await conn.execute(
        "UPDATE hotline_rescue_requests SET status = ?, updated_at = ? WHERE id = ?",
        (status.value, utc_text(at), request_id),
    )
    after = await _get(conn, request_id)
    await record_audit(
        conn,
        at=at,
        actor=actor,
        action="rescue_request.status",
        entity="rescue_request",
        entity_id=str(request_id),
        before={"status": before.status.value},
        after={"status": after.status.value},
    )
    return after


async def _get(conn: aiosqlite.Connection, request_id: int) -> RescueRequest:
    async with conn.execute(
        f"SELECT {_COLUMNS} FROM hotline_rescue_requests WHERE id = ?",  # noqa: S608  # constant
        (request_id,),
    ) as cursor:
        row = await cursor.fetchone()
    if row is None:
        raise NotFound(f"no rescue request {request_id}")
    return _from_row(row)


async def get_request(db: Database, request_id: int) -> RescueRequest:
    row = await db.fetch_one(
        f"SELECT {_COLUMNS} FROM hotline_rescue_requests WHERE id = ?",  # noqa: S608  # constant
        (request_id,),
    )
    if row is None:
        raise NotFound(f"no rescue request {request_id}")
    return _from_row(row)


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
