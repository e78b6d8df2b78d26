"""Counters in geofences_state: areas' revision, the one devices were assigned by, hand-overs."""

from __future__ import annotations

import aiosqlite

from canhbao.db import Database


async def next_value(conn: aiosqlite.Connection, key: str) -> int:
    """Increment a counter of geofences_state and return its new value."""
    async with conn.execute(
        "UPDATE geofences_state SET value = value + 1 WHERE key = ? RETURNING value", (key,)
    ) as cursor:
        row = await cursor.fetchone()
    assert row is not None  # noqa: S101  # the migration inserts every counter
    return int(row[0])


async def read_value(db: Database, key: str) -> int:
    row = await db.fetch_one("SELECT value FROM geofences_state WHERE key = ?", (key,))
    return int(row[0]) if row else 0


async def set_value(conn: aiosqlite.Connection, key: str, value: int) -> None:
    await conn.execute("UPDATE geofences_state SET value = ? WHERE key = ?", (value, key))
