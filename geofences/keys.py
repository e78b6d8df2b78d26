"""The geofences domain's app state, as typed AppKeys (set by geofences.setup's context)."""

from __future__ import annotations

from aiohttp import web

from geofences.devices import DeviceRegistry
from geofences.ratelimit import RateLimiter

# The device registry with its in-memory indexes: what targeting and the routes read.
GEOFENCES = web.AppKey("geofences", DeviceRegistry)
# The per-address rate limiter of the public device API.
DEVICE_RATE_LIMITER = web.AppKey("device_rate_limiter", RateLimiter)
