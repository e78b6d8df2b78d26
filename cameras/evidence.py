"""Stills as evidence in a warning: the CAP 1.2 <resource> a chosen still becomes (mimeType,
size, uri to our public image, SHA-1 digest as CAP asks), and the stills offered for an area."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from cameras.models import Camera, Still
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


def cap_resource(camera: Camera, still: Still, body: bytes, base_url: str) -> CapResource:
    """The resource for a still whose stored bytes are `body` (the digest is over them)."""
    taken = to_local(still.fetched_at)
    place = camera.watches or camera.name
    return CapResource(
        description=f"Ảnh camera {camera.name} lúc {taken:%H:%M} ngày {taken:%d/%m/%Y}: {place}",
        mime_type=still.mime,
        size=len(body),
        uri=f"{base_url.rstrip('/')}/api/v1/camera-images/{still.sha256}",
        digest=hashlib.sha1(body, usedforsecurity=False).hexdigest(),
    )
