"""The live stream's SQL: its append-only table, the cursors of the tables it follows, pruning."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiosqlite

from canhbao.clock import utc_text
from canhbao.db import Database, Migration, Reads

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "stream",
        1,
        "the staff live stream's events and the positions of the tables it follows",
        """
        -- AUTOINCREMENT: an id is never used twice, even once pruning has emptied the table,
        -- so a console's Last-Event-ID can never name a newer event than the one it saw.
        CREATE TABLE stream_events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            type TEXT NOT NULL,
            audience TEXT NOT NULL,
            payload TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX stream_events_created ON stream_events (created_at);
        -- Where the stream stands in each table it follows (audit_log, event_log): the last id
        -- it turned into stream events, moved in the transaction that stores them.
        CREATE TABLE stream_sources (
            source TEXT PRIMARY KEY,
            position INTEGER NOT NULL
        ) WITHOUT ROWID;
        """,
    ),
)

_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


@dataclass(frozen=True)
class StoredEvent:
    """One row of the stream: its id is the SSE id; `data` the one-line JSON sent."""

    id: int
    type: str
    audience: frozenset[str]
    data: str


@dataclass(frozen=True)
class SourceRow:
    """A row of a followed table (audit_log or event_log), as the stream's sources read it."""

    id: int
    kind: str  # the audit action or the event type
    entity_id: str
    actor: str
    at: str
    payload: Mapping[str, Any]
    before: Mapping[str, Any] | None = None


async def insert_events(
    conn: aiosqlite.Connection,
    rows: Sequence[tuple[str, str, Mapping[str, Any]]],
    at: datetime,
) -> None:
    """Append (type, audience, data) rows inside the caller's transaction."""
    created_at = utc_text(at)
    await conn.executemany(
        "INSERT INTO stream_events (type, audience, payload, created_at) VALUES (?, ?, ?, ?)",
        [(kind, audience, _ENCODE(data), created_at) for kind, audience, data in rows],
    )


async def set_position(conn: aiosqlite.Connection, source: str, position: int) -> None:
    await conn.execute(
        "INSERT INTO stream_sources (source, position) VALUES (?, ?)"
        " ON CONFLICT (source) DO UPDATE SET position = excluded.position",
        (source, position),
    )


async def positions(db: Reads) -> dict[str, int]:
    rows = await db.fetch_all("SELECT source, position FROM stream_sources")
    return {str(row["source"]): int(row["position"]) for row in rows}


async def read_after(db: Reads, after: int, *, upto: int | None, limit: int) -> list[StoredEvent]:
    """Stream rows with after < id (≤ upto), oldest first."""
    if upto is None:
        rows = await db.fetch_all(
            "SELECT id, type, audience, payload FROM stream_events WHERE id > ?"
            " ORDER BY id LIMIT ?",
            (after, limit),
        )
    else:
        rows = await db.fetch_all(
            "SELECT id, type, audience, payload FROM stream_events WHERE id > ? AND id <= ?"
            " ORDER BY id LIMIT ?",
            (after, upto, limit),
        )
    return [
        StoredEvent(
            int(row["id"]),
            str(row["type"]),
            frozenset(str(row["audience"]).split()),
            row["payload"],
        )
        for row in rows
    ]


async def bounds(db: Reads) -> tuple[int, int]:
    """(oldest id kept - 1, newest id ever given): 0s on a new table. The newest comes from
    sqlite_sequence, so it survives pruning every row."""
    row = await db.fetch_one("SELECT min(id), max(id) FROM stream_events")
    sequence = await db.fetch_one("SELECT seq FROM sqlite_sequence WHERE name = 'stream_events'")
    newest = int(sequence[0]) if sequence is not None else 0
    oldest = int(row[0]) - 1 if row is not None and row[0] is not None else newest
    return oldest, newest


async def prune(db: Database, *, keep: int, before: datetime) -> int:
    """Drop rows older than `before`, and all but the newest `keep`; returns how many."""
    return await db.write(
        "DELETE FROM stream_events WHERE created_at < ?"
        " OR id <= (SELECT coalesce(max(id), 0) FROM stream_events) - ?",
        (utc_text(before), keep),
    )


# -- the tables the stream follows (the shell's own: the audit log and the event log) -----------


async def newest_audit(db: Reads) -> int:
    row = await db.fetch_one("SELECT coalesce(max(id), 0) FROM audit_log")
    return int(row[0]) if row else 0


async def newest_event(db: Reads) -> int:
    row = await db.fetch_one("SELECT coalesce(max(id), 0) FROM event_log")
    return int(row[0]) if row else 0


async def read_audit(
    db: Reads, after: int, actions: Sequence[str], limit: int
) -> tuple[int, list[SourceRow]]:
    """Audit rows after `after` whose action the stream translates; and the last id read (the
    cursor moves past rows it does not translate too)."""
    rows = await db.fetch_all(
        'SELECT id, action, entity_id, actor, at, "before", "after" FROM audit_log WHERE id > ?'
        " ORDER BY id LIMIT ?",
        (after, limit),
    )
    wanted = set(actions)
    found = [
        SourceRow(
            int(row["id"]),
            str(row["action"]),
            str(row["entity_id"]),
            str(row["actor"]),
            str(row["at"]),
            json.loads(row["after"]) if row["after"] else {},
            json.loads(row["before"]) if row["before"] else None,
        )
        for row in rows
        if _wanted(str(row["action"]), wanted)
    ]
    return (int(rows[-1]["id"]) if rows else after), found


async def read_events(
    db: Reads, after: int, types: Sequence[str], limit: int
) -> tuple[int, list[SourceRow]]:
    """Event-log rows after `after` of `types`; and the last id read."""
    rows = await db.fetch_all(
        "SELECT id, type, payload, created_at FROM event_log WHERE id > ? ORDER BY id LIMIT ?",
        (after, limit),
    )
    wanted = set(types)
    found = [
        SourceRow(
            int(row["id"]),
            str(row["type"]),
            "",
            "",
            str(row["created_at"]),
            json.loads(row["payload"]),
        )
        for row in rows
        if str(row["type"]) in wanted
    ]
    return (int(rows[-1]["id"]) if rows else after), found


def _wanted(action: str, wanted: set[str]) -> bool:
    """An action named exactly, or by its prefix ("dispatch_offer.*")."""
    return action in wanted or f"{action.partition('.')[0]}.*" in wanted
