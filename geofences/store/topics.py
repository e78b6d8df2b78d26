"""The FCM topic queue: changes waiting to be handed over for sending."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import aiosqlite

from canhbao.clock import utc_text
from canhbao.db import Database


async def queue_many_topic_changes(
    conn: aiosqlite.Connection, changes: Sequence[tuple[str, str, bool]], now: datetime
) -> None:
    """Queue (token, topic, subscribe) changes in one statement."""
    if not changes:
        return
    stamp = utc_text(now)
    await conn.executemany(
        "INSERT INTO geofences_topic_queue (token, topic, subscribe, queued_at)"
        " VALUES (?, ?, ?, ?) ON CONFLICT (token, topic) DO UPDATE SET"
        " subscribe = excluded.subscribe, queued_at = excluded.queued_at",
        [(token, topic, int(subscribe), stamp) for token, topic, subscribe in changes],
    )


async def queue_topic_changes(
    conn: aiosqlite.Connection,
    token: str,
    subscribe: Iterable[str],
    unsubscribe: Iterable[str],
    now: datetime,
) -> None:
    stamp = utc_text(now)
    rows = [(token, topic, 1, stamp) for topic in subscribe]
    rows += [(token, topic, 0, stamp) for topic in unsubscribe]
    if rows:
        await conn.executemany(
            "INSERT INTO geofences_topic_queue (token, topic, subscribe, queued_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (token, topic) DO UPDATE SET"
            " subscribe = excluded.subscribe, queued_at = excluded.queued_at",
            rows,
        )


async def forget_token(conn: aiosqlite.Connection, token: str) -> None:
    await conn.execute("DELETE FROM geofences_topic_queue WHERE token = ?", (token,))


async def take_topic_changes(conn: aiosqlite.Connection, limit: int) -> list[tuple[str, str, bool]]:
    """Remove and return up to `limit` queued changes as (topic, token, subscribe)."""
    async with conn.execute(
        "DELETE FROM geofences_topic_queue WHERE (token, topic) IN (SELECT token, topic FROM"
        " geofences_topic_queue ORDER BY queued_at LIMIT ?) RETURNING topic, token, subscribe",
        (limit,),
    ) as cursor:
        rows = await cursor.fetchall()
    return [(row[0], row[1], bool(row[2])) for row in rows]


async def queued_topic_changes(db: Database) -> int:
    row = await db.fetch_one("SELECT COUNT(*) FROM geofences_topic_queue")
    return int(row[0]) if row else 0


async def forget_tokens(conn: aiosqlite.Connection, tokens: Sequence[str]) -> None:
    """Drop the queued changes of tokens no device holds any more."""
    await conn.executemany(
        "DELETE FROM geofences_topic_queue WHERE token = ?", [(token,) for token in tokens]
    )
