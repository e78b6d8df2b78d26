"""The feeds domain's AppKeys: the running domain (pipeline, pollers, metrics)."""

from __future__ import annotations

from aiohttp import web

from feeds.runtime import FeedsRuntime

FEEDS = web.AppKey("feeds", FeedsRuntime)
