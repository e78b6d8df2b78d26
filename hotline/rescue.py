"""Rescue requests: the audited operations every source uses (calls, SMS, later the app's SOS
button), and the RescueRequestCreated event the dispatch domain will listen for."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime

import aiosqlite

from canhbao.audit import record_audit
from canhbao.db import Database
from hotline import store
from hotline.errors import InvalidTransition, NotFound
from hotline.models import (
    REQUEST_TRANSITIONS,
    NewRescueRequest,
    RequestStatus,
    RescueRequest,
    RescueRequestCreated,
    Vulnerability,
    cap_address,
)

__all__ = [
    "NewRescueRequest",
    "RescueRequest",
    "RescueRequestCreated",
    "change_status",
    "create_request",
    "event_for",
    "get_request",
    "list_requests",
    "update_details",
]


async def create_request(
    conn: aiosqlite.Connection, draft: NewRescueRequest, *, at: datetime, actor: str
) -> RescueRequest:
    """Insert inside the caller's transaction (audited there); the caller publishes the event
    after the commit (event_for). The address is capped (models.cap_address)."""
    capped = dataclasses.replace(draft, address=cap_address(draft.address))
    row_id = await store.insert_request(conn, capped, at)
    request = await _get(conn, row_id)
    await record_audit(
        conn,
        at=at,
        actor=actor,
        action="rescue_request.create",
        entity="rescue_request",
        entity_id=str(row_id),
        before=None,
        after=request.to_json(),
    )
    return request


def event_for(request: RescueRequest) -> RescueRequestCreated:
    return RescueRequestCreated(
        request_id=request.id,
        number=request.number,
        source=request.source,
        caller=request.caller,
        lat=request.lat,
        lon=request.lon,
        address=request.address,
    )


async def update_details(
    conn: aiosqlite.Connection,
    request_id: int,
    *,
    at: datetime,
    actor: str,
    recording_url: str | None = None,
    people: int | None = None,
    vulnerabilities: Sequence[Vulnerability] | None = None,
    more_address: str | None = None,
) -> RescueRequest:
    """Add what the caller told us after the request was created (recording, people, needs,
    more words about where they are: appended to the address, within its cap)."""
    before = await _get(conn, request_id)
    columns: dict[str, object] = {}
    if recording_url is not None:
        columns["recording_url"] = recording_url
    if people is not None:
        columns["people"] = people
    if vulnerabilities is not None:
        columns["vulnerabilities"] = ",".join(v.value for v in vulnerabilities)
    if more_address:
        joined = f"{before.address}; {more_address}" if before.address else more_address
        columns["address"] = cap_address(joined)
    if not columns:
        return before
    await store.update_request(conn, request_id, at, **columns)
    after = await _get(conn, request_id)
    await record_audit(
        conn,
        at=at,
        actor=actor,
        action="rescue_request.update",
        entity="rescue_request",
        entity_id=str(request_id),
        before=before.to_json(),
        after=after.to_json(),
    )
    return after


async def change_status(
    conn: aiosqlite.Connection,
    request_id: int,
    status: RequestStatus,
    *,
    at: datetime,
    actor: str,
) -> RescueRequest:
    before = await _get(conn, request_id)
    if status not in REQUEST_TRANSITIONS[before.status]:
        raise InvalidTransition(
            f"rescue request {before.number} is {before.status.value}; it cannot become"
            f" {status.value}"
        )
    await store.update_request(conn, request_id, at, status=status.value)
    after = await _get(conn, request_id)
    await record_audit(
        conn,
        at=at,
        actor=actor,
        action="rescue_request.status",
        entity="rescue_request",
        entity_id=str(request_id),
        before={"status": before.status.value},
        after={"status": after.status.value},
    )
    return after


async def _get(conn: aiosqlite.Connection, request_id: int) -> RescueRequest:
    found = await store.get_request(conn, request_id)
    if found is None:
        raise NotFound(f"no rescue request {request_id}")
    return found


async def get_request(db: Database, request_id: int) -> RescueRequest:
    found = await store.get_request(db, request_id)
    if found is None:
        raise NotFound(f"no rescue request {request_id}")
    return found


async def list_requests(
    db: Database, *, status: RequestStatus | None, limit: int, before_id: int | None
) -> list[RescueRequest]:
    return await store.list_requests(db, status=status, limit=limit, before_id=before_id)
