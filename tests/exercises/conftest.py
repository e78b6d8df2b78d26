"""Exercise runs for the tests: a short window of the shipped scenario, served by the real app
in exercise mode on a real port, with its own database beside the test's 'real' one."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from canhbao.adapters.exercise_mode import RUNNER, create_exercise_app, prepare_database
from canhbao.adapters.exercises import scenario_context
from canhbao.config import Config
from exercises.runner import ExerciseRunner
from exercises.scenario import load_scenario
from tests.conftest import make_config

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "scenarios" / "hue-2025-11.toml"
DATA = REPO / "scenarios" / "data" / "vn_vndms_kimlong_phuoc_2025-11_derived.csv"
STAMP = datetime(2026, 5, 1, 2, 3, 4, tzinfo=UTC)


def scenario_file(tmp_path: Path, *changes: tuple[str, str]) -> Path:
    """The shipped scenario with each (old, new) replaced once, its replay path absolute."""
    text = SHIPPED.read_text(encoding="utf-8").replace(
        'file = "data/vn_vndms_kimlong_phuoc_2025-11_derived.csv"', f'file = "{DATA}"'
    )
    for old, new in changes:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / "scenario.toml"
    path.write_text(text, encoding="utf-8")
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Run:
    app: web.Application
    config: Config
    real: Config
    server: TestServer

    @property
    def runner(self) -> ExerciseRunner:
        return self.app[RUNNER]

    @property
    def url(self) -> str:
        return self.config.server.public_base_url


RunFactory = Callable[..., Awaitable[Run]]


@pytest.fixture
async def exercise_run(tmp_path: Path) -> AsyncIterator[RunFactory]:
    servers: list[TestServer] = []

    async def start(
        *changes: tuple[str, str],
        speed: float = 3600.0,
        real: Config | None = None,
        stamp: datetime = STAMP,
    ) -> Run:
        real = real or make_config(tmp_path)
        context = scenario_context(real)
        scenario = load_scenario(scenario_file(tmp_path, *changes), context)
        port = free_port()
        app, config = create_exercise_app(
            real, scenario, context, speed=speed, stamp=stamp, port=port
        )
        await prepare_database(real, config)
        server = TestServer(app, host="127.0.0.1", port=port)
        await server.start_server()
        servers.append(server)
        return Run(app, config, real, server)

    yield start
    for server in servers:
        await server.close()
