"""Areas: their rows and geometries (WKB)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import aiosqlite
import shapely

from canhbao.clock import utc_text
from canhbao.db import Database
from geofences.areas import AreaDraft
from geofences.models import Area
from geofences.store.state import next_value


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
