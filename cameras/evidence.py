"""Stills as evidence in a warning: the CAP 1.2 <resource> a chosen still becomes (mimeType,
size, uri to our public image, SHA-1 digest as CAP asks), and the stills offered for an area.

A still attached to a warning is pinned: retention keeps it for good, so the uri in the CAP
message, which nobody can edit once issued, keeps answering."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry

from cameras import store
from cameras.models import Camera, Still
from cameras.service import Cameras
from canhbao.clock import to_local


@dataclass(frozen=True)
class CapResource:
    """CAP's resource block, in our words; alerting turns it into its own Resource."""

    description: str
    mime_type: str
    size: int
    uri: str
    digest: str  # SHA-1 of the bytes at uri, hex

    def as_json(self) -> dict[str, Any]:
        """As alerting's JSON takes an info's resource."""
        return {
            "resourceDesc": self.description,
            "mimeType": self.mime_type,
            "size": self.size,
            "uri": self.uri,
            "digest": self.digest,
        }


def cap_resource(
    camera: Camera, still: Still, body: bytes, base_url: str, language: str = "vi-VN"
) -> CapResource:
    """The resource for a still whose stored bytes are `body` (the digest is over them),
    described in `language` (Vietnamese unless it is English)."""
    taken = to_local(still.fetched_at)
    place = camera.watches or camera.name
    day = f"{taken.day}/{taken.month}/{taken.year}"
    if language.lower().startswith("en"):
        description = f"Camera {camera.name} at {taken:%H:%M} on {day}: {place}"
    else:
        description = f"Ảnh camera {camera.name} lúc {taken:%H:%M} ngày {day}: {place}"
    return CapResource(
        description=description,
        mime_type=still.mime,
        size=len(body),
        uri=f"{base_url.rstrip('/')}/api/v1/camera-images/{still.sha256}",
        digest=hashlib.sha1(body, usedforsecurity=False).hexdigest(),
    )


@dataclass(frozen=True)
class Offered:
    """A camera inside a warning's area, its latest still and the flags it holds now."""

    camera: Camera
    still: Still
    flags: tuple[str, ...]


async def offered(service: Cameras, area: BaseGeometry) -> list[Offered]:
    """The cameras whose point lies in `area` (lon/lat), with their latest still; a camera
    without a still yet is left out."""
    cameras = [
        camera
        for camera in await store.load_cameras(service.deps.db)
        if area.covers(shapely.Point(camera.lon, camera.lat))
    ]
    stored: dict[str, Still] | None = None
    found = []
    for camera in cameras:
        poller = service.pollers.get(camera.id)
        still = poller.state.latest if poller is not None else None
        if still is None:
            stored = stored if stored is not None else await store.latest_stills(service.deps.db)
            still = stored.get(camera.id)
        if still is None:
            continue
        flags = tuple(flag["flag"] for flag in service.status(camera.id)["flags"])
        found.append(Offered(camera, still, flags))
    return found


async def evidence(
    service: Cameras, still_id: int, base_url: str, language: str
) -> CapResource | None:
    """The still as a CAP resource, pinned from now on (retention keeps it); None if unknown."""
    still = await store.get_still(service.deps.db, still_id)
    if still is None:
        return None
    found = await store.get_camera(service.deps.db.reader, still.camera_id)
    body = await asyncio.to_thread(service.deps.files.read, still.sha256)
    if found is None or body is None:
        return None
    await store.pin_evidence(service.deps.db, still.id, service.clock.now())
    return cap_resource(found[0], still, body, base_url, language)
