"""The cameras domain's own app state, as typed AppKeys."""

from __future__ import annotations

from aiohttp import web

from cameras.service import Cameras

CAMERAS = web.AppKey("cameras", Cameras)
