"""Phone-only contacts, and the last known place of a phone number."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import aiosqlite

from canhbao.clock import parse_utc, utc_text
from canhbao.db import Database
from geofences.models import ContactDraft, PhoneLocation


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


async def set_contact_areas(
    conn: aiosqlite.Connection, areas: Sequence[tuple[int, int | None]]
) -> None:
    """(contact id, area id or None) pairs: the ward each contact's location now falls in."""
    await conn.executemany(
        "UPDATE geofences_contacts SET area_id = ? WHERE id = ?",
        [(area_id, contact_id) for contact_id, area_id in areas],
    )
