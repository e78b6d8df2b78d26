"""CAP messages read from upstream systems."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

import aiosqlite

from canhbao.clock import parse_utc, utc_text
from canhbao.db import Database

ImportState = Literal["active", "updated", "cancelled", "expired"]
IMPORT_STATES: tuple[ImportState, ...] = get_args(ImportState)


@dataclass(frozen=True)
class StoredImport:
    id: int
    sender: str
    identifier: str
    sent: datetime
    msg_type: str
    status: str
    source_url: str
    document: str  # the CAP XML as received (re-serialised as UTF-8 text)
    state: ImportState
    expires: datetime | None
    reissued_as: str | None
    imported_at: datetime


_IMPORT_COLUMNS = (
    "id, sender, identifier, sent, msg_type, status, source_url, document, state, expires,"
    " reissued_as, imported_at"
)


def _import_row(row: Any) -> StoredImport:
    return StoredImport(
        id=row[0],
        sender=row[1],
        identifier=row[2],
        sent=parse_utc(row[3]),
        msg_type=row[4],
        status=row[5],
        source_url=row[6],
        document=row[7],
        state=row[8],
        expires=parse_utc(row[9]) if row[9] else None,
        reissued_as=row[10],
        imported_at=parse_utc(row[11]),
    )


async def import_by_key(
    conn: aiosqlite.Connection, sender: str, identifier: str, sent: datetime
) -> StoredImport | None:
    """The import CAP names by sender,identifier,sent (sent compared as an instant)."""
    async with conn.execute(
        f"SELECT {_IMPORT_COLUMNS} FROM alerting_imports"  # noqa: S608  # fixed column list
        " WHERE sender = ? AND identifier = ? AND sent = ?",
        (sender, identifier, utc_text(sent)),
    ) as cursor:
        row = await cursor.fetchone()
    return _import_row(row) if row else None


async def insert_import(
    conn: aiosqlite.Connection,
    *,
    sender: str,
    identifier: str,
    sent: datetime,
    msg_type: str,
    status: str,
    source_url: str,
    document: str,
    state: ImportState,
    expires: datetime | None,
    now: datetime,
) -> int:
    async with conn.execute(
        "INSERT INTO alerting_imports (sender, identifier, sent, msg_type, status, source_url,"
        " document, state, expires, imported_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            sender,
            identifier,
            utc_text(sent),
            msg_type,
            status,
            source_url,
            document,
            state,
            utc_text(expires) if expires else None,
            utc_text(now),
        ),
    ) as cursor:
        return int(cursor.lastrowid or 0)


async def set_import_state(conn: aiosqlite.Connection, import_id: int, state: ImportState) -> None:
    await conn.execute("UPDATE alerting_imports SET state = ? WHERE id = ?", (state, import_id))


async def set_import_reissued(conn: aiosqlite.Connection, import_id: int, identifier: str) -> None:
    await conn.execute(
        "UPDATE alerting_imports SET reissued_as = ? WHERE id = ?", (identifier, import_id)
    )


async def later_mentions(
    conn: aiosqlite.Connection, identifier: str, sent: datetime
) -> list[StoredImport]:
    """Updates and Cancels sent after `sent` whose document mentions `identifier`: those that
    may reference a message that arrived after them (the caller checks their references)."""
    async with conn.execute(
        f"SELECT {_IMPORT_COLUMNS} FROM alerting_imports"  # noqa: S608  # fixed column list
        " WHERE msg_type IN ('Update', 'Cancel') AND sent > ? AND instr(document, ?) > 0"
        " ORDER BY sent",
        (utc_text(sent), identifier),
    ) as cursor:
        return [_import_row(row) for row in await cursor.fetchall()]


async def expire_imports(conn: aiosqlite.Connection, now: datetime) -> list[StoredImport]:
    """Mark active imports whose time is up as expired; returns them."""
    async with conn.execute(
        f"SELECT {_IMPORT_COLUMNS} FROM alerting_imports"  # noqa: S608  # fixed column list
        " WHERE state = 'active' AND expires <= ? ORDER BY expires",
        (utc_text(now),),
    ) as cursor:
        due = [_import_row(row) for row in await cursor.fetchall()]
    await conn.executemany(
        "UPDATE alerting_imports SET state = 'expired' WHERE id = ?", [(i.id,) for i in due]
    )
    return due


async def get_import(conn: aiosqlite.Connection, import_id: int) -> StoredImport | None:
    async with conn.execute(
        f"SELECT {_IMPORT_COLUMNS} FROM alerting_imports WHERE id = ?",  # noqa: S608  # fixed column list
        (import_id,),
    ) as cursor:
        row = await cursor.fetchone()
    return _import_row(row) if row else None


async def list_imports(
    db: Database, states: Sequence[str], limit: int, before_id: int | None = None
) -> list[StoredImport]:
    """Imports in these states, newest first; `before_id` pages on by id."""
    marks = ", ".join("?" for _ in states)
    params: list[Any] = list(states)
    where = f"state IN ({marks})"
    if before_id is not None:
        where += " AND id < ?"
        params.append(before_id)
    rows = await db.fetch_all(
        f"SELECT {_IMPORT_COLUMNS} FROM alerting_imports WHERE {where}"  # noqa: S608  # placeholders only
        " ORDER BY id DESC LIMIT ?",
        [*params, limit],
    )
    return [_import_row(row) for row in rows]
