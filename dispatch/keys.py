"""The dispatch domain's AppKeys."""

from __future__ import annotations

from aiohttp import web

from dispatch.app_intake import AppIntake
from dispatch.merging import Merger
from dispatch.requests import Requests

DISPATCH_REQUESTS = web.AppKey("dispatch_requests", Requests)
DISPATCH_APP = web.AppKey("dispatch_app", AppIntake)
DISPATCH_MERGER = web.AppKey("dispatch_merger", Merger)
