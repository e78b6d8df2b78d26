"""The citizen app's SOS: authenticated by the device secret, placed in its ward, photos checked
with Pillow and stored by content; another device sees nothing."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from PIL import Image

from tests.conftest import StaffFactory
from tests.dispatch.conftest import PHU_XUAN, rows
from tests.geofences.conftest import Register

Client = TestClient[web.Request, web.Application]
SOS = "/api/v1/rescue-requests"


def _jpeg(width: int = 64, height: int = 48) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (30, 90, 160)).save(out, "JPEG")
    return out.getvalue()


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims a size it does not have (a decompression bomb's shape)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + header
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(header))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
    )


async def _device(hue: Client, register: Register, **fields: Any) -> dict[str, Any]:
    return await register(hue, at=PHU_XUAN, phone="0905 123 456", **fields)


def _sos(device: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"device_id": device["device_id"], "lon": PHU_XUAN[0], "lat": PHU_XUAN[1], **fields}


def _secret(device: dict[str, Any]) -> dict[str, str]:
    return {"X-Device-Secret": device["secret"]}


async def test_an_sos_from_the_app_is_placed_in_its_ward_and_texted(
    hue: Client, register: Register, staff: StaffFactory
) -> None:
    device = await _device(hue, register)
    body = _sos(device, accuracy_m=12.0, people=3, vulnerabilities=["pregnant"], water="roof")
    response = await hue.post(SOS, json=body, headers=_secret(device))
    assert response.status == 201, await response.text()
    receipt = await response.json()
    assert receipt == {"number": "1001", "state": "new", "priority": "high", "photos": 0}
    lan = await staff(hue, "lan", roles=["operator"])
    request = await (await lan.get("/api/v1/dispatch/requests/1")).json()
    assert request["source"] == "app"
    assert request["ward"]["code"].startswith("hue.")
    assert request["phones"] == ["+84905123456"]
    assert request["location"]["source"] == "app"
    (sms,) = await rows(hue, "SELECT payload FROM outbox WHERE channel = 'sms'")
    assert "1001" in sms["payload"]
    status = await hue.get(
        f"{SOS}/1001", params={"device_id": device["device_id"]}, headers=_secret(device)
    )
    assert (await status.json())["state"] == "new"


async def test_a_wrong_secret_or_a_bad_field_writes_nothing(
    hue: Client, register: Register
) -> None:
    device = await _device(hue, register)
    refused = await hue.post(SOS, json=_sos(device), headers={"X-Device-Secret": "nope"})
    assert refused.status == 401
    assert (await hue.post(SOS, json=_sos(device))).status == 401
    for fields, field in (
        ({"lat": 48.85, "lon": 2.35}, "lat"),
        ({"lon": 150.0}, "lon"),
        ({"people": 0}, "people"),
        ({"people": 5000}, "people"),
    ):
        response = await hue.post(SOS, json=_sos(device, **fields), headers=_secret(device))
        assert response.status == 422, fields
        assert (await response.json())["error"]["field"] == field
    assert await rows(hue, "SELECT * FROM dispatch_requests") == []
    assert await rows(hue, "SELECT * FROM outbox WHERE channel = 'sms'") == []


async def test_photos_are_checked_stored_by_content_and_shown_to_staff(
    hue: Client, register: Register, staff: StaffFactory
) -> None:
    device = await _device(hue, register)
    other = await register(hue, at=PHU_XUAN)
    await hue.post(SOS, json=_sos(device), headers=_secret(device))
    url = f"{SOS}/1001/photos"
    params = {"device_id": device["device_id"]}
    jpeg = _jpeg()
    headers = {**_secret(device), "Content-Type": "image/jpeg"}
    first = await hue.post(url, data=jpeg, params=params, headers=headers)
    assert first.status == 201, await first.text()
    again = await hue.post(url, data=jpeg, params=params, headers=headers)
    assert (await again.json())["photos"] == 1
    sha = (await first.json())["sha256"]
    for bad in (jpeg[: len(jpeg) // 2], _png_claiming(100_000, 100_000), b"<html>", b""):
        response = await hue.post(url, data=bad, params=params, headers=headers)
        assert response.status == 422, bad[:10]
        assert (await response.json())["error"]["field"] == "photo"
    stranger = await hue.post(
        url,
        data=jpeg,
        params={"device_id": other["device_id"]},
        headers={**_secret(other), "Content-Type": "image/jpeg"},
    )
    assert stranger.status == 404
    lan = await staff(hue, "lan", roles=["operator"])
    shown = await lan.get(f"/api/v1/dispatch/requests/1/photos/{sha}")
    assert await shown.read() == jpeg
    thumb = await lan.get(f"/api/v1/dispatch/requests/1/photos/{sha}", params={"thumbnail": "1"})
    assert thumb.content_type == "image/jpeg"
    (photo,) = await rows(hue, "SELECT width, height FROM dispatch_photos")
    assert (photo["width"], photo["height"]) == (64, 48)
