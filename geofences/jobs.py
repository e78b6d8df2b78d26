"""Scheduled geofences work; tests call these directly instead of waiting for the scheduler.

They hand topic changes to the outbox, pick up areas another process (the CLI) imported, and
expire stale locations from topics.
"""

from __future__ import annotations

import logging

from aiohttp import web

from geofences.keys import GEOFENCES

log = logging.getLogger(__name__)


async def flush_topics(app: web.Application) -> int:
    """One hand-over of queued topic changes to the outbox; returns outbox messages made."""
    return await app[GEOFENCES].flush_topics()


async def refresh_areas(app: web.Application) -> bool:
    """Serve areas another process (`canhbao areas import`) stored; True if there were any.

    One small read when nothing changed, so it runs every few seconds
    (`geofences.areas_refresh_interval_s`): an import is served seconds after it is stored.
    """
    return await app[GEOFENCES].refresh_areas()


async def maintain(app: web.Application) -> int:
    """Expire every stale location from topics; returns devices changed."""
    registry = app[GEOFENCES]
    changed = 0
    while True:
        expired = await registry.expire_locations()
        changed += expired
        if expired == 0:
            return changed
