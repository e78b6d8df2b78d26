"""The camera page with real stills: fetched from a fake camera by the cameras domain, shown as
lazy-loaded thumbnails linking the full picture, with the time taken and any flag in words."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from canhbao.clock import ManualClock
from tests.cameras.conftest import Rig, camera_entry, jpeg, scene
from tests.conftest import AppClient, make_config
from tests.doubles.cameras import FakeCameraServer

Client = TestClient[web.Request, web.Application]
RigFactory = Callable[..., Awaitable[Rig]]


@pytest.fixture
def rig(
    aiohttp_server: Callable[..., Awaitable[TestServer]], app_client: AppClient, tmp_path: Path
) -> RigFactory:
    """A fake camera and the real app watching `cameras` (urls are paths on the fake camera),
    its public pages looking at their inputs on every request."""

    async def start(cameras: list[dict[str, Any]], **settings: Any) -> Rig:
        camera = FakeCameraServer()
        base = str((await aiohttp_server(camera.app)).make_url("")).rstrip("/")
        config = make_config(
            tmp_path,
            {
                "public": {"recheck_s": 0.0},
                "cameras": {
                    "schedule": False,
                    "storage_dir": str(tmp_path / "stills"),
                    # Decoding runs in niced workers; a loaded machine needs the room.
                    "decode_time_limit_s": 45.0,
                    "cameras": [{**c, "url": base + c["url"]} for c in cameras],
                    **settings,
                },
            },
        )
        return Rig(await app_client(config=config), camera, base)

    return start


async def text(client: Client, path: str) -> str:
    response = await client.get(path)
    body = await response.text()
    assert response.status == 200, body[:300]
    return body


async def test_the_page_shows_each_latest_still_as_a_lazy_thumbnail_with_its_time(
    rig: RigFactory,
) -> None:
    r = await rig(
        [
            camera_entry("kl1", "/kl1.jpg", name="Cầu <Kim Long>"),
            camera_entry("px2", "/px2.jpg", name="Đường Lê Lợi"),
        ]
    )
    r.camera.still("/kl1.jpg", jpeg(scene(3)))
    assert await r.poll("kl1") == "stored"
    still = r.service.pollers["kl1"].state.latest
    assert still is not None

    html = await text(r.client, "/camera")
    thumbnail = await r.client.get(f"/api/v1/camera-images/{still.sha256}/thumbnail")

    assert f'src="/api/v1/camera-images/{still.sha256}/thumbnail" loading="lazy"' in html
    assert f'href="/api/v1/camera-images/{still.sha256}"' in html
    assert 'alt="Cầu &lt;Kim Long&gt;: Đường Kim Long"' in html
    assert "Ảnh lúc" in html
    assert thumbnail.status == 200
    assert thumbnail.content_type == "image/jpeg"
    # The camera not polled yet has a place and says so.
    _, _, later = html.partition('id="px2"')
    assert "Chưa có ảnh" in later.partition("</li>")[0]


async def test_a_flag_is_told_in_words_and_the_page_follows_it(
    rig: RigFactory, clock: ManualClock
) -> None:
    r = await rig([camera_entry("kl1", "/kl1.jpg")], unreachable_after_failures=2)
    r.camera.still("/kl1.jpg", jpeg(scene(4)))
    assert await r.poll("kl1") == "stored"
    before = await text(r.client, "/camera?lang=vi")

    r.camera.fault("/kl1.jpg", "status_500")
    for _ in range(2):
        clock.advance(timedelta(minutes=10))
        await r.poll("kl1")
    after = await text(r.client, "/camera?lang=vi")
    english = await text(r.client, "/camera?lang=en")

    assert "mất kết nối" not in before
    assert "Camera đang mất kết nối; đây là ảnh gần nhất" in after
    assert "The camera cannot be reached" in english
