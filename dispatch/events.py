"""The durable events the dispatch domain writes, with their cause's transaction: a request
received (auto offer follows it) and a request escalated (the console shows it). Each is a
frozen dataclass whose fields are JSON values, stored and read back field by field."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from canhbao.eventlog import EventType

_Event = TypeVar("_Event")


def dataclass_event(name: str, kind: type[_Event]) -> EventType[_Event]:
    """The event type `name` for the dataclass `kind`: its payload is the fields by name."""
    names = tuple(f.name for f in dataclasses.fields(kind))  # type: ignore[arg-type]  # a dataclass, checked by fields()

    def encode(event: _Event) -> Mapping[str, Any]:
        return {field: getattr(event, field) for field in names}

    def decode(payload: Mapping[str, Any]) -> _Event:
        return kind(**{field: payload.get(field) for field in names})

    return EventType(name, encode, decode)


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


@dataclass(frozen=True)
class RequestEscalated:
    """No team took a request: the console shows it, the duty dispatchers were texted."""

    request_id: int
    number: str
    failed_offers: int
    reason: str
    at: str  # UTC, ISO 8601


REQUEST_CREATED = dataclass_event("dispatch.request_created", RequestCreated)
REQUEST_ESCALATED = dataclass_event("dispatch.request_escalated", RequestEscalated)
