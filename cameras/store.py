"""The cameras domain's SQL, all of it: registry, images, stills, fetches, flags, windows."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiosqlite

from cameras.images import Analysed
from cameras.models import FLAGS, Camera, Fetch, Flag, FlagName, Kept, Still, build_camera
from canhbao.clock import parse_utc, utc_text
from canhbao.db import Database, Migration

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        domain="cameras",
        version=1,
        name="cameras_registry_stills_fetches",
        sql="""
        CREATE TABLE cameras_cameras (
            id TEXT PRIMARY KEY,
            definition TEXT NOT NULL,
            origin TEXT NOT NULL CHECK (origin IN ('config', 'api')),
            ward_code TEXT NOT NULL DEFAULT '',
            ward_name TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            retired_at TEXT
        );
        CREATE TABLE cameras_images (
            sha256 TEXT PRIMARY KEY,
            mime TEXT NOT NULL,
            width INTEGER NOT NULL,
            height INTEGER NOT NULL,
            bytes INTEGER NOT NULL,
            thumbnail_bytes INTEGER NOT NULL,
            phash TEXT NOT NULL,
            mean REAL NOT NULL,
            stddev REAL NOT NULL,
            sharpness REAL NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE TABLE cameras_stills (
            id INTEGER PRIMARY KEY,
            camera_id TEXT NOT NULL,
            fetched_at TEXT NOT NULL,
            last_seen_at TEXT NOT NULL,
            sha256 TEXT NOT NULL REFERENCES cameras_images (sha256)
        );
        CREATE INDEX cameras_stills_camera ON cameras_stills (camera_id, fetched_at, id);
        CREATE INDEX cameras_stills_sha256 ON cameras_stills (sha256);
        CREATE TABLE cameras_fetches (
            id INTEGER PRIMARY KEY,
            camera_id TEXT NOT NULL,
            at TEXT NOT NULL,
            status INTEGER,
            bytes INTEGER NOT NULL,
            duration_ms REAL NOT NULL,
            outcome TEXT NOT NULL
                CHECK (outcome IN ('stored', 'unchanged', 'not_modified', 'failed')),
            reason TEXT NOT NULL DEFAULT '',
            still_id INTEGER
        );
        CREATE INDEX cameras_fetches_camera ON cameras_fetches (camera_id, id);
        CREATE INDEX cameras_fetches_at ON cameras_fetches (at);
        CREATE TABLE cameras_flags (
            camera_id TEXT NOT NULL,
            flag TEXT NOT NULL,
            since TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (camera_id, flag)
        );
        CREATE TABLE cameras_warning_windows (
            id INTEGER PRIMARY KEY,
            camera_id TEXT NOT NULL,
            started_at TEXT NOT NULL,
            ended_at TEXT
        );
        CREATE INDEX cameras_warning_windows_camera ON cameras_warning_windows (camera_id);
        """,
    ),
    Migration(
        domain="cameras",
        version=2,
        name="cameras_evidence",
        sql="""
        CREATE TABLE cameras_evidence (
            still_id INTEGER PRIMARY KEY,
            pinned_at TEXT NOT NULL
        );
        """,
    ),
)

_STILL = (
    "s.id, s.camera_id, s.fetched_at, s.last_seen_at, s.sha256, i.mime, i.width, i.height,"
    " i.bytes, i.phash"
)


# -- registry -------------------------------------------------------------------------------


def _definition(camera: Camera) -> str:
    fields = camera.as_fields()
    for key in ("origin", "ward"):
        fields.pop(key)
    return json.dumps(fields, ensure_ascii=False, sort_keys=True)


def _camera(row: sqlite3.Row) -> Camera:
    fields = json.loads(row["definition"])
    camera = build_camera(fields, row["origin"])
    return Camera(
        **{**camera.__dict__, "ward_code": row["ward_code"], "ward_name": row["ward_name"]}
    )


async def load_cameras(db: Database) -> list[Camera]:
    """Every camera in the registry that is not retired."""
    rows = await db.fetch_all("SELECT * FROM cameras_cameras WHERE retired_at IS NULL ORDER BY id")
    return [_camera(row) for row in rows]


async def get_camera(conn: aiosqlite.Connection, camera_id: str) -> tuple[Camera, bool] | None:
    """A camera and whether it is retired."""
    async with conn.execute("SELECT * FROM cameras_cameras WHERE id = ?", (camera_id,)) as cur:
        row = await cur.fetchone()
    return None if row is None else (_camera(row), row["retired_at"] is not None)


async def save_camera(conn: aiosqlite.Connection, camera: Camera, now: datetime) -> None:
    """Insert or replace a camera's definition (reviving a retired one)."""
    await conn.execute(
        "INSERT INTO cameras_cameras (id, definition, origin, ward_code, ward_name, created_at,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
        " definition = excluded.definition, origin = excluded.origin,"
        " ward_code = excluded.ward_code, ward_name = excluded.ward_name,"
        " updated_at = excluded.updated_at, retired_at = NULL",
        (
            camera.id,
            _definition(camera),
            camera.origin,
            camera.ward_code,
            camera.ward_name,
            utc_text(now),
            utc_text(now),
        ),
    )


async def retire_camera(conn: aiosqlite.Connection, camera_id: str, now: datetime) -> None:
    await conn.execute(
        "UPDATE cameras_cameras SET retired_at = ?, updated_at = ? WHERE id = ?",
        (utc_text(now), utc_text(now), camera_id),
    )
    await conn.execute("DELETE FROM cameras_flags WHERE camera_id = ?", (camera_id,))


async def config_camera_ids(db: Database) -> set[str]:
    rows = await db.fetch_all(
        "SELECT id FROM cameras_cameras WHERE origin = 'config' AND retired_at IS NULL"
    )
    return {row["id"] for row in rows}


# -- stills ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    still: Still | None
    outcome: str


async def record_still(
    db: Database,
    camera_id: str,
    image: Analysed,
    fetch: Fetch,
    flags: dict[FlagName, Flag] | None,
) -> Still:
    """Store a fetched picture's metadata (its files are already written): a new still, or the
    camera's latest still seen again when the bytes are the same. The fetch is recorded, and
    the flags replaced when given, in the same transaction."""
    at = utc_text(fetch.at)
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT OR IGNORE INTO cameras_images (sha256, mime, width, height, bytes,"
            " thumbnail_bytes, phash, mean, stddev, sharpness, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                image.sha256,
                image.mime,
                image.width,
                image.height,
                len(image.body),
                len(image.thumbnail),
                image.phash,
                image.mean,
                image.stddev,
                image.sharpness,
                at,
            ),
        )
        latest = await _latest(conn, camera_id)
        if latest is not None and latest.sha256 == image.sha256:
            await conn.execute(
                "UPDATE cameras_stills SET last_seen_at = ? WHERE id = ?", (at, latest.id)
            )
            still = Still(**{**latest.__dict__, "last_seen_at": fetch.at})
            outcome = "unchanged"
        else:
            async with conn.execute(
                "INSERT INTO cameras_stills (camera_id, fetched_at, last_seen_at, sha256)"
                " VALUES (?, ?, ?, ?)",
                (camera_id, at, at, image.sha256),
            ) as cursor:
                still_id = cursor.lastrowid or 0
            still = Still(
                still_id,
                camera_id,
                fetch.at,
                fetch.at,
                image.sha256,
                image.mime,
                image.width,
                image.height,
                len(image.body),
                image.phash,
            )
            outcome = "stored"
        await _insert_fetch(conn, Fetch(**{**fetch.__dict__, "outcome": outcome}), still.id)
        if flags is not None:
            await _replace_flags(conn, camera_id, flags.values())
    return still


async def record_fetch(db: Database, fetch: Fetch, flags: dict[FlagName, Flag] | None) -> None:
    """A fetch that stored nothing (failed or 304), with the camera's flags when given."""
    async with db.transaction() as conn:
        await _insert_fetch(conn, fetch, fetch.still_id)
        if flags is not None:
            await _replace_flags(conn, fetch.camera_id, flags.values())


async def _insert_fetch(conn: aiosqlite.Connection, fetch: Fetch, still_id: int | None) -> None:
    await conn.execute(
        "INSERT INTO cameras_fetches (camera_id, at, status, bytes, duration_ms, outcome,"
        " reason, still_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            fetch.camera_id,
            utc_text(fetch.at),
            fetch.status,
            fetch.bytes,
            fetch.duration_ms,
            fetch.outcome,
            fetch.reason,
            still_id,
        ),
    )


async def _replace_flags(conn: aiosqlite.Connection, camera_id: str, flags: Iterable[Flag]) -> None:
    await conn.execute("DELETE FROM cameras_flags WHERE camera_id = ?", (camera_id,))
    await conn.executemany(
        "INSERT INTO cameras_flags (camera_id, flag, since, detail) VALUES (?, ?, ?, ?)",
        [(camera_id, flag.name, utc_text(flag.since), flag.detail) for flag in flags],
    )


async def _latest(conn: aiosqlite.Connection, camera_id: str) -> Still | None:
    async with conn.execute(
        f"SELECT {_STILL} FROM cameras_stills s JOIN cameras_images i USING (sha256)"  # noqa: S608  # a fixed column list
        " WHERE s.camera_id = ? ORDER BY s.fetched_at DESC, s.id DESC LIMIT 1",
        (camera_id,),
    ) as cursor:
        row = await cursor.fetchone()
    return None if row is None else _still(row)


async def latest_stills(db: Database) -> dict[str, Still]:
    """Each camera's newest still."""
    rows = await db.fetch_all(
        f"SELECT {_STILL} FROM cameras_stills s JOIN cameras_images i USING (sha256)"  # noqa: S608  # a fixed column list
        " WHERE s.id IN (SELECT (SELECT id FROM cameras_stills x WHERE x.camera_id = c.id"
        " ORDER BY x.fetched_at DESC, x.id DESC LIMIT 1) FROM cameras_cameras c)"
    )
    return {row["camera_id"]: _still(row) for row in rows}


async def stills_between(
    db: Database,
    camera_id: str,
    since: datetime | None,
    until: datetime | None,
    before_id: int | None,
    limit: int,
) -> list[Still]:
    """Newest first; page on with the last still's id as `before_id`."""
    clauses = ["s.camera_id = ?"]
    params: list[Any] = [camera_id]
    if since is not None:
        clauses.append("s.last_seen_at >= ?")
        params.append(utc_text(since))
    if until is not None:
        clauses.append("s.fetched_at < ?")
        params.append(utc_text(until))
    if before_id is not None:
        clauses.append("s.id < ?")
        params.append(before_id)
    rows = await db.fetch_all(
        f"SELECT {_STILL} FROM cameras_stills s JOIN cameras_images i USING (sha256)"  # noqa: S608  # fixed clauses; values are bound
        f" WHERE {' AND '.join(clauses)} ORDER BY s.id DESC LIMIT ?",
        [*params, limit],
    )
    return [_still(row) for row in rows]


async def get_still(db: Database, still_id: int) -> Still | None:
    row = await db.fetch_one(
        f"SELECT {_STILL} FROM cameras_stills s JOIN cameras_images i USING (sha256)"  # noqa: S608  # a fixed column list
        " WHERE s.id = ?",
        (still_id,),
    )
    return None if row is None else _still(row)


async def pin_evidence(db: Database, still_id: int, now: datetime) -> None:
    """Keep the still for good: a warning carries it as evidence (its uri must not die)."""
    await db.execute(
        "INSERT OR IGNORE INTO cameras_evidence (still_id, pinned_at) VALUES (?, ?)",
        (still_id, utc_text(now)),
    )


async def image_mime(db: Database, sha256: str) -> str | None:
    row = await db.fetch_one("SELECT mime FROM cameras_images WHERE sha256 = ?", (sha256,))
    return None if row is None else str(row["mime"])


def _still(row: sqlite3.Row) -> Still:
    return Still(
        id=row["id"],
        camera_id=row["camera_id"],
        fetched_at=parse_utc(row["fetched_at"]),
        last_seen_at=parse_utc(row["last_seen_at"]),
        sha256=row["sha256"],
        mime=row["mime"],
        width=row["width"],
        height=row["height"],
        bytes=row["bytes"],
        phash=row["phash"],
    )


# -- fetches and flags ----------------------------------------------------------------------


async def recent_fetches(db: Database, camera_id: str, limit: int) -> list[Fetch]:
    rows = await db.fetch_all(
        "SELECT * FROM cameras_fetches WHERE camera_id = ? ORDER BY id DESC LIMIT ?",
        (camera_id, limit),
    )
    return [
        Fetch(
            camera_id=row["camera_id"],
            at=parse_utc(row["at"]),
            status=row["status"],
            bytes=row["bytes"],
            duration_ms=row["duration_ms"],
            outcome=row["outcome"],
            reason=row["reason"],
            still_id=row["still_id"],
        )
        for row in rows
    ]


async def load_flags(db: Database) -> dict[str, dict[FlagName, Flag]]:
    found: dict[str, dict[FlagName, Flag]] = {}
    for row in await db.fetch_all("SELECT * FROM cameras_flags"):
        name = row["flag"]
        if name in FLAGS:
            found.setdefault(row["camera_id"], {})[name] = Flag(
                name, parse_utc(row["since"]), row["detail"]
            )
    return found


async def save_flags(db: Database, camera_id: str, flags: dict[FlagName, Flag]) -> None:
    async with db.transaction() as conn:
        await _replace_flags(conn, camera_id, flags.values())


# -- warning windows and retention ----------------------------------------------------------


async def open_windows(db: Database) -> dict[str, datetime]:
    rows = await db.fetch_all(
        "SELECT camera_id, started_at FROM cameras_warning_windows WHERE ended_at IS NULL"
    )
    return {row["camera_id"]: parse_utc(row["started_at"]) for row in rows}


async def change_windows(
    db: Database, opened: Sequence[str], closed: Sequence[str], now: datetime
) -> None:
    """Open a warning window for cameras a warning now covers, close those it left."""
    at = utc_text(now)
    async with db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO cameras_warning_windows (camera_id, started_at) VALUES (?, ?)",
            [(camera_id, at) for camera_id in opened],
        )
        await conn.executemany(
            "UPDATE cameras_warning_windows SET ended_at = ?"
            " WHERE camera_id = ? AND ended_at IS NULL",
            [(at, camera_id) for camera_id in closed],
        )


async def warning_windows(db: Database) -> dict[str, list[tuple[datetime, datetime | None]]]:
    found: dict[str, list[tuple[datetime, datetime | None]]] = {}
    for row in await db.fetch_all("SELECT * FROM cameras_warning_windows"):
        end = parse_utc(row["ended_at"]) if row["ended_at"] else None
        found.setdefault(row["camera_id"], []).append((parse_utc(row["started_at"]), end))
    return found


async def kept_stills(db: Database) -> list[Kept]:
    rows = await db.fetch_all(
        "SELECT s.id, s.camera_id, s.fetched_at, s.last_seen_at, s.sha256,"
        " i.bytes + i.thumbnail_bytes AS stored, e.still_id IS NOT NULL AS pinned"
        " FROM cameras_stills s JOIN cameras_images i USING (sha256)"
        " LEFT JOIN cameras_evidence e ON e.still_id = s.id"
    )
    return [
        Kept(
            row["id"],
            row["camera_id"],
            parse_utc(row["fetched_at"]),
            parse_utc(row["last_seen_at"]),
            row["sha256"],
            row["stored"],
            bool(row["pinned"]),
        )
        for row in rows
    ]


async def delete_stills(
    db: Database, still_ids: Iterable[int], fetches_before: datetime
) -> list[str]:
    """Delete stills, the images no still shows any more (returned: their files go next) and
    fetch records older than `fetches_before`."""
    ids = [(still_id,) for still_id in still_ids]
    async with db.transaction() as conn:
        await conn.executemany("DELETE FROM cameras_stills WHERE id = ?", ids)
        async with conn.execute(
            "DELETE FROM cameras_images WHERE sha256 NOT IN (SELECT sha256 FROM cameras_stills)"
            " RETURNING sha256"
        ) as cursor:
            freed = [row[0] for row in await cursor.fetchall()]
        await conn.execute("DELETE FROM cameras_fetches WHERE at < ?", (utc_text(fetches_before),))
    return freed


async def usage(db: Database) -> tuple[int, int]:
    """(files, bytes) of the stored images and thumbnails."""
    row = await db.fetch_one(
        "SELECT count(*) AS n, coalesce(sum(bytes + thumbnail_bytes), 0) AS b FROM cameras_images"
    )
    return (0, 0) if row is None else (int(row["n"]) * 2, int(row["b"]))
