"""Citizen devices and their subscriptions."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiosqlite

from canhbao.clock import utc_text
from canhbao.db import Database


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


async def device_by_public_id(conn: aiosqlite.Connection, public_id: str) -> DeviceRow | None:
    rows = await conn.execute_fetchall(
        f"SELECT {_DEVICE_COLUMNS} FROM geofences_devices WHERE public_id = ?",  # noqa: S608  # constant column list
        (public_id,),
    )
    return next((_device(row) for row in rows), None)


async def push_token_of(conn: aiosqlite.Connection, public_id: str) -> str | None:
    """The device's FCM token now (read in the caller's transaction): None for a device unknown,
    unregistered, or whose token FCM refused (until the app sends a new one)."""
    rows = await conn.execute_fetchall(
        "SELECT token FROM geofences_devices WHERE public_id = ?", (public_id,)
    )
    return next((str(row[0]) for row in rows if row[0] is not None), None)


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


async def delete_devices(conn: aiosqlite.Connection, device_ids: Sequence[int]) -> None:
    """Delete devices (their subscriptions go with them: ON DELETE CASCADE)."""
    await conn.executemany(
        "DELETE FROM geofences_devices WHERE id = ?", [(device_id,) for device_id in device_ids]
    )


async def replace_subscriptions(
    conn: aiosqlite.Connection, subscriptions: Mapping[int, Sequence[int]]
) -> None:
    """Each device's subscribed areas become exactly these (device id → area ids)."""
    if not subscriptions:
        return
    await conn.executemany(
        "DELETE FROM geofences_subscriptions WHERE device_id = ?",
        [(device_id,) for device_id in subscriptions],
    )
    await conn.executemany(
        "INSERT INTO geofences_subscriptions (device_id, area_id) VALUES (?, ?)",
        [(device, area) for device, areas in subscriptions.items() for area in areas],
    )
