"""Shared fixtures: a test config on a real SQLite file, the real app behind a test client."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from canhbao.app import create_app
from canhbao.clock import ManualClock
from canhbao.config import Config, DatabaseConfig, parse_config

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"

# argon2id at its cheapest: tests hash many passwords on two shared CPU cores.
CHEAP_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_kib": 8, "argon2_parallelism": 1}

AppClient = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]


def make_config(tmp_path: Path, raw: dict[str, Any] | None = None) -> Config:
    """A Config as the shipped defaults, with the database in tmp_path and `raw` overrides."""
    raw = dict(raw or {})
    raw["auth"] = {**CHEAP_ARGON2, **raw.get("auth", {})}
    config = parse_config(raw)
    database = dataclasses.replace(config.database, path=str(tmp_path / "canhbao.sqlite3"))
    assert isinstance(database, DatabaseConfig)
    return dataclasses.replace(config, database=database, base_dir=tmp_path)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2025, 11, 16, 3, 0, tzinfo=UTC))


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path)


@pytest.fixture
def app_client(
    aiohttp_client: Callable[..., Awaitable[TestClient[web.Request, web.Application]]],
    config: Config,
    clock: ManualClock,
) -> AppClient:
    """Start the real app (create_app) on a real SQLite file; `app_client(config=...)` overrides."""

    async def start(
        config: Config = config, clock: ManualClock = clock
    ) -> TestClient[web.Request, web.Application]:
        return await aiohttp_client(create_app(config, clock=clock))

    return start
