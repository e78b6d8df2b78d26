"""Teams and offers fixtures: the real app sending through the real twilio library to the
Twilio double and through firebase-admin's wire format to the FCM double, the Twilio simulator
posting SMS and keypress webhooks, and a roster of Huế teams."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from canhbao import keys
from canhbao.clock import ManualClock
from dispatch.teams_keys import DISPATCH_DEADLINES
from tests.conftest import AppClient, StaffFactory, StaffLogin, make_config
from tests.doubles.fcm import RunningFcm, serve_fcm_double
from tests.doubles.twilio import ACCOUNT_SID, AUTH_TOKEN, TwilioDouble
from tests.hotline.simulator import TwilioSimulator

PUBLIC_URL = "https://hotline.example.vn"
HOTLINE_NUMBER = "+8419001075"
CALLER = "+84905123456"
DUTY_PHONE = "+84914999000"
API = "/api/v1/dispatch"
PUSH_TOKEN = "team-app-token-" + "x" * 40

# Three boat teams around Huế's centre and a truck team; distances from Phú Hội (16.4637,
# 107.5909): Phú Hội ~0.3 km, Vỹ Dạ ~2 km, Kim Long ~5 km.
TEAMS: list[dict[str, Any]] = [
    {
        "name": "Đội xuồng Phú Hội",
        "base_lat": 16.4660,
        "base_lon": 107.5930,
        "capabilities": ["boat", "medical"],
        "capacity": 1,
        "members": [
            {"name": "Nguyễn Văn An", "phone": "+84911000001"},
            {"name": "Lê Thị Bình", "phone": "+84911000002"},
        ],
        "push_token": PUSH_TOKEN,
    },
    {
        "name": "Đội xuồng Vỹ Dạ",
        "base_lat": 16.4750,
        "base_lon": 107.6050,
        "capabilities": ["boat"],
        "capacity": 2,
        "members": [{"name": "Trần Văn Cường", "phone": "+84912000001"}],
    },
    {
        "name": "Đội xuồng Kim Long",
        "base_lat": 16.4590,
        "base_lon": 107.5450,
        "capabilities": ["boat"],
        "capacity": 1,
        "members": [{"name": "Phạm Thị Dung", "phone": "+84913000001"}],
    },
    {
        "name": "Đội xe tải Phú Hội",
        "base_lat": 16.4640,
        "base_lon": 107.5910,
        "capabilities": ["truck"],
        "capacity": 3,
        "members": [{"name": "Hồ Văn Em", "phone": "+84914000001"}],
    },
]
HUE = {"lat": 16.4637, "lon": 107.5909}


class RealClock(ManualClock):
    """The system clock: time runs on its own."""

    def __init__(self) -> None:
        super().__init__(datetime.now(UTC))

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class Desk:
    """The app with teams, the doubles, the simulator and a dispatcher, started."""

    client: TestClient[web.Request, web.Application]
    sim: TwilioSimulator
    twilio: TwilioDouble
    fcm: RunningFcm
    clock: ManualClock
    dispatcher: StaffLogin
    teams: dict[str, int]

    @property
    def app(self) -> web.Application:
        assert self.client.app is not None
        return self.client.app

    async def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in await self.app[keys.DB].fetch_all(sql, params)]

    async def request(self, water: str = "roof", **more: Any) -> dict[str, Any]:
        """An operator's request at Phú Hội (a boat needed: water on the roof)."""
        body = {"caller": CALLER, **HUE, "address": "kiệt 5 Chi Lăng", "people": 4}
        body.update(water=water, **more)
        response = await self.dispatcher.post(f"{API}/requests", json=body)
        assert response.status == 201, await response.text()
        created: dict[str, Any] = await response.json()
        await self.app[keys.EVENTS].settled()  # the automatic offer follows the durable log
        return created

    async def offers(self, request_id: int) -> list[dict[str, Any]]:
        return await self.rows(
            "SELECT o.id, t.name AS team, o.status FROM dispatch_offers o"
            " JOIN dispatch_teams t ON t.id = o.team_id WHERE o.request_id = ? ORDER BY o.id",
            (request_id,),
        )

    async def state(self, request_id: int) -> str:
        (row,) = await self.rows("SELECT state FROM dispatch_requests WHERE id = ?", (request_id,))
        return str(row["state"])

    async def expire(self) -> int:
        """Have the deadline timer look now (after the test moved the clock): how many offers
        it timed out."""
        return await self.app[DISPATCH_DEADLINES].look_now()

    async def sent_sms(self, count: int) -> list[dict[str, Any]]:
        """The Twilio double's messages once at least `count` arrived (the outbox sends in the
        background)."""
        await eventually(lambda: len(self.twilio.messages) >= count)
        return list(self.twilio.messages)


async def eventually(check: Callable[[], bool], seconds: float = 10.0) -> None:
    """Wait for the outbox worker (a background task) to reach a state, failing at a deadline."""
    async with asyncio.timeout(seconds):
        # The doubles are changed by the worker's requests: there is no event to wait on.
        while not check():  # noqa: ASYNC110  # see above
            await asyncio.sleep(0.005)


StartDesk = Callable[..., Awaitable[Desk]]


def desk_config(tmp_path: Path, twilio_url: str, fcm: RunningFcm, **offers: Any) -> Any:
    return make_config(
        tmp_path,
        {
            "server": {"public_base_url": PUBLIC_URL},
            "telephony": {
                "provider": "twilio",
                "hotline_number": HOTLINE_NUMBER,
                "twilio": {"api_base_url": twilio_url},
            },
            "push": {
                "provider": "firebase",
                "firebase": {"project_id": fcm.double.project_id, "endpoint": fcm.endpoint},
            },
            "outbox": {"poll_interval_s": 0.02},
            # The deadline timer looks when an offer falls due or changes; not every few
            # seconds of real time behind a test's manual clock.
            "dispatch": {
                "offers": {"duty_phones": [DUTY_PHONE], "poll_interval_s": 3600.0, **offers}
            },
        },
    )


@pytest.fixture
def start_desk(
    app_client: AppClient,
    staff: StaffFactory,
    tmp_path: Path,
    clock: ManualClock,
    aiohttp_server: Callable[..., Awaitable[TestServer]],
    monkeypatch: pytest.MonkeyPatch,
) -> StartDesk:
    """`await start_desk(**dispatch_offers_keys)`: the app with the four TEAMS registered."""
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)

    manual = clock

    async def start(
        *, teams: list[dict[str, Any]] = TEAMS, clock: ManualClock | None = None, **offers: Any
    ) -> Desk:
        clock = clock or manual
        twilio = TwilioDouble(clock=clock.now)
        twilio_server = await aiohttp_server(twilio.app)
        fcm = await serve_fcm_double(aiohttp_server, tmp_path)
        monkeypatch.setenv("CANHBAO_FIREBASE_CREDENTIALS", str(fcm.credentials_path))
        config = desk_config(tmp_path, str(twilio_server.make_url("")).rstrip("/"), fcm, **offers)
        client = await app_client(config=config, clock=clock)
        dispatcher = await staff(client, "minh", roles=["dispatcher"])
        ids: dict[str, int] = {}
        for team in teams:
            response = await dispatcher.post(f"{API}/teams", json=team)
            assert response.status == 201, await response.text()
            ids[team["name"]] = (await response.json())["id"]
        sim = TwilioSimulator(
            client,
            public_base_url=PUBLIC_URL,
            auth_token=AUTH_TOKEN,
            hotline_number=HOTLINE_NUMBER,
            clock=clock,
            double=twilio,
        )
        return Desk(client, sim, twilio, fcm, clock, dispatcher, ids)

    return start


async def rows_of(
    client: TestClient[web.Request, web.Application], sql: str, params: tuple[Any, ...] = ()
) -> list[dict[str, Any]]:
    assert client.app is not None
    return [dict(r) for r in await client.app[keys.DB].fetch_all(sql, params)]
