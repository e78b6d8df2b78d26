"""Camera test helpers: stills generated with Pillow, and the real app polling a fake camera."""

from __future__ import annotations

import io
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image, ImageDraw, ImageFilter

from cameras.keys import CAMERAS
from cameras.service import Cameras
from canhbao.config import Config
from tests.conftest import AppClient, make_config
from tests.doubles.cameras import FakeCameraServer

# Kim Long, Huế: where the test cameras stand.
LAT, LON = 16.4572, 107.5580


def scene(seed: int = 1, size: tuple[int, int] = (1280, 720)) -> Image.Image:
    """A street-like picture: many sharp-edged blocks of colour, different for each seed."""
    width, height = size
    picture = Image.new("RGB", size, (90, 110, 130))
    draw = ImageDraw.Draw(picture)
    rng = np.random.default_rng(seed)
    for _ in range(60):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        w = int(rng.integers(2, max(3, width // 6)))
        h = int(rng.integers(2, max(3, height // 6)))
        colour = tuple(int(v) for v in rng.integers(0, 255, 3))
        draw.rectangle([x, y, x + w, y + h], fill=colour)
    return picture


def jpeg(picture: Image.Image, quality: int = 85, *, exif: bytes | None = None) -> bytes:
    out = io.BytesIO()
    if exif is None:
        picture.save(out, "JPEG", quality=quality)
    else:
        picture.save(out, "JPEG", quality=quality, exif=exif)
    return out.getvalue()


def png(picture: Image.Image) -> bytes:
    out = io.BytesIO()
    picture.save(out, "PNG")
    return out.getvalue()


def camera_exif() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "CameraMakerSecret"  # Make
    exif[0x9003] = "2025:11:16 10:00:00"  # DateTimeOriginal
    return exif.tobytes()


def black_frame() -> bytes:
    return jpeg(Image.new("RGB", (1280, 720), (4, 4, 4)))


def blurred_frame(seed: int = 1) -> bytes:
    return jpeg(scene(seed).filter(ImageFilter.GaussianBlur(10)))


def huge_jpeg(width: int = 20_000, height: int = 20_000) -> bytes:
    """A small JPEG whose frame header claims width × height (what a decompression bomb is)."""
    body = bytearray(jpeg(scene(size=(64, 48))))
    at = 2
    while True:
        marker = body[at + 1]
        (length,) = struct.unpack(">H", body[at + 2 : at + 4])
        if marker in (0xC0, 0xC1, 0xC2):
            body[at + 5 : at + 9] = struct.pack(">HH", height, width)
            return bytes(body)
        at += 2 + length


@dataclass
class Rig:
    client: TestClient[web.Request, web.Application]
    camera: FakeCameraServer
    base_url: str

    @property
    def service(self) -> Cameras:
        app = self.client.app
        assert app is not None
        return app[CAMERAS]

    async def poll(self, camera_id: str) -> str:
        polled = await self.service.poll(camera_id)
        return "failed" if polled is None else polled.outcome


RigFactory = Callable[..., Awaitable[Rig]]


def camera_entry(camera_id: str, url: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": camera_id,
        "name": f"Camera {camera_id}",
        "lat": LAT,
        "lon": LON,
        "url": url,
        "watches": "Đường Kim Long",
        **fields,
    }


@pytest.fixture
def camera_config(tmp_path: Any) -> Callable[..., Config]:
    def build(cameras: list[dict[str, Any]], **settings: Any) -> Config:
        return make_config(
            tmp_path,
            {
                "cameras": {
                    "schedule": False,
                    "storage_dir": str(tmp_path / "stills"),
                    "timeout_s": 2.0,
                    # Decode workers run niced (the serving process goes first): on this
                    # shared machine under a load of ~10 their first job (importing Pillow
                    # and numpy, then decoding) took over the 10 s default. The limit itself
                    # is tested with its own tiny value.
                    "decode_time_limit_s": 45.0,
                    "cameras": cameras,
                    **settings,
                }
            },
        )

    return build


@pytest.fixture
def rig(
    aiohttp_server: Callable[..., Awaitable[TestServer]],
    app_client: AppClient,
    camera_config: Callable[..., Config],
) -> RigFactory:
    """Start a fake camera, then the real app with `cameras` (entries whose url is a path on
    the fake camera, e.g. "/snap.jpg"), and return both."""

    async def start(
        cameras: list[dict[str, Any]], camera: FakeCameraServer | None = None, **settings: Any
    ) -> Rig:
        camera = camera or FakeCameraServer()
        server = await aiohttp_server(camera.app)
        base = str(server.make_url("")).rstrip("/")
        entries = [{**entry, "url": base + entry["url"]} for entry in cameras]
        client = await app_client(config=camera_config(entries, **settings))
        return Rig(client, camera, base)

    return start
