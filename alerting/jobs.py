"""Scheduled alerting work: expiring alerts whose time is up (due times live in the database)."""

from __future__ import annotations

from aiohttp import web

from alerting.keys import ALERTING


async def expire_alerts(app: web.Application) -> list[str]:
    """Expire every issued alert past its `expires`; run on a schedule and once at start."""
    return await app[ALERTING].expire_due()
