"""Areas in the registry: the catalog in memory, imports, and moving devices and contacts
into the areas they now fall in (after an import here or by another process)."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from typing import Any

import aiosqlite
import numpy as np

from canhbao.audit import record_audit
from canhbao.clock import Clock
from canhbao.db import Database
from geofences import store
from geofences.areas import ImportPlan
from geofences.errors import UnknownArea
from geofences.index import AreaCatalog
from geofences.state import RegistryState, row_location

log = logging.getLogger(__name__)

# Devices moved into their new areas per transaction after an import.
REASSIGN_CHUNK = 5_000


async def save_import(
    conn: aiosqlite.Connection,
    plan: ImportPlan,
    *,
    topic_prefix: str,
    source: str,
    actor: str,
    now: datetime,
) -> tuple[int, int]:
    """Store an import's areas and its audit record in the caller's transaction, for the API
    and the CLI alike; returns (added, updated). LookupError: a parent code no area has."""
    repairs: dict[str, list[str]] = {}
    for repair in plan.repairs:
        code = next(a.code for a in plan.areas if a.name == repair.name)
        repairs.setdefault(code, []).append(repair.describe())
    added, updated = await store.save_areas(
        conn, plan.areas, topic_prefix=topic_prefix, source=source, repairs=repairs, now=now
    )
    await record_audit(
        conn,
        at=now,
        actor=actor,
        action="areas.import",
        entity="areas",
        entity_id=source,
        before=None,
        after={
            "added": added,
            "updated": updated,
            "codes": [area.code for area in plan.areas],
            "repairs": [repair.describe() for repair in plan.repairs],
        },
    )
    return added, updated


class AreaSync:
    """Keeps the in-memory catalog equal to the stored areas, and devices in their areas."""

    def __init__(self, db: Database, clock: Clock, state: RegistryState) -> None:
        self._db = db
        self._clock = clock
        self._state = state

    async def load_catalog(self) -> None:
        revision = await store.read_value(self._db, "areas_revision")
        areas, geometries = await store.load_areas(self._db)
        self._state.set_catalog(AreaCatalog(areas, geometries), revision)

    async def refresh_areas(self) -> bool:
        """Reload the areas if another process (the CLI) imported some; True if it did."""
        if await store.read_value(self._db, "areas_revision") == self._state.areas_revision:
            return False
        await self.load_catalog()
        await self.reassign_areas()
        return True

    async def import_areas(self, plan: ImportPlan, source: str, actor: str) -> dict[str, Any]:
        """Store an import (all or nothing), then put devices and contacts in their new areas."""
        try:
            async with self._db.transaction() as conn:
                added, updated = await save_import(
                    conn,
                    plan,
                    topic_prefix=self._state.settings.topic_prefix,
                    source=source,
                    actor=actor,
                    now=self._clock.now(),
                )
        except LookupError as err:
            raise UnknownArea([str(err.args[0])]) from None
        await self.load_catalog()
        await self.reassign_areas()
        log.info("areas imported", extra={"source": source, "added": added, "updated": updated})
        return {"added": added, "updated": updated, **plan.report()}

    async def reassign_areas(self) -> int:
        """Recompute every located device's and contact's area; returns how many changed.

        Devices whose area changed get their topics re-derived and the changes queued. The work
        goes in transactions of REASSIGN_CHUNK devices, so registrations and updates are not
        held up for the whole of a country-wide re-import.
        """
        ids, x, y, _, old = self._state.devices.points()
        moved_ids = ids[self._state.catalog.locate_many(x, y) != old]
        now = self._clock.now()
        changed = 0
        for start in range(0, moved_ids.size, REASSIGN_CHUNK):
            chunk = moved_ids[start : start + REASSIGN_CHUNK].tolist()
            async with self._db.transaction() as conn:
                rows = [r for r in (await store.devices_by_ids(conn, chunk)) if r.lon is not None]
                # Read again inside the transaction: a device may have moved since the scan.
                areas = self._state.catalog.locate_many(
                    np.array([r.lon for r in rows], dtype=np.float64),
                    np.array([r.lat for r in rows], dtype=np.float64),
                )
                updates, queue = [], []
                for row, area in zip(rows, areas.tolist(), strict=True):
                    location = row_location(row)
                    fresh = self._state.fresh(location, now)
                    topics = (
                        self._state.topics(area, fresh, row.area_ids, row.language)
                        if row.token
                        else frozenset()
                    )
                    if row.token is not None:
                        queue += [(row.token, topic, True) for topic in topics - row.topics]
                        queue += [(row.token, topic, False) for topic in row.topics - topics]
                    updates.append(
                        replace(
                            row,
                            location_area_id=area if area >= 0 else None,
                            location_topics=fresh,
                            topics=topics,
                        )
                    )
                await store.update_devices(conn, updates, now)
                await store.queue_many_topic_changes(conn, queue, now)
                self._state.devices.set_areas(
                    np.array([r.id for r in rows], dtype=np.int64), areas.astype(np.int32)
                )
                changed += len(rows)
        async with self._db.transaction() as conn:
            cids, cx, cy, _, cold = self._state.contacts.points()
            cnew = self._state.catalog.locate_many(cx, cy)
            cmoved = np.flatnonzero(cnew != cold)
            await store.set_contact_areas(
                conn, [(int(cids[i]), int(cnew[i]) if cnew[i] >= 0 else None) for i in cmoved]
            )
            await store.set_value(conn, "assigned_revision", self._state.areas_revision)
            self._state.contacts.set_areas(cids[cmoved], cnew[cmoved])
            changed += int(cmoved.size)
        if changed:
            log.info("areas reassigned", extra={"changed": changed})
        return changed
