"""Dispatch fixtures: the real app on a real SQLite file, and a way to read its rows."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from canhbao import keys

CALLER = "+84905123456"
# Phú Hội, Huế: inside Vietnam's bounding box.
HUE = {"lat": 16.4637, "lon": 107.5909}


async def rows(
    client: TestClient[web.Request, web.Application], sql: str, params: tuple[Any, ...] = ()
) -> list[dict[str, Any]]:
    app = client.server.app
    assert app is not None
    return [dict(r) for r in await app[keys.DB].fetch_all(sql, params)]


# The geofences fixtures: Huế's wards imported (`hue`) and a device registered (`register`).
from tests.geofences.conftest import PHU_XUAN, hue, register  # noqa: E402

__all__ = ["CALLER", "HUE", "PHU_XUAN", "hue", "register", "rows"]
