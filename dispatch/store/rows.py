"""What every dispatch store module reads rows with: a reader (the database, or a connection
inside a transaction), its rows, stored times, and a child table's rows for many parents."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

import aiosqlite

from canhbao.clock import parse_utc
from canhbao.db import Database

Reader = aiosqlite.Connection | Database


async def fetch_all(reader: Reader, sql: str, params: Sequence[object]) -> list[sqlite3.Row]:
    if isinstance(reader, Database):
        return await reader.fetch_all(sql, params)
    async with reader.execute(sql, params) as cursor:
        return list(await cursor.fetchall())


def parse_time(text: str | None) -> datetime | None:
    """A stored UTC time, or None for a NULL column."""
    return None if text is None else parse_utc(text)


async def children(
    reader: Reader, sql: str, parent_ids: Sequence[int]
) -> dict[int, list[sqlite3.Row]]:
    """A child table's rows for many parents in one query, by parent id (the first column).
    `sql` is our own constant with `{marks}` where the parents' placeholders go."""
    found: dict[int, list[sqlite3.Row]] = {}
    if not parent_ids:
        return found
    marks = ", ".join("?" for _ in parent_ids)
    for row in await fetch_all(reader, sql.format(marks=marks), parent_ids):
        found.setdefault(row[0], []).append(row)
    return found
