"""Hotline fixtures: the real app on Twilio (the double, through the real twilio library) and the
call simulator in Twilio's place, plus fakes of the hotline's own source protocols."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from canhbao import keys
from canhbao.clock import ManualClock, utc_text
from canhbao.config import Config
from hotline.keys import HOTLINE
from hotline.models import KnownLocation
from hotline.ports import HotlinePorts, StationLevel, WarningInForce
from hotline.service import Hotline
from tests.conftest import AppClient, make_config
from tests.doubles.twilio import ACCOUNT_SID, AUTH_TOKEN, TwilioDouble
from tests.hotline.simulator import TwilioSimulator

PUBLIC_URL = "https://hotline.example.vn"
HOTLINE_NUMBER = "+8419001075"
CALLER = "+84905123456"
OPERATOR_PHONE = "+84914000001"


@dataclass
class FakeFlood:
    levels_by_id: dict[str, StationLevel] = field(default_factory=dict)

    async def levels(self, station_ids: Sequence[str]) -> list[StationLevel]:
        return [self.levels_by_id[i] for i in station_ids if i in self.levels_by_id]


@dataclass
class FakeWarnings:
    warnings: list[WarningInForce] | None = None

    async def in_force(self, location: KnownLocation | None) -> list[WarningInForce] | None:
        return self.warnings


@dataclass
class FakeLocations:
    known: dict[str, KnownLocation] = field(default_factory=dict)

    async def locate(self, phone: str) -> KnownLocation | None:
        return self.known.get(phone)


class RealClock(ManualClock):
    """The system clock, for the simulator's type: time runs on its own and cannot be moved."""

    def __init__(self) -> None:
        super().__init__(datetime.now(UTC))

    def now(self) -> datetime:
        return datetime.now(UTC)

    def advance(self, delta: timedelta) -> datetime:
        raise AssertionError("a test on the real clock cannot move time")


@dataclass
class Line:
    """Everything a hotline test needs, started."""

    client: TestClient[web.Request, web.Application]
    sim: TwilioSimulator
    double: TwilioDouble
    clock: ManualClock
    config: Config
    flood: FakeFlood
    warnings: FakeWarnings
    locations: FakeLocations
    # The adapters create_app built over feeds, alerting and geofences (the fakes stand in).
    real_ports: HotlinePorts

    @property
    def app(self) -> web.Application:
        assert self.client.app is not None
        return self.client.app

    @property
    def hotline(self) -> Hotline:
        return self.app[HOTLINE]

    async def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return [dict(row) for row in await self.app[keys.DB].fetch_all(sql, params)]

    async def call_row(self, sid: str) -> dict[str, Any]:
        rows = await self.rows("SELECT * FROM hotline_calls WHERE sid = ?", (sid,))
        assert rows, f"no call {sid} in the log"
        return rows[0]

    async def add_operator(
        self,
        name: str = "Lan",
        phone: str = OPERATOR_PHONE,
        start: str = "00:00",
        end: str = "00:00",
    ) -> int:
        now = utc_text(self.clock.now())
        return await self.app[keys.DB].execute(
            "INSERT INTO hotline_operators (name, phone, shift_start, shift_end, active,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, 1, ?, ?)",
            (name, phone, start, end, now, now),
        )


StartLine = Callable[..., Awaitable[Line]]


def hotline_config(tmp_path: Path, double_url: str, **hotline: Any) -> Config:
    return make_config(
        tmp_path,
        {
            "server": {"public_base_url": PUBLIC_URL},
            "telephony": {
                "provider": "twilio",
                "hotline_number": HOTLINE_NUMBER,
                "twilio": {"api_base_url": double_url},
            },
            "hotline": hotline,
        },
    )


@pytest.fixture
def twilio_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)


@pytest.fixture
async def double_server(
    aiohttp_server: Callable[..., Awaitable[TestServer]], clock: ManualClock
) -> tuple[TwilioDouble, str]:
    double = TwilioDouble(clock=clock.now)
    server = await aiohttp_server(double.app)
    return double, str(server.make_url("")).rstrip("/")


@pytest.fixture
def start_line(
    app_client: AppClient,
    tmp_path: Path,
    clock: ManualClock,
    twilio_env: None,
    double_server: tuple[TwilioDouble, str],
) -> StartLine:
    """Start the app on the Twilio double with the simulator; `start_line(**hotline_keys)`,
    `start_line(real_clock=True)` on the system clock (sub-second times, no advancing)."""
    double, double_url = double_server
    manual = clock

    async def start(
        config: Config | None = None, *, real_clock: bool = False, **hotline: Any
    ) -> Line:
        config = config or hotline_config(tmp_path, double_url, **hotline)
        clock = RealClock() if real_clock else manual
        client = await app_client(config=config, clock=clock)
        assert client.app is not None
        line = Line(
            client=client,
            sim=TwilioSimulator(
                client,
                public_base_url=PUBLIC_URL,
                auth_token=AUTH_TOKEN,
                hotline_number=HOTLINE_NUMBER,
                clock=clock,
                double=double,
            ),
            double=double,
            clock=clock,
            config=config,
            flood=FakeFlood(),
            warnings=FakeWarnings(),
            locations=FakeLocations(),
            real_ports=dataclasses.replace(client.app[HOTLINE].ports),
        )
        ports = client.app[HOTLINE].ports
        ports.flood = line.flood
        ports.warnings = line.warnings
        ports.locations = line.locations
        return line

    return start
