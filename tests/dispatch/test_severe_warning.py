"""A request inside an area under an issued Severe warning ranks higher (alerting through
dispatch's WarningCoverage port, the real adapter); one outside does not. And the durable
event is stored in the event log with the request."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web
from aiohttp.test_utils import TestClient

from alerting.models import GEOCODE_WARD, Area, Geocode
from canhbao import keys
from canhbao.clock import ManualClock
from tests.alerting.conftest import alert, info, workflow_of
from tests.conftest import StaffFactory

Client = TestClient[web.Request, web.Application]
API = "/api/v1/dispatch/requests"
# Kim Long, Huế (lat, lon pairs, as CAP writes them).
KIM_LONG = ((16.44, 107.54), (16.44, 107.58), (16.47, 107.58), (16.47, 107.54), (16.44, 107.54))


async def _issue_severe(client: Client, clock: ManualClock) -> None:
    workflow = workflow_of(client)
    area = Area("Phường Kim Long", (KIM_LONG,), (Geocode(GEOCODE_WARD, "hue.kim-long"),))
    expires = clock.now() + timedelta(hours=6)
    draft = alert(
        infos=(
            info("vi-VN", areas=(area,), expires=expires, resources=()),
            info("en-US", areas=(area,), expires=expires, resources=()),
        )
    )
    stored = await workflow.create(draft, "user:lan")
    await workflow.submit(stored.identifier, "user:lan")
    await workflow.approve(stored.identifier, "user:minh")
    await workflow.issue(stored.identifier, "user:minh")


async def test_a_point_under_a_severe_warning_ranks_higher(
    hue: Client, staff: StaffFactory, clock: ManualClock
) -> None:
    await _issue_severe(hue, clock)
    lan = await staff(hue, "lan", roles=["operator"])
    inside = await (
        await lan.post(API, json={"lat": 16.455, "lon": 107.56, "water": "ground_floor"})
    ).json()
    outside = await (
        await lan.post(API, json={"lat": 16.52, "lon": 107.62, "water": "ground_floor"})
    ).json()
    assert (inside["severe_warning"], inside["priority"]) == (True, "medium")
    assert (outside["severe_warning"], outside["priority"]) == (False, "low")


async def test_the_created_event_is_written_with_its_ward(hue: Client, staff: StaffFactory) -> None:
    assert hue.app is not None
    lan = await staff(hue, "lan", roles=["operator"])
    await lan.post(API, json={"lat": 16.455, "lon": 107.56})
    (row,) = await hue.app[keys.DB].fetch_all("SELECT type, payload FROM event_log")
    assert row["type"] == "dispatch.request_created"
    assert '"number": "1001"' in row["payload"]
    assert '"ward_code": "hue.' in row["payload"]
