"""Staff views of outbound traffic: what Local providers recorded, and delivery counts."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import Field

from canhbao import keys
from canhbao.api import Id, QueryModel, ResponseModel, endpoint
from canhbao.auth import Role, require_roles
from notify import keys as notify_keys
from notify.local import list_local_messages

STAFF = (Role.issuer, Role.approver, Role.operator, Role.dispatcher)


class OutboxQuery(QueryModel):
    channel: Literal["push", "topic", "sms", "voice"] | None = None
    limit: Annotated[int, Field(ge=1, le=500)] = 50
    before_id: Id | None = None


class CountsQuery(QueryModel):
    reference: Annotated[str, Field(min_length=1, max_length=200)]


class OutboxPage(ResponseModel):
    messages: list[dict[str, Any]]
    next_before_id: int | None


class Counts(ResponseModel):
    reference: str
    counts: dict[str, dict[str, int]]


@require_roles(*STAFF)
@endpoint(responses={200: OutboxPage})
async def dev_outbox(request: web.Request, query: OutboxQuery) -> web.Response:
    """GET /api/v1/dev/outbox: messages the Local providers would have sent, newest first."""
    channel, limit, before_id = query.channel, query.limit, query.before_id
    messages = await list_local_messages(
        request.app[keys.DB], channel=channel, limit=limit, before_id=before_id
    )
    next_before = messages[-1]["id"] if len(messages) == limit else None
    return web.json_response({"messages": messages, "next_before_id": next_before})


@require_roles(*STAFF)
@endpoint(responses={200: Counts})
async def outbox_counts(request: web.Request, query: CountsQuery) -> web.Response:
    """GET /api/v1/outbox/counts?reference=R: channel → status → count for one reference."""
    reference = query.reference
    counts = await request.app[notify_keys.OUTBOX].counts(reference)
    return web.json_response({"reference": reference, "counts": counts})


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/dev/outbox", dev_outbox)
    app.router.add_get("/api/v1/outbox/counts", outbox_counts)
