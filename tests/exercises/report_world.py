"""A database for the after-action report, built through the domains' real paths: river
readings pushed by a gauge (a band crossing, auto-drafted), the warning issued by two staff and
delivered by the outbox, hotline calls through signed webhooks (one handled by an operator, one
abandoned and called back), and a rescue request taken from new to resolved."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from alerting import store as alerting_store
from canhbao import keys
from canhbao.clock import utc_text
from canhbao.config import Config
from tests.alerting.test_workflow import step
from tests.conftest import BearerFactory, StaffFactory, StaffLogin, make_config
from tests.feeds.conftest import station
from tests.geofences.conftest import load_hue
from tests.hotline.conftest import CALLER, HOTLINE_NUMBER, PUBLIC_URL, Line, hotline_config

PHU_OC = "71518"  # Bồ river at Phú Ốc: BĐ I 1.5 m, II 3.0 m, III 4.5 m
OTHER_CALLER = "+84905999888"


def report_config(tmp_path: Path, double_url: str, **hotline: Any) -> Config:
    """The hotline's test config (the Twilio double) with Phú Ốc fed by a pushing gauge."""
    config = hotline_config(tmp_path, double_url)
    raw = {
        "server": {"public_base_url": PUBLIC_URL},
        "telephony": {
            "provider": "twilio",
            "hotline_number": HOTLINE_NUMBER,
            "twilio": {"api_base_url": double_url},
        },
        "hotline": hotline,
        "feeds": {
            "schedule": False,
            "stations": [
                station(
                    PHU_OC, "river_level", "ingest", name="Phú Ốc", river="Bồ",
                    bao_dong1=1.5, bao_dong2=3.0, bao_dong3=4.5, historic=5.31,
                )
            ],
        },
    }  # fmt: skip
    assert config.server.public_base_url == PUBLIC_URL
    return make_config(tmp_path, raw)


@dataclass
class World:
    line: Line
    crossing_at: datetime
    identifier: str
    devices: int
    dispatcher: StaffLogin
    request_id: int


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> None:
    """Wait for the outbox worker (a background task) to reach a state."""
    async with asyncio.timeout(seconds):
        # The state lives in the database, changed by a background task: there is no event.
        while not await check():  # noqa: ASYNC110  # see above
            await asyncio.sleep(0.005)


async def pause(line: Line, seconds: float, *, real: bool) -> None:
    """Move the fake clock on; on the real clock, time moves by itself (sub-second gaps)."""
    if not real:
        line.clock.advance(timedelta(seconds=seconds))


async def build(
    line: Line, staff: StaffFactory, bearer: BearerFactory, *, real: bool = False
) -> World:
    client = line.client
    app = line.app
    await load_hue(client)
    for _ in range(3):
        response = await client.post(
            "/api/v1/devices",
            json={
                "token": f"tok-{_}-" + "x" * 140,
                "platform": "android",
                "language": "vi",
                "area_codes": ["hue.huong-tra"],
            },
        )
        assert response.status == 201, await response.text()
    gauge = await bearer(client, roles=["gauge"])
    lan = await staff(client, "lan", roles=["issuer"])
    minh = await staff(client, "minh", roles=["approver"])
    dung = await staff(client, "dung", roles=["dispatcher"])

    async def reading(value: float, at: datetime) -> None:
        row = {
            "station_id": PHU_OC,
            "parameter": "water_level",
            "value": value,
            "observed_at": at.isoformat(),
        }
        answer = await client.post(
            "/api/v1/ingest/readings", json={"readings": [row]}, headers=gauge
        )
        assert answer.status == 200, await answer.text()
        await app[keys.EVENTS].settled()

    # Feeds confirm a rise by two readings in a row: BĐ I at the second, BĐ II at the fourth.
    for value in (2.8, 2.9, 3.1):
        await reading(value, line.clock.now())
        await pause(line, 3600, real=real)
    crossing_at = line.clock.now()
    await pause(line, 5, real=real)
    await reading(3.2, crossing_at)  # BĐ II confirmed: the auto-drafter writes a draft
    (draft,) = await alerting_store.list_alerts(app[keys.DB], ["draft"])
    identifier = draft.identifier
    await pause(line, 60, real=real)
    await step(lan, identifier, "submit")
    await pause(line, 60, real=real)
    await step(minh, identifier, "approve")
    await pause(line, 30, real=real)
    issued = await step(minh, identifier, "issue")
    assert issued["state"] == "issued"
    devices = int(issued["plan"]["totals"]["devices"]) if "plan" in issued else 3

    async def delivered() -> bool:
        rows = await app[keys.DB].fetch_all(
            "SELECT count(*) FROM outbox WHERE reference = ? AND status != 'sent'", (identifier,)
        )
        return int(rows[0][0]) == 0

    await eventually(delivered)

    # The hotline: one caller asks for an operator and gets one at once; one hangs up in the
    # menu and is called back two minutes later.
    await line.add_operator()
    helped = await line.sim.incoming(CALLER)
    await helped.press("3")
    (leg,) = line.sim.placed_calls()
    await leg.answer()
    await leg.press("1")
    assert helped.state == "bridged"
    await pause(line, 40, real=real)
    await leg.hang_up()
    left = await line.sim.incoming(OTHER_CALLER)
    await pause(line, 4, real=real)
    await left.hang_up()
    await pause(line, 120, real=real)  # on the real clock the first callback is due at once
    assert await line.hotline.run_due_callbacks() == 1
    (back,) = line.sim.placed_calls()
    await back.answer()
    await back.hang_up()

    # A rescue request, from new to resolved.
    created = await dung.post(
        "/api/v1/dispatch/requests",
        json={"caller": CALLER, "people": 3, "water": "roof", "lat": 16.4637, "lon": 107.5909},
    )
    assert created.status == 201, await created.text()
    request: dict[str, Any] = await created.json()
    for state, wait in (
        ("triaged", 30),
        ("offered", 30),
        ("accepted", 60),
        ("en_route", 60),
        ("on_scene", 600),
        ("resolved", 1200),
    ):
        await pause(line, wait, real=real)
        moved = await dung.post(
            f"/api/v1/dispatch/requests/{request['id']}/state", json={"state": state}
        )
        assert moved.status == 200, await moved.text()
    return World(line, crossing_at, identifier, devices, dung, int(request["id"]))


def window_of(world: World) -> tuple[str, str]:
    start = world.crossing_at - timedelta(hours=3)
    return utc_text(start), utc_text(world.line.clock.now() + timedelta(minutes=1))
