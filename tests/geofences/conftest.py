"""Geofences test helpers: Huế's wards, a registered-device factory, waiting on background work."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from canhbao.config import Config
from geofences.areas import ImportOptions, prepare_import, read_document
from geofences.devices import DeviceRegistry
from geofences.keys import GEOFENCES
from tests.conftest import SHARED_DATA, AppClient, make_config

HUE_FILE = SHARED_DATA / "geo" / "hue_wards_2025.geojson"
VIETNAM_FILE = SHARED_DATA / "geo" / "vietnam_wards_2025.geojson"
WARD_OPTIONS = ImportOptions(
    name_property="Phường xã mới",
    parent_property="Tỉnh thành mới",
    population_property="Dân số (người)",
)
# Inside Phú Xuân ward (the citadel), and inside Thuận An on the coast.
PHU_XUAN = (107.5775, 16.4800)
THUAN_AN = (107.6400, 16.5400)

Client = TestClient[web.Request, web.Application]
_tokens = itertools.count(1)


def fcm_token() -> str:
    """A fresh, well-formed FCM registration token."""
    return f"fcm:{next(_tokens):08d}-" + "x" * 40


def registry(client: Client) -> DeviceRegistry:
    assert client.app is not None
    return client.app[GEOFENCES]


async def load_hue(client: Client) -> None:
    plan = prepare_import(read_document(HUE_FILE.read_bytes(), 10**8), WARD_OPTIONS)
    await registry(client).import_areas(plan, source=HUE_FILE.name, actor="test")


def manual_jobs(tmp_path: Path, raw: dict[str, Any] | None = None) -> Config:
    """A test config whose scheduled geofences jobs wait an hour: tests run them themselves,
    so a hand-over cannot empty the topic queue while a test looks at it."""
    raw = dict(raw or {})
    raw["geofences"] = {
        "topic_flush_interval_s": 3600.0,
        "maintenance_interval_s": 3600.0,
        "areas_refresh_interval_s": 3600.0,
        **raw.get("geofences", {}),
    }
    return make_config(tmp_path, raw)


@pytest.fixture
async def hue(app_client: AppClient, tmp_path: Path) -> Client:
    """The app with Huế's city and 40 wards imported."""
    client = await app_client(config=manual_jobs(tmp_path))
    await load_hue(client)
    return client


Register = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def register() -> Register:
    """POST /api/v1/devices; returns the JSON answer (device_id, secret, device)."""

    async def create(
        client: Client,
        *,
        at: tuple[float, float] | None = None,
        areas: list[str] | None = None,
        status: int = 201,
        **fields: Any,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"token": fcm_token(), "platform": "android", "language": "vi"}
        if at is not None:
            body["location"] = {"lon": at[0], "lat": at[1], "accuracy_m": 20}
        if areas is not None:
            body["area_codes"] = areas
        body.update(fields)
        response = await client.post("/api/v1/devices", json=body)
        assert response.status == status, await response.text()
        answer: dict[str, Any] = await response.json()
        answer["token"] = body["token"]
        return answer

    return create


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> None:
    """Wait for the outbox worker (a background task) to reach a state, failing at a deadline."""
    async with asyncio.timeout(seconds):
        # The state is written by a background task with no event to wait on.
        while not await check():  # noqa: ASYNC110  # see above
            await asyncio.sleep(0.005)
