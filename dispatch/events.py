"""The durable events the dispatch domain writes, with their cause's transaction."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from canhbao.eventlog import EventType


@dataclass(frozen=True)
class RequestCreated:
    """A rescue request was received (any channel); written in the transaction that stored it."""

    request_id: int
    number: str
    source: str
    lat: float | None
    lon: float | None
    ward_code: str | None
    priority: str


def _encode(event: RequestCreated) -> Mapping[str, Any]:
    return {
        "request_id": event.request_id,
        "number": event.number,
        "source": event.source,
        "lat": event.lat,
        "lon": event.lon,
        "ward_code": event.ward_code,
        "priority": event.priority,
    }


def _decode(payload: Mapping[str, Any]) -> RequestCreated:
    return RequestCreated(
        request_id=int(payload["request_id"]),
        number=str(payload["number"]),
        source=str(payload["source"]),
        lat=payload.get("lat"),
        lon=payload.get("lon"),
        ward_code=payload.get("ward_code"),
        priority=str(payload["priority"]),
    )


REQUEST_CREATED: EventType[RequestCreated] = EventType("dispatch.request_created", _encode, _decode)
