"""Staff views of outbound traffic: what Local providers recorded, and delivery counts."""

from __future__ import annotations

from aiohttp import web

from canhbao import keys
from canhbao.auth import Role, require_roles
from canhbao.http import ApiError, int_query
from notify import keys as notify_keys
from notify.local import list_local_messages

STAFF = (Role.issuer, Role.approver, Role.operator, Role.dispatcher)
CHANNELS = ("push", "topic", "sms", "voice")


@require_roles(*STAFF)
async def dev_outbox(request: web.Request) -> web.Response:
    """GET /api/v1/dev/outbox: messages the Local providers would have sent, newest first."""
    channel = request.query.get("channel")
    if channel is not None and channel not in CHANNELS:
        raise ApiError(400, "invalid_query", f"channel must be one of {', '.join(CHANNELS)}")
    limit = int_query(request, "limit", default=50, low=1, high=500)
    before_id = int_query(request, "before_id", low=1)
    messages = await list_local_messages(
        request.app[keys.DB], channel=channel, limit=limit, before_id=before_id
    )
    next_before = messages[-1]["id"] if len(messages) == limit else None
    return web.json_response({"messages": messages, "next_before_id": next_before})


@require_roles(*STAFF)
async def outbox_counts(request: web.Request) -> web.Response:
    """GET /api/v1/outbox/counts?reference=R: channel → status → count for one reference."""
    reference = request.query.get("reference", "")
    if not reference:
        raise ApiError(400, "invalid_query", "reference is required")
    counts = await request.app[notify_keys.OUTBOX].counts(reference)
    return web.json_response({"reference": reference, "counts": counts})


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/dev/outbox", dev_outbox)
    app.router.add_get("/api/v1/outbox/counts", outbox_counts)
