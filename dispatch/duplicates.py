"""Finding duplicates: a new request is proposed as a duplicate of an open one from the same
phone within 6 hours, or of an open one within 100 metres within 2 hours. A dispatcher decides
(dispatch.merging); nothing is merged by itself."""

from __future__ import annotations

from datetime import datetime, timedelta

import aiosqlite

from dispatch.models import RescueRequest, box_around, distance_m
from dispatch.store import duplicates as store
from dispatch.store import requests as request_rows

SAME_PHONE_WINDOW = timedelta(hours=6)
NEARBY_WINDOW = timedelta(hours=2)
NEARBY_M = 100.0


async def propose_in(
    conn: aiosqlite.Connection, request: RescueRequest, now: datetime, actor: str
) -> list[int]:
    """Propose every candidate for `request` inside the caller's transaction; returns the
    candidates' ids (each proposal is noted on the new request's timeline)."""
    found: dict[int, tuple[str, float | None]] = {}
    for candidate in await store.same_phone_since(
        conn, request.id, request.phones, now - SAME_PHONE_WINDOW
    ):
        found[candidate] = ("same_phone", None)
    if request.lat is not None and request.lon is not None:
        box = box_around(request.lat, request.lon, NEARBY_M)
        for candidate, lat, lon in await store.placed_near_since(
            conn, request.id, box, now - NEARBY_WINDOW
        ):
            metres = distance_m(request.lat, request.lon, lat, lon)
            if metres <= NEARBY_M and candidate not in found:
                found[candidate] = ("nearby", metres)
    for candidate, (reason, apart) in sorted(found.items()):
        if await store.insert_proposal(conn, request.id, candidate, reason, apart, now):
            await request_rows.add_history(
                conn,
                request.id,
                now,
                actor,
                "duplicate",
                detail={"proposed": candidate, "reason": reason, "distance_m": apart},
            )
    return sorted(found)
