"""Feeds fixtures: a fake upstream on loopback, configs that point sources at it."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from canhbao import keys
from canhbao.config import Config
from feeds.keys import FEEDS
from feeds.runtime import FeedsRuntime
from tests.conftest import REPO, SHARED_DATA, make_config
from tests.doubles.feeds import FeedUpstream

FEEDS_DATA = SHARED_DATA / "feeds"
FIXTURES = REPO / "tests" / "fixtures" / "feeds"
REPLAY_CSV = FEEDS_DATA / "vn_vndms_kimlong_phuoc_2025-11_derived.csv"


def recorded(name: str) -> bytes:
    """A payload from ../shared/data/feeds, byte for byte."""
    return (FEEDS_DATA / name).read_bytes()


def fixture(name: str) -> bytes:
    """A built or hand-written payload from tests/fixtures/feeds (see its README)."""
    return (FIXTURES / name).read_bytes()


def load(name: str) -> Any:
    path = FEEDS_DATA / name if (FEEDS_DATA / name).exists() else FIXTURES / name
    return json.loads(path.read_bytes())


@pytest.fixture
async def upstream(
    aiohttp_server: Callable[..., Awaitable[TestServer]],
) -> tuple[FeedUpstream, str]:
    """A fake upstream on 127.0.0.1; returns it and its base URL (no trailing slash)."""
    double = FeedUpstream()
    server = await aiohttp_server(double.app)
    return double, str(server.make_url("")).rstrip("/")


def feeds_config(tmp_path: Path, feeds: dict[str, Any]) -> Config:
    """The test config with a [feeds] table; pollers are run by hand (schedule = false)."""
    return make_config(tmp_path, {"feeds": {"schedule": False, **feeds}})


def station(
    station_id: str, kind: str, source: str, source_id: str = "", **extra: Any
) -> dict[str, Any]:
    return {
        "id": station_id,
        "name": extra.pop("name", station_id),
        "kind": kind,
        "lat": extra.pop("lat", 16.45),
        "lon": extra.pop("lon", 107.55),
        "source": source,
        "source_id": source_id,
        **extra,
    }


def runtime(client: TestClient[web.Request, web.Application]) -> FeedsRuntime:
    assert client.app is not None
    return client.app[FEEDS]


async def stored(
    client: TestClient[web.Request, web.Application], station_id: str | None = None
) -> list[dict[str, Any]]:
    """Every stored reading (of one station), oldest first, as plain dicts."""
    assert client.app is not None
    sql = "SELECT * FROM feeds_readings"
    params: tuple[str, ...] = ()
    if station_id is not None:
        sql += " WHERE station_id = ?"
        params = (station_id,)
    rows = await client.app[keys.DB].fetch_all(sql + " ORDER BY observed_at, station_id", params)
    return [dict(row) for row in rows]


def river_gauges() -> list[dict[str, Any]]:
    """Two pushed river gauges on the Hương (so each can corroborate the other's readings)."""
    return [
        station(
            "hue-a",
            "river_level",
            "ingest",
            river="Hương",
            bao_dong1=1.0,
            bao_dong2=2.0,
            bao_dong3=3.5,
            historic=5.81,
        ),
        station(
            "hue-b",
            "river_level",
            "ingest",
            river="Hương",
            bao_dong1=1.5,
            bao_dong2=3.0,
            bao_dong3=4.5,
        ),
    ]
