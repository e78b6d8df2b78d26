"""Rescue teams' rows: the registry, members' phones, positions the team app reports (the
audited operations that use these are dispatch.teams_service)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime

import aiosqlite

from canhbao.clock import parse_utc, utc_text
from canhbao.db import Migration
from dispatch.models import OPEN_STATES
from dispatch.store.rows import Reader, children, fetch_all, parse_time
from dispatch.teams import Coverage, Member, Team, TeamDraft

# Their own migration domain: the requests' migrations ("dispatch") and these grow apart.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "dispatch_teams",
        1,
        "rescue teams, their members, offers and escalations",
        """
        CREATE TABLE dispatch_teams (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            base_lat REAL NOT NULL,
            base_lon REAL NOT NULL,
            capabilities TEXT NOT NULL DEFAULT '',
            capacity INTEGER NOT NULL CHECK (capacity >= 1),
            ward_codes TEXT NOT NULL DEFAULT '',
            polygon TEXT,
            on_duty INTEGER NOT NULL DEFAULT 1,
            push_token TEXT,
            last_lat REAL,
            last_lon REAL,
            last_seen_at TEXT,
            token_id INTEGER UNIQUE,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE dispatch_team_members (
            team_id INTEGER NOT NULL REFERENCES dispatch_teams (id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            name TEXT NOT NULL,
            phone TEXT NOT NULL,
            PRIMARY KEY (team_id, position)
        ) WITHOUT ROWID;
        CREATE INDEX dispatch_team_members_phone ON dispatch_team_members (phone);
        -- One row per offer of a request to a team. The deadline is stored: a restarted
        -- process still times an unanswered offer out when it is due.
        CREATE TABLE dispatch_offers (
            id INTEGER PRIMARY KEY,
            request_id INTEGER NOT NULL,
            team_id INTEGER NOT NULL REFERENCES dispatch_teams (id),
            status TEXT NOT NULL,
            offered_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            offered_by TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            answered_at TEXT,
            answered_via TEXT,
            answered_by TEXT,
            ended_at TEXT
        );
        CREATE UNIQUE INDEX dispatch_offers_live ON dispatch_offers (request_id)
            WHERE status IN ('pending', 'accepted');
        CREATE INDEX dispatch_offers_due ON dispatch_offers (expires_at)
            WHERE status = 'pending';
        CREATE INDEX dispatch_offers_team ON dispatch_offers (team_id, status);
        CREATE INDEX dispatch_offers_request ON dispatch_offers (request_id, id);
        -- A request no team took after the configured number of offers, until it is handled.
        CREATE TABLE dispatch_escalations (
            request_id INTEGER PRIMARY KEY,
            escalated_at TEXT NOT NULL,
            failed_offers INTEGER NOT NULL,
            reason TEXT NOT NULL,
            cleared_at TEXT,
            cleared_by TEXT
        );
        """,
    ),
)

OPEN_MARKS = ", ".join(f"'{s.value}'" for s in OPEN_STATES)  # our own constants
_COLUMNS = (
    "t.id, t.name, t.base_lat, t.base_lon, t.capabilities, t.capacity, t.ward_codes,"  # noqa: S608  # constants
    " t.polygon, t.on_duty, t.push_token, t.last_lat, t.last_lon, t.last_seen_at, t.token_id,"
    " t.created_at, t.updated_at,"
    " (SELECT COUNT(*) FROM dispatch_offers o JOIN dispatch_requests r ON r.id = o.request_id"
    f"  WHERE o.team_id = t.id AND o.status = 'accepted' AND r.state IN ({OPEN_MARKS}))"
    " AS active_jobs"
)


def _split(text: str) -> tuple[str, ...]:
    return tuple(part for part in text.split(",") if part)


def _team(row: sqlite3.Row, members: tuple[Member, ...]) -> Team:
    return Team(
        id=row["id"],
        name=row["name"],
        base_lat=row["base_lat"],
        base_lon=row["base_lon"],
        capabilities=frozenset(_split(row["capabilities"])),
        capacity=row["capacity"],
        coverage=Coverage(
            _split(row["ward_codes"]),
            None if row["polygon"] is None else json.loads(row["polygon"]),
        ),
        on_duty=bool(row["on_duty"]),
        members=members,
        push_token=row["push_token"],
        last_lat=row["last_lat"],
        last_lon=row["last_lon"],
        last_seen_at=parse_time(row["last_seen_at"]),
        token_id=row["token_id"],
        created_at=parse_utc(row["created_at"]),
        updated_at=parse_utc(row["updated_at"]),
        active_jobs=row["active_jobs"],
    )


async def _complete(reader: Reader, rows: Sequence[sqlite3.Row]) -> list[Team]:
    members = await children(
        reader,
        "SELECT team_id, name, phone FROM dispatch_team_members WHERE team_id IN ({marks})"
        " ORDER BY team_id, position",
        [row["id"] for row in rows],
    )
    return [
        _team(row, tuple(Member(m["name"], m["phone"]) for m in members.get(row["id"], ())))
        for row in rows
    ]


async def _select(reader: Reader, clauses: str, params: Sequence[object]) -> list[Team]:
    """Teams, with their members, chosen by `clauses` (our own constant SQL after FROM, the
    table named t, with placeholders for `params`)."""
    rows = await fetch_all(
        reader,
        f"SELECT {_COLUMNS} FROM dispatch_teams t {clauses}",  # noqa: S608  # constants
        params,
    )
    return await _complete(reader, rows)


async def list_teams(reader: Reader) -> list[Team]:
    return await _select(reader, "ORDER BY t.name", ())


async def get_team(reader: Reader, team_id: int) -> Team | None:
    return next(iter(await _select(reader, "WHERE t.id = ?", (team_id,))), None)


async def team_by_name(reader: Reader, name: str) -> Team | None:
    return next(iter(await _select(reader, "WHERE t.name = ?", (name,))), None)


async def team_for_token(reader: Reader, token_id: int) -> Team | None:
    return next(iter(await _select(reader, "WHERE t.token_id = ?", (token_id,))), None)


async def teams_for_phone(reader: Reader, phone: str) -> list[Team]:
    """The teams a phone belongs to (a person may serve in more than one)."""
    return await _select(
        reader,
        "WHERE t.id IN (SELECT team_id FROM dispatch_team_members WHERE phone = ?) ORDER BY t.id",
        (phone,),
    )


def _values(draft: TeamDraft) -> tuple[object, ...]:
    return (
        draft.name,
        draft.base_lat,
        draft.base_lon,
        ",".join(sorted(draft.capabilities)),
        draft.capacity,
        ",".join(draft.coverage.ward_codes),
        None if draft.coverage.polygon is None else json.dumps(draft.coverage.polygon),
        int(draft.on_duty),
        draft.push_token,
    )


async def insert_team(conn: aiosqlite.Connection, draft: TeamDraft, at: datetime) -> int:
    now = utc_text(at)
    async with conn.execute(
        "INSERT INTO dispatch_teams (name, base_lat, base_lon, capabilities, capacity,"
        " ward_codes, polygon, on_duty, push_token, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (*_values(draft), now, now),
    ) as cursor:
        team_id = cursor.lastrowid
    assert team_id is not None  # noqa: S101  # an INSERT always has a rowid
    await _set_members(conn, team_id, draft.members)
    return team_id


async def replace_team(
    conn: aiosqlite.Connection, team_id: int, draft: TeamDraft, at: datetime
) -> None:
    await conn.execute(
        "UPDATE dispatch_teams SET name = ?, base_lat = ?, base_lon = ?, capabilities = ?,"
        " capacity = ?, ward_codes = ?, polygon = ?, on_duty = ?, push_token = ?,"
        " updated_at = ? WHERE id = ?",
        (*_values(draft), utc_text(at), team_id),
    )
    await _set_members(conn, team_id, draft.members)


async def _set_members(conn: aiosqlite.Connection, team_id: int, members: Sequence[Member]) -> None:
    await conn.execute("DELETE FROM dispatch_team_members WHERE team_id = ?", (team_id,))
    await conn.executemany(
        "INSERT INTO dispatch_team_members (team_id, position, name, phone) VALUES (?, ?, ?, ?)",
        [(team_id, index, m.name, m.phone) for index, m in enumerate(members)],
    )


async def set_position(
    conn: aiosqlite.Connection, team_id: int, lat: float, lon: float, seen_at: datetime
) -> None:
    """The team app's report; an older report than the one stored changes nothing."""
    seen = utc_text(seen_at)
    await conn.execute(
        "UPDATE dispatch_teams SET last_lat = ?, last_lon = ?, last_seen_at = ?"
        " WHERE id = ? AND (last_seen_at IS NULL OR last_seen_at <= ?)",
        (lat, lon, seen, team_id, seen),
    )


async def set_push_token(
    conn: aiosqlite.Connection, team_id: int, token: str | None, at: datetime
) -> None:
    await conn.execute(
        "UPDATE dispatch_teams SET push_token = ?, updated_at = ? WHERE id = ?",
        (token, utc_text(at), team_id),
    )


async def set_token(conn: aiosqlite.Connection, team_id: int, token_id: int, at: datetime) -> None:
    await conn.execute(
        "UPDATE dispatch_teams SET token_id = ?, updated_at = ? WHERE id = ?",
        (token_id, utc_text(at), team_id),
    )
