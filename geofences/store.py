"""The geofences domain's SQL: areas, devices, subscriptions, the topic queue, contacts."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiosqlite
import numpy as np
import shapely

from canhbao.clock import parse_utc, utc_text
from canhbao.db import Database, Migration
from geofences.areas import AreaDraft
from geofences.models import Area, ContactDraft, PhoneLocation

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "geofences",
        1,
        "areas, devices, subscriptions, topic queue, contacts",
        """
        CREATE TABLE geofences_areas (
            id INTEGER PRIMARY KEY,
            code TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            parent_id INTEGER REFERENCES geofences_areas (id),
            population INTEGER,
            topic TEXT NOT NULL UNIQUE,
            -- WKB, WGS84 longitude/latitude: the geometry as imported (or as repaired).
            geometry BLOB NOT NULL,
            -- WKB: at most 250 points, covers geometry; what CAP messages carry.
            outline BLOB NOT NULL,
            vertices INTEGER NOT NULL,
            source TEXT NOT NULL,
            -- JSON list of what make_valid changed, when the operator asked for a repair.
            repairs TEXT NOT NULL DEFAULT '[]',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX geofences_areas_parent ON geofences_areas (parent_id);

        CREATE TABLE geofences_devices (
            id INTEGER PRIMARY KEY,
            public_id TEXT NOT NULL UNIQUE,
            -- SHA-256 of the device secret (256 random bits: a slow hash adds nothing).
            secret_hash TEXT NOT NULL,
            -- NULL once FCM has said the token is gone, until the app sends a new one.
            token TEXT UNIQUE,
            platform TEXT NOT NULL CHECK (platform IN ('android', 'ios', 'web')),
            language TEXT NOT NULL CHECK (language IN ('vi', 'en')),
            phone TEXT,
            lon REAL,
            lat REAL,
            accuracy_m REAL,
            located_at TEXT,
            location_area_id INTEGER REFERENCES geofences_areas (id),
            -- 1 while the location is fresh enough to count for topic subscriptions.
            location_topics INTEGER NOT NULL DEFAULT 0,
            -- Space-separated FCM topics the token is subscribed to (or queued to be).
            topics TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            CHECK ((lon IS NULL) = (lat IS NULL) AND (lon IS NULL) = (located_at IS NULL))
        );
        CREATE INDEX geofences_devices_expiring ON geofences_devices (located_at)
            WHERE location_topics = 1;

        CREATE TABLE geofences_subscriptions (
            device_id INTEGER NOT NULL REFERENCES geofences_devices (id) ON DELETE CASCADE,
            area_id INTEGER NOT NULL REFERENCES geofences_areas (id),
            PRIMARY KEY (device_id, area_id)
        ) WITHOUT ROWID;
        CREATE INDEX geofences_subscriptions_area ON geofences_subscriptions (area_id);

        -- Topic changes not yet handed to the outbox; the last change per (token, topic) wins.
        CREATE TABLE geofences_topic_queue (
            token TEXT NOT NULL,
            topic TEXT NOT NULL,
            subscribe INTEGER NOT NULL,
            queued_at TEXT NOT NULL,
            PRIMARY KEY (token, topic)
        ) WITHOUT ROWID;

        CREATE TABLE geofences_contacts (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            phone TEXT NOT NULL UNIQUE,
            address TEXT NOT NULL DEFAULT '',
            lon REAL,
            lat REAL,
            -- The ward: given by staff, or found from the location.
            area_id INTEGER REFERENCES geofences_areas (id),
            vulnerable INTEGER NOT NULL DEFAULT 0,
            language TEXT NOT NULL DEFAULT 'vi' CHECK (language IN ('vi', 'en')),
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            CHECK ((lon IS NULL) = (lat IS NULL)),
            CHECK (lon IS NOT NULL OR area_id IS NOT NULL)
        );
        CREATE INDEX geofences_contacts_area ON geofences_contacts (area_id);

        CREATE TABLE geofences_state (
            key TEXT PRIMARY KEY,
            value INTEGER NOT NULL
        );
        -- areas_revision counts area imports; assigned_revision is the one devices' and
        -- contacts' areas were last computed against.
        INSERT INTO geofences_state (key, value)
            VALUES ('areas_revision', 0), ('assigned_revision', 0), ('topic_batch', 0);
        """,
    ),
    Migration(
        "geofences",
        2,
        "look devices up by phone number (the hotline offers a caller their known location)",
        """
        CREATE INDEX geofences_devices_phone ON geofences_devices (phone)
            WHERE phone IS NOT NULL;
        """,
    ),
)


@dataclass(frozen=True)
class DeviceRow:
    """What a change to a device needs to know about it as stored."""

    id: int
    public_id: str
    secret_hash: str
    token: str | None
    platform: str
    language: str
    phone: str | None
    lon: float | None
    lat: float | None
    accuracy_m: float | None
    located_at: str | None
    location_area_id: int | None
    location_topics: bool
    topics: frozenset[str]
    area_ids: tuple[int, ...]


# A device with its subscriptions in one row, so reading it is one trip to SQLite's thread.
_DEVICE_COLUMNS = (
    "id, public_id, secret_hash, token, platform, language, phone, lon, lat, accuracy_m,"
    " located_at, location_area_id, location_topics, topics,"
    " (SELECT group_concat(area_id) FROM geofences_subscriptions AS s"
    " WHERE s.device_id = geofences_devices.id)"
)


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


# -- areas ----------------------------------------------------------------------------------------


async def load_areas(db: Database) -> tuple[list[Area], list[Any]]:
    rows = await db.fetch_all(
        "SELECT id, code, name, parent_id, population, topic, geometry FROM geofences_areas"
        " ORDER BY id"
    )
    areas = [
        Area(
            id=row["id"],
            code=row["code"],
            name=row["name"],
            parent_id=row["parent_id"],
            population=row["population"],
            topic=row["topic"],
        )
        for row in rows
    ]
    geometries = list(shapely.from_wkb([row["geometry"] for row in rows])) if rows else []
    return areas, geometries


async def area_outline(db: Database, code: str) -> tuple[Area, Any, Any, str] | None:
    """An area with its geometry, outline and the JSON list of repairs."""
    row = await db.fetch_one(
        "SELECT id, code, name, parent_id, population, topic, geometry, outline, repairs"
        " FROM geofences_areas WHERE code = ?",
        (code,),
    )
    if row is None:
        return None
    area = Area(
        id=row["id"],
        code=row["code"],
        name=row["name"],
        parent_id=row["parent_id"],
        population=row["population"],
        topic=row["topic"],
    )
    return area, shapely.from_wkb(row["geometry"]), shapely.from_wkb(row["outline"]), row["repairs"]


async def save_areas(
    conn: aiosqlite.Connection,
    drafts: Sequence[AreaDraft],
    *,
    topic_prefix: str,
    source: str,
    repairs: dict[str, list[str]],
    now: datetime,
) -> tuple[int, int]:
    """Insert or update areas by code, parents first; returns (added, updated)."""
    stamp = utc_text(now)
    added = updated = 0
    ids: dict[str, int] = {}
    for draft in drafts:
        parent_id = None
        if draft.parent_code is not None:
            parent_id = ids.get(draft.parent_code)
            if parent_id is None:
                async with conn.execute(
                    "SELECT id FROM geofences_areas WHERE code = ?", (draft.parent_code,)
                ) as cursor:
                    found = await cursor.fetchone()
                if found is None:
                    raise LookupError(draft.parent_code)
                parent_id = int(found[0])
        async with conn.execute(
            "SELECT id FROM geofences_areas WHERE code = ?", (draft.code,)
        ) as cursor:
            existing = await cursor.fetchone()
        values = (
            draft.name,
            parent_id,
            draft.population,
            shapely.to_wkb(draft.geometry),
            shapely.to_wkb(draft.outline),
            draft.vertices,
            source,
            json.dumps(repairs.get(draft.code, []), ensure_ascii=False),
            stamp,
        )
        if existing is None:
            async with conn.execute(
                "INSERT INTO geofences_areas (name, parent_id, population, geometry, outline,"
                " vertices, source, repairs, updated_at, code, topic, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (*values, draft.code, f"{topic_prefix}{draft.code}", stamp),
            ) as cursor:
                row = await cursor.fetchone()
            assert row is not None  # noqa: S101  # RETURNING of an INSERT always yields its row
            ids[draft.code] = int(row[0])
            added += 1
        else:
            await conn.execute(
                "UPDATE geofences_areas SET name = ?, parent_id = ?, population = ?,"
                " geometry = ?, outline = ?, vertices = ?, source = ?, repairs = ?,"
                " updated_at = ? WHERE id = ?",
                (*values, existing[0]),
            )
            ids[draft.code] = int(existing[0])
            updated += 1
    await next_value(conn, "areas_revision")
    return added, updated


# -- devices --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewDevice:
    """A device row to insert (the registry has chosen its id)."""

    id: int
    public_id: str
    secret_hash: str
    token: str
    platform: str
    language: str
    phone: str | None
    location: tuple[float, float, float | None, str] | None
    location_area_id: int | None
    location_topics: bool
    topics: frozenset[str]
    area_ids: tuple[int, ...]


async def next_device_id(conn: aiosqlite.Connection) -> int:
    """The id after the highest in use (inside the write transaction, so no one else takes it)."""
    rows = list(
        await conn.execute_fetchall("SELECT COALESCE(MAX(id), 0) + 1 FROM geofences_devices")
    )
    return int(rows[0][0])


async def insert_devices(
    conn: aiosqlite.Connection, devices: Sequence[NewDevice], now: datetime
) -> None:
    """Insert many devices and their subscriptions with two statements."""
    stamp = utc_text(now)
    rows = []
    for device in devices:
        lon, lat, accuracy, located_at = device.location or (None, None, None, None)
        rows.append(
            (
                device.id,
                device.public_id,
                device.secret_hash,
                device.token,
                device.platform,
                device.language,
                device.phone,
                lon,
                lat,
                accuracy,
                located_at,
                device.location_area_id,
                int(device.location_topics),
                " ".join(sorted(device.topics)),
                stamp,
                stamp,
            )
        )
    await conn.executemany(
        "INSERT INTO geofences_devices (id, public_id, secret_hash, token, platform, language,"
        " phone, lon, lat, accuracy_m, located_at, location_area_id, location_topics, topics,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    subscriptions = [(d.id, area_id) for d in devices for area_id in d.area_ids]
    if subscriptions:
        await conn.executemany(
            "INSERT INTO geofences_subscriptions (device_id, area_id) VALUES (?, ?)",
            subscriptions,
        )


async def devices_by_tokens(
    conn: aiosqlite.Connection, tokens: Sequence[str]
) -> dict[str, DeviceRow]:
    """The devices holding any of these tokens (usually none: a token is new)."""
    found: dict[str, DeviceRow] = {}
    for start in range(0, len(tokens), 500):
        chunk = tokens[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        rows = await conn.execute_fetchall(
            f"SELECT {_DEVICE_COLUMNS} FROM geofences_devices WHERE token IN ({marks})",  # noqa: S608  # placeholders only
            chunk,
        )
        for row in rows:
            device = _device(row)
            found[str(device.token)] = device
    return found


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


async def device_by_public_id(conn: aiosqlite.Connection, public_id: str) -> DeviceRow | None:
    rows = await conn.execute_fetchall(
        f"SELECT {_DEVICE_COLUMNS} FROM geofences_devices WHERE public_id = ?",  # noqa: S608  # constant column list
        (public_id,),
    )
    return next((_device(row) for row in rows), None)


async def device_by_token(conn: aiosqlite.Connection, token: str) -> DeviceRow | None:
    rows = await conn.execute_fetchall(
        f"SELECT {_DEVICE_COLUMNS} FROM geofences_devices WHERE token = ?",  # noqa: S608  # constant column list
        (token,),
    )
    return next((_device(row) for row in rows), None)


def _device(row: Any) -> DeviceRow:
    subscriptions = row[14]
    return DeviceRow(
        id=row[0],
        public_id=row[1],
        secret_hash=row[2],
        token=row[3],
        platform=row[4],
        language=row[5],
        phone=row[6],
        lon=row[7],
        lat=row[8],
        accuracy_m=row[9],
        located_at=row[10],
        location_area_id=row[11],
        location_topics=bool(row[12]),
        topics=frozenset(row[13].split()),
        area_ids=tuple(sorted(int(a) for a in subscriptions.split(","))) if subscriptions else (),
    )


async def push_targets(db: Database, device_ids: Sequence[int]) -> list[tuple[int, str, str]]:
    """(device id, FCM token, language) of the devices that still have a token."""
    # One query however many ids: json_each turns the list into rows SQLite can join on.
    rows = await db.fetch_all(
        "SELECT id, token, language FROM geofences_devices"
        " WHERE id IN (SELECT value FROM json_each(?)) AND token IS NOT NULL ORDER BY id",
        (json.dumps([int(d) for d in device_ids]),),
    )
    return [(row[0], row[1], row[2]) for row in rows]


async def contact_targets(
    db: Database, contact_ids: Sequence[int]
) -> list[tuple[int, str, str, bool]]:
    """(contact id, phone, language, vulnerable) of the given phone-only contacts."""
    rows = await db.fetch_all(
        "SELECT id, phone, language, vulnerable FROM geofences_contacts"
        " WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id",
        (json.dumps([int(c) for c in contact_ids]),),
    )
    return [(row[0], row[1], row[2], bool(row[3])) for row in rows]


async def devices_by_ids(conn: aiosqlite.Connection, device_ids: Sequence[int]) -> list[DeviceRow]:
    found: list[DeviceRow] = []
    for start in range(0, len(device_ids), 500):
        chunk = device_ids[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        rows = await conn.execute_fetchall(
            f"SELECT {_DEVICE_COLUMNS} FROM geofences_devices WHERE id IN ({marks})",  # noqa: S608  # placeholders only
            chunk,
        )
        found.extend(_device(row) for row in rows)
    return found


async def devices_by_public_ids(
    conn: aiosqlite.Connection, public_ids: Sequence[str]
) -> dict[str, DeviceRow]:
    found: dict[str, DeviceRow] = {}
    for start in range(0, len(public_ids), 500):
        chunk = public_ids[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        rows = await conn.execute_fetchall(
            f"SELECT {_DEVICE_COLUMNS} FROM geofences_devices WHERE public_id IN ({marks})",  # noqa: S608  # placeholders only
            chunk,
        )
        for row in rows:
            device = _device(row)
            found[device.public_id] = device
    return found


async def update_devices(
    conn: aiosqlite.Connection, devices: Sequence[DeviceRow], now: datetime
) -> None:
    """Write every changeable column of these devices with one statement."""
    if not devices:
        return
    stamp = utc_text(now)
    await conn.executemany(
        "UPDATE geofences_devices SET token = ?, language = ?, phone = ?, lon = ?, lat = ?,"
        " accuracy_m = ?, located_at = ?, location_area_id = ?, location_topics = ?,"
        " topics = ?, updated_at = ? WHERE id = ?",
        [
            (
                d.token,
                d.language,
                d.phone,
                d.lon,
                d.lat,
                d.accuracy_m,
                d.located_at,
                d.location_area_id,
                int(d.location_topics),
                " ".join(sorted(d.topics)),
                stamp,
                d.id,
            )
            for d in devices
        ],
    )


async def update_device(
    conn: aiosqlite.Connection, device_id: int, changes: dict[str, Any], now: datetime
) -> None:
    """Set the given columns (names come from our code, never from a request)."""
    columns = ", ".join(f"{name} = ?" for name in changes)
    await conn.execute(
        f"UPDATE geofences_devices SET {columns}, updated_at = ? WHERE id = ?",  # noqa: S608  # column names are ours
        (*changes.values(), utc_text(now), device_id),
    )


async def delete_device(conn: aiosqlite.Connection, device_id: int) -> None:
    await conn.execute("DELETE FROM geofences_devices WHERE id = ?", (device_id,))


async def expiring_locations(
    conn: aiosqlite.Connection, cutoff: datetime, limit: int
) -> list[DeviceRow]:
    rows = await conn.execute_fetchall(
        f"SELECT {_DEVICE_COLUMNS} FROM geofences_devices"  # noqa: S608  # constant column list
        " WHERE location_topics = 1 AND located_at < ? ORDER BY located_at LIMIT ?",
        (utc_text(cutoff), limit),
    )
    return [_device(row) for row in rows]


# -- the topic queue ------------------------------------------------------------------------------


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


# -- contacts -------------------------------------------------------------------------------------


async def upsert_contacts(
    conn: aiosqlite.Connection,
    contacts: Sequence[tuple[ContactDraft, int | None]],
    actor: str,
    now: datetime,
) -> list[tuple[int, int]]:
    """Insert or update contacts by phone; returns (contact id, 1 if new else 0) per row."""
    stamp = utc_text(now)
    result: list[tuple[int, int]] = []
    for contact, area_id in contacts:
        async with conn.execute(
            "SELECT 1 FROM geofences_contacts WHERE phone = ?", (contact.phone,)
        ) as cursor:
            existed = await cursor.fetchone() is not None
        async with conn.execute(
            "INSERT INTO geofences_contacts (name, phone, address, lon, lat, area_id,"
            " vulnerable, language, created_by, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (phone) DO UPDATE SET name = excluded.name,"
            " address = excluded.address, lon = excluded.lon, lat = excluded.lat,"
            " area_id = excluded.area_id, vulnerable = excluded.vulnerable,"
            " language = excluded.language, updated_at = excluded.updated_at"
            " RETURNING id",
            (
                contact.name,
                contact.phone,
                contact.address,
                contact.lon,
                contact.lat,
                area_id,
                int(contact.vulnerable),
                contact.language,
                actor,
                stamp,
                stamp,
            ),
        ) as cursor:
            row = await cursor.fetchone()
        assert row is not None  # noqa: S101  # RETURNING of an upsert always yields its row
        result.append((int(row[0]), 0 if existed else 1))
    return result


async def delete_contact(conn: aiosqlite.Connection, contact_id: int) -> bool:
    async with conn.execute("DELETE FROM geofences_contacts WHERE id = ?", (contact_id,)) as cursor:
        return cursor.rowcount > 0


async def list_contacts(db: Database, area_id: int | None, limit: int, after: int) -> list[Any]:
    if area_id is None:
        return await db.fetch_all(
            "SELECT * FROM geofences_contacts WHERE id > ? ORDER BY id LIMIT ?", (after, limit)
        )
    return await db.fetch_all(
        "SELECT * FROM geofences_contacts WHERE area_id = ? AND id > ? ORDER BY id LIMIT ?",
        (area_id, after, limit),
    )


# -- bulk loading at start ------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Snapshot:
    """Everything the in-memory indexes hold, read in one go at start."""

    device_ids: Any
    lon: Any
    lat: Any
    located: Any
    device_areas: Any
    subscriptions: Any  # (n, 2) int64: device id, area id
    contact_ids: Any
    contact_lon: Any
    contact_lat: Any
    contact_areas: Any
    area_only_contacts: Any  # (n, 2) int64: contact id, area id


async def read_snapshot(path: Path) -> Snapshot:
    """Read the indexes' data on a private read-only connection, in a worker thread.

    1 M rows through aiosqlite's Row objects would cost seconds; tuples fed straight into
    structured numpy arrays keep both the time and the peak memory down.
    """
    return await asyncio.to_thread(_read_snapshot, path)


def _read_snapshot(path: Path) -> Snapshot:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        devices = _rows(
            conn,
            # julianday → seconds since 1970: a double computed by SQLite, where parsing 1 M
            # ISO strings in Python would take seconds.
            "SELECT id, lon, lat, (julianday(located_at) - 2440587.5) * 86400.0,"
            " COALESCE(location_area_id, -1) FROM geofences_devices"
            " WHERE token IS NOT NULL AND lon IS NOT NULL",
            [("id", "i8"), ("x", "f8"), ("y", "f8"), ("t", "f8"), ("area", "i4")],
        )
        subscriptions = _rows(
            conn,
            "SELECT s.device_id, s.area_id FROM geofences_subscriptions AS s"
            " JOIN geofences_devices AS d ON d.id = s.device_id WHERE d.token IS NOT NULL",
            [("member", "i8"), ("area", "i8")],
        )
        contacts = _rows(
            conn,
            "SELECT id, lon, lat, COALESCE(area_id, -1) FROM geofences_contacts"
            " WHERE lon IS NOT NULL",
            [("id", "i8"), ("x", "f8"), ("y", "f8"), ("area", "i4")],
        )
        area_only = _rows(
            conn,
            "SELECT id, area_id FROM geofences_contacts WHERE lon IS NULL",
            [("member", "i8"), ("area", "i8")],
        )
    finally:
        conn.close()
    return Snapshot(
        device_ids=devices["id"].copy(),
        lon=devices["x"].copy(),
        lat=devices["y"].copy(),
        located=devices["t"].copy(),
        device_areas=devices["area"].copy(),
        subscriptions=np.column_stack((subscriptions["member"], subscriptions["area"])),
        contact_ids=contacts["id"].copy(),
        contact_lon=contacts["x"].copy(),
        contact_lat=contacts["y"].copy(),
        contact_areas=contacts["area"].copy(),
        area_only_contacts=np.column_stack((area_only["member"], area_only["area"])),
    )


def _rows(conn: sqlite3.Connection, sql: str, dtype: list[tuple[str, str]]) -> Any:
    """A query's rows straight into a structured numpy array (no Python row lists)."""
    return np.fromiter(conn.execute(sql), dtype=np.dtype(dtype))


async def location_for_phone(db: Database, phone: str) -> PhoneLocation | None:
    """The newest located device with this phone number, else the phone-only contact."""
    row = await db.fetch_one(
        "SELECT d.lat, d.lon, d.accuracy_m, d.located_at, a.name AS ward"
        " FROM geofences_devices d LEFT JOIN geofences_areas a ON a.id = d.location_area_id"
        " WHERE d.phone = ? AND d.located_at IS NOT NULL ORDER BY d.located_at DESC LIMIT 1",
        (phone,),
    )
    if row is not None:
        return PhoneLocation(
            lat=row["lat"],
            lon=row["lon"],
            accuracy_m=row["accuracy_m"],
            located_at=parse_utc(row["located_at"]),
            address="",
            ward=row["ward"] or "",
            source="device",
        )
    row = await db.fetch_one(
        "SELECT c.lat, c.lon, c.address, c.updated_at, a.name AS ward"
        " FROM geofences_contacts c LEFT JOIN geofences_areas a ON a.id = c.area_id"
        " WHERE c.phone = ? AND c.lat IS NOT NULL",
        (phone,),
    )
    if row is None:
        return None
    return PhoneLocation(
        lat=row["lat"],
        lon=row["lon"],
        accuracy_m=None,
        located_at=parse_utc(row["updated_at"]),
        address=row["address"],
        ward=row["ward"] or "",
        source="contact",
    )
