"""The time-dependent camera paths once more under the real clock (sub-second, UTC stored,
shown in Asia/Ho_Chi_Minh): frozen needs time to pass, stills page by real times, retention
keeps today's stills."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from cameras.keys import CAMERAS
from canhbao.app import create_app
from canhbao.clock import SystemClock, parse_utc, to_local
from canhbao.config import Config
from tests.cameras.conftest import camera_entry, jpeg, scene
from tests.conftest import StaffFactory
from tests.doubles.cameras import FakeCameraServer


async def test_polls_flags_paging_and_retention_under_the_real_clock(
    aiohttp_server: Callable[..., Awaitable[TestServer]],
    aiohttp_client: Callable[..., Awaitable[TestClient[web.Request, web.Application]]],
    camera_config: Callable[..., Config],
    staff: StaffFactory,
) -> None:
    camera = FakeCameraServer()
    server = await aiohttp_server(camera.app)
    url = str(server.make_url("/snap.jpg"))
    config = camera_config([camera_entry("kl1", "/snap.jpg") | {"url": url}], frozen_polls=3)
    client = await aiohttp_client(create_app(config, clock=SystemClock()))
    assert client.app is not None
    service = client.app[CAMERAS]
    picture = scene(5)

    times: list[Any] = []
    for quality in (90, 80, 70):
        camera.still("/snap.jpg", jpeg(picture, quality))
        polled = await service.poll("kl1")
        assert polled is not None
        assert polled.still is not None
        times.append(polled.still.fetched_at)
    assert times == sorted(times)
    assert len(set(times)) == 3  # microseconds apart, still three stills
    frozen = service.pollers["kl1"].state.flags["frozen"]
    assert frozen.since == times[0]

    page = await (await client.get("/api/v1/cameras/kl1/stills?limit=2")).json()
    assert [parse_utc(s["fetched_at"]) for s in page["stills"]] == [times[2], times[1]]
    since = page["stills"][1]["fetched_at"]
    after = await client.get("/api/v1/cameras/kl1/stills", params={"since": since})
    assert len((await after.json())["stills"]) == 2
    listed = await (await client.get("/api/v1/cameras/kl1")).json()
    assert 0 <= listed["latest"]["age_s"] < 60
    assert listed["flags"][0]["since"].endswith("+00:00")

    plan = await service.run_retention()
    assert plan.delete == frozenset()

    # As evidence: described at the local (Asia/Ho_Chi_Minh) time the picture was taken.
    lan = await staff(client, "lan", roles=["issuer"])
    still_id = listed["latest"]["id"]
    resource = await (await lan.get(f"/api/v1/camera-stills/{still_id}/cap-resource")).json()
    taken = to_local(times[2])  # the latest still
    assert (
        f"lúc {taken:%H:%M} ngày {taken.day}/{taken.month}/{taken.year}"
        in (resource["resourceDesc"])
    )
    assert await service.deps.db.fetch_one(
        "SELECT 1 FROM cameras_evidence WHERE still_id = ?", (still_id,)
    )
