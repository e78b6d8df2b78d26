"""Scheduled geofences work; tests call these directly instead of waiting for the scheduler.

They hand topic changes to the outbox, expire stale locations from topics, and pick up areas
another process (the CLI) imported.
"""

from __future__ import annotations

import logging

from aiohttp import web

from canhbao import keys

log = logging.getLogger(__name__)


async def flush_topics(app: web.Application) -> int:
    """One hand-over of queued topic changes to the outbox; returns outbox messages made."""
    return await app[keys.GEOFENCES].flush_topics()


async def maintain(app: web.Application) -> int:
    """Reload re-imported areas, then expire every stale location; returns devices changed."""
    registry = app[keys.GEOFENCES]
    await registry.refresh_areas()
    changed = 0
    while True:
        expired = await registry.expire_locations()
        changed += expired
        if expired == 0:
            return changed
