"""Rescue requests' rows: insert, read, change, their phones and their timeline (the audited
operations that use these are dispatch.requests)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import aiosqlite

from canhbao.clock import parse_utc, utc_text
from dispatch.models import (
    OPEN_STATES,
    Claim,
    HistoryEntry,
    NewRequest,
    Priority,
    RescueRequest,
    State,
    Vulnerability,
    Water,
    request_number,
)
from dispatch.store.rows import Reader, children, fetch_all

_COLUMNS = (
    "id, number, source, caller, source_sid, call_sid, recording_url, lat, lon, accuracy_m,"
    " location_source, address, ward_code, ward_name, people, vulnerabilities, water, notes,"
    " device_id, severe_warning, priority_override, priority_reason, state, duplicate_of,"
    " claimed_by, claim_expires_at, created_at, updated_at, state_changed_at"
)
# The first time a request reached these states (the figures read them).
_REACHED = {
    State.accepted: "accepted_at",
    State.on_scene: "on_scene_at",
    State.resolved: "resolved_at",
}
_OPEN_MARKS = ", ".join(f"'{s.value}'" for s in OPEN_STATES)


def _from_row(
    row: sqlite3.Row, phones: tuple[str, ...] = (), photos: tuple[str, ...] = ()
) -> RescueRequest:
    claim = (
        Claim(row["claimed_by"], parse_utc(row["claim_expires_at"]))
        if row["claimed_by"] and row["claim_expires_at"]
        else None
    )
    return RescueRequest(
        id=row["id"],
        number=row["number"],
        source=row["source"],
        caller=row["caller"],
        phones=phones,
        source_sid=row["source_sid"],
        call_sid=row["call_sid"],
        recording_url=row["recording_url"],
        lat=row["lat"],
        lon=row["lon"],
        accuracy_m=row["accuracy_m"],
        location_source=row["location_source"],
        address=row["address"],
        ward_code=row["ward_code"],
        ward_name=row["ward_name"],
        people=row["people"],
        vulnerabilities=tuple(Vulnerability(v) for v in row["vulnerabilities"].split(",") if v),
        water=Water(row["water"]),
        notes=row["notes"],
        device_id=row["device_id"],
        severe_warning=bool(row["severe_warning"]),
        priority_override=Priority(row["priority_override"]) if row["priority_override"] else None,
        priority_reason=row["priority_reason"],
        state=State(row["state"]),
        duplicate_of=row["duplicate_of"],
        claim=claim,
        created_at=parse_utc(row["created_at"]),
        updated_at=parse_utc(row["updated_at"]),
        state_changed_at=parse_utc(row["state_changed_at"]),
        photos=photos,
    )


async def _complete(reader: Reader, rows: Sequence[sqlite3.Row]) -> list[RescueRequest]:
    """Rows with their phones and photos (two queries for the lot, not two per row)."""
    ids = [row["id"] for row in rows]
    phones = await children(
        reader,
        "SELECT request_id, phone FROM dispatch_request_phones WHERE request_id IN ({marks})"
        " ORDER BY request_id, phone",
        ids,
    )
    photos = await children(
        reader,
        "SELECT request_id, sha256 FROM dispatch_photos WHERE request_id IN ({marks})"
        " ORDER BY request_id, created_at, sha256",
        ids,
    )
    return [
        _from_row(
            row,
            tuple(p[1] for p in phones.get(row["id"], ())),
            tuple(p[1] for p in photos.get(row["id"], ())),
        )
        for row in rows
    ]


async def _select(reader: Reader, clauses: str, params: Sequence[object]) -> list[RescueRequest]:
    """Requests, complete, chosen by `clauses` (our own constant SQL after FROM, with
    placeholders for `params`)."""
    rows = await fetch_all(
        reader,
        f"SELECT {_COLUMNS} FROM dispatch_requests {clauses}",  # noqa: S608  # constants
        params,
    )
    return await _complete(reader, rows)


async def insert_request(
    conn: aiosqlite.Connection,
    draft: NewRequest,
    at: datetime,
    *,
    ward: tuple[str, str] | None,
    severe_warning: bool,
) -> int:
    """Insert a checked draft, give it its number and its caller's phone; returns its id."""
    now = utc_text(at)
    async with conn.execute(
        "INSERT INTO dispatch_requests (number, source, caller, source_sid, call_sid,"
        " recording_url, lat, lon, accuracy_m, location_source, address, ward_code, ward_name,"
        " people, vulnerabilities, water, notes, device_id, severe_warning, created_at,"
        " updated_at, state_changed_at)"
        " VALUES ('', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            draft.source,
            draft.caller,
            draft.source_sid,
            draft.call_sid,
            draft.recording_url,
            draft.lat,
            draft.lon,
            draft.accuracy_m,
            draft.location_source,
            draft.address,
            ward[0] if ward else None,
            ward[1] if ward else None,
            draft.people,
            ",".join(v.value for v in draft.vulnerabilities),
            draft.water.value,
            draft.notes,
            draft.device_id,
            int(severe_warning),
            now,
            now,
            now,
        ),
    ) as cursor:
        row_id = cursor.lastrowid
    assert row_id is not None  # noqa: S101  # an INSERT always has a rowid
    await conn.execute(
        "UPDATE dispatch_requests SET number = ? WHERE id = ?", (request_number(row_id), row_id)
    )
    if draft.caller:
        await add_phones(conn, row_id, [draft.caller])
    return row_id


async def add_phones(conn: aiosqlite.Connection, request_id: int, phones: Sequence[str]) -> None:
    await conn.executemany(
        "INSERT OR IGNORE INTO dispatch_request_phones (request_id, phone) VALUES (?, ?)",
        [(request_id, phone) for phone in phones if phone],
    )


async def update_request(
    conn: aiosqlite.Connection, request_id: int, at: datetime, **columns: Any
) -> None:
    """Set columns of one request (names are ours, never a client's)."""
    columns["updated_at"] = utc_text(at)
    assignments = ", ".join(f"{name} = ?" for name in columns)
    await conn.execute(
        f"UPDATE dispatch_requests SET {assignments} WHERE id = ?",  # noqa: S608  # names are ours
        (*columns.values(), request_id),
    )


async def set_state(
    conn: aiosqlite.Connection, request_id: int, state: State, at: datetime
) -> None:
    """Move the row to `state` (the caller checked the transition) and note when it first got
    there; a closed request lets go of its claim."""
    now = utc_text(at)
    reached = _REACHED.get(state)
    extra = f", {reached} = coalesce({reached}, ?)" if reached else ""
    release = ", claimed_by = NULL, claim_expires_at = NULL" if state not in OPEN_STATES else ""
    await conn.execute(
        f"UPDATE dispatch_requests SET state = ?, state_changed_at = ?, updated_at = ?{extra}"  # noqa: S608  # names are ours
        f"{release} WHERE id = ?",
        (state.value, now, now, *((now,) if reached else ()), request_id),
    )


async def set_claim(
    conn: aiosqlite.Connection, request_id: int, claim: Claim | None, at: datetime
) -> None:
    await conn.execute(
        "UPDATE dispatch_requests SET claimed_by = ?, claim_expires_at = ?, updated_at = ?"
        " WHERE id = ?",
        (
            claim.holder if claim else None,
            utc_text(claim.expires_at) if claim else None,
            utc_text(at),
            request_id,
        ),
    )


async def add_history(
    conn: aiosqlite.Connection,
    request_id: int,
    at: datetime,
    actor: str,
    kind: str,
    *,
    from_state: State | None = None,
    to_state: State | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO dispatch_request_history (request_id, at, actor, kind, from_state,"
        " to_state, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            request_id,
            utc_text(at),
            actor,
            kind,
            from_state.value if from_state else None,
            to_state.value if to_state else None,
            json.dumps(detail or {}, ensure_ascii=False),
        ),
    )


async def copy_history(conn: aiosqlite.Connection, from_id: int, to_id: int) -> None:
    """A merge keeps both timelines: the absorbed request's lines join the kept one's."""
    await conn.execute(
        "INSERT INTO dispatch_request_history (request_id, at, actor, kind, from_state,"
        " to_state, detail) SELECT ?, at, actor, kind, from_state, to_state,"
        " json_set(detail, '$.merged_from', ?) FROM dispatch_request_history"
        " WHERE request_id = ? ORDER BY at, id",
        (to_id, request_number(from_id), from_id),
    )


async def history(reader: Reader, request_id: int) -> list[HistoryEntry]:
    rows = await fetch_all(
        reader,
        "SELECT at, actor, kind, from_state, to_state, detail FROM dispatch_request_history"
        " WHERE request_id = ? ORDER BY at, id",
        (request_id,),
    )
    return [
        HistoryEntry(
            at=parse_utc(row["at"]),
            actor=row["actor"],
            kind=row["kind"],
            from_state=State(row["from_state"]) if row["from_state"] else None,
            to_state=State(row["to_state"]) if row["to_state"] else None,
            detail=json.loads(row["detail"]),
        )
        for row in rows
    ]


async def get_request(reader: Reader, request_id: int) -> RescueRequest | None:
    return next(iter(await _select(reader, "WHERE id = ?", (request_id,))), None)


async def open_request_for(reader: Reader, phone: str) -> RescueRequest | None:
    """The newest request this number may be told about that is still being handled."""
    found = await _select(
        reader,
        "WHERE id IN (SELECT request_id FROM dispatch_request_phones WHERE phone = ?)"  # noqa: S608  # constants
        f" AND state IN ({_OPEN_MARKS}) ORDER BY id DESC LIMIT 1",
        (phone,),
    )
    return next(iter(found), None)


async def requests_for(reader: Reader, phone: str, limit: int = 5) -> list[RescueRequest]:
    """The newest requests this number may be told about, open or closed."""
    return await _select(
        reader,
        "WHERE id IN (SELECT request_id FROM dispatch_request_phones WHERE phone = ?)"
        " ORDER BY id DESC LIMIT ?",
        (phone, limit),
    )


async def list_requests(
    reader: Reader, *, state: State | None, limit: int, before_id: int | None
) -> list[RescueRequest]:
    conditions: list[str] = ["1 = 1"]
    params: list[object] = []
    if state is not None:
        conditions.append("state = ?")
        params.append(state.value)
    if before_id is not None:
        conditions.append("id < ?")
        params.append(before_id)
    return await _select(
        reader, f"WHERE {' AND '.join(conditions)} ORDER BY id DESC LIMIT ?", (*params, limit)
    )


async def open_requests(reader: Reader, limit: int = 10_000) -> list[RescueRequest]:
    return await _select(reader, f"WHERE state IN ({_OPEN_MARKS}) ORDER BY id LIMIT ?", (limit,))


async def requests_between(
    reader: Reader, since: datetime, until: datetime, limit: int = 100_000
) -> list[RescueRequest]:
    """Requests received in [since, until], oldest first (exports)."""
    return await _select(
        reader,
        "WHERE created_at >= ? AND created_at <= ? ORDER BY created_at, id LIMIT ?",
        (utc_text(since), utc_text(until), limit),
    )


async def count_by_state(reader: Reader) -> dict[str, int]:
    rows = await fetch_all(
        reader, "SELECT state, COUNT(*) FROM dispatch_requests GROUP BY state", ()
    )
    return {row[0]: int(row[1]) for row in rows}


async def add_photo(
    conn: aiosqlite.Connection,
    request_id: int,
    sha256: str,
    mime: str,
    size: tuple[int, int],
    length: int,
    at: datetime,
) -> bool:
    """Note a photo of the request; False when it was already there (the same bytes again)."""
    async with conn.execute(
        "INSERT OR IGNORE INTO dispatch_photos (request_id, sha256, mime, width, height, bytes,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (request_id, sha256, mime, size[0], size[1], length, utc_text(at)),
    ) as cursor:
        return cursor.rowcount > 0


async def photo_mime(reader: Reader, request_id: int, sha256: str) -> str | None:
    rows = await fetch_all(
        reader,
        "SELECT mime FROM dispatch_photos WHERE request_id = ? AND sha256 = ?",
        (request_id, sha256),
    )
    return str(rows[0][0]) if rows else None


async def copy_photos(conn: aiosqlite.Connection, from_id: int, to_id: int) -> None:
    await conn.execute(
        "INSERT OR IGNORE INTO dispatch_photos (request_id, sha256, mime, width, height, bytes,"
        " created_at) SELECT ?, sha256, mime, width, height, bytes, created_at"
        " FROM dispatch_photos WHERE request_id = ?",
        (to_id, from_id),
    )


async def timing_rows(reader: Reader, since: datetime, until: datetime) -> list[sqlite3.Row]:
    """Per request received in [since, until]: when it came, its ward, and when it was first
    accepted, on scene and resolved (the figures)."""
    return await fetch_all(
        reader,
        "SELECT created_at, ward_code, accepted_at, on_scene_at, resolved_at"
        " FROM dispatch_requests WHERE created_at >= ? AND created_at <= ?"
        " AND state != 'duplicate' ORDER BY created_at",
        (utc_text(since), utc_text(until)),
    )


async def reached_at(reader: Reader, request_ids: Sequence[int]) -> dict[int, dict[str, str]]:
    """When each request first reached accepted, on scene and resolved (exports)."""
    if not request_ids:
        return {}
    marks = ", ".join("?" for _ in request_ids)
    rows = await fetch_all(
        reader,
        f"SELECT id, accepted_at, on_scene_at, resolved_at FROM dispatch_requests"  # noqa: S608  # placeholders only
        f" WHERE id IN ({marks})",
        list(request_ids),
    )
    return {
        int(row["id"]): {
            key: row[key] or "" for key in ("accepted_at", "on_scene_at", "resolved_at")
        }
        for row in rows
    }
