"""GET /api/v1/events/stream: the staff live stream as server-sent events."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import Field

from canhbao.api import INT64_MAX, QueryModel, endpoint
from canhbao.auth.middleware import require_principal, require_roles
from canhbao.auth.models import Role
from canhbao.http import ApiError
from canhbao.stream import (
    BadLastEventId,
    StreamHub,
    StreamRecorder,
    StreamSettings,
    parse_last_event_id,
)
from canhbao.stream_catalogue import StreamEventData

HUB = web.AppKey("stream_hub", StreamHub)
SETTINGS = web.AppKey("stream_settings", StreamSettings)
RECORDER = web.AppKey("stream_recorder", StreamRecorder)


class StreamQuery(QueryModel):
    last_event_id: Annotated[
        int | None,
        Field(
            ge=0,
            le=INT64_MAX,
            description="resume after this event id (the Last-Event-ID header wins when both"
            " are sent: a browser's EventSource sends it on every reconnect)",
        ),
    ] = None


@require_roles(Role.issuer, Role.approver, Role.operator, Role.dispatcher)
@endpoint(responses={200: StreamEventData}, response_types={200: "text/event-stream"})
async def event_stream(request: web.Request, query: StreamQuery) -> web.StreamResponse:
    """The staff live stream (server-sent events), filtered by the caller's roles.

    Frames: `id: <integer>`, `event: <type>`, `data: <one-line JSON>` (the `StreamEventData`
    schema: its `type`, `at`, and the ids and fields a view needs); a `: keep-alive` comment
    after `[stream] keepalive_s` of quiet. Reconnect with `Last-Event-ID` (or
    `?last_event_id=`): what was missed is sent first, then the live events, with no gap and no
    repeat; `stream.reset` says the missed events are no longer kept (reload the views). Without
    either, the stream starts with the next event. A console that falls `client_queue` events
    behind is disconnected and resumes the same way.
    """
    after = query.last_event_id
    header = request.headers.get("Last-Event-ID")
    if header is not None:
        try:
            after = parse_last_event_id(header)
        except BadLastEventId as err:
            raise ApiError(400, "invalid_last_event_id", str(err)) from None
    hub = request.app[HUB]
    settings = request.app[SETTINGS]
    roles = frozenset(str(role) for role in require_principal(request).roles)
    subscription = hub.subscribe(roles)
    transport = request.transport
    subscription.on_drop = transport.close if transport is not None else None
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            # Tells nginx not to buffer the stream.
            "X-Accel-Buffering": "no",
        }
    )
    try:
        await response.prepare(request)
        await response.write(b": stream open\n\n")
        if after is not None:
            async for stored in hub.replay(subscription, after):
                if subscription.dropped:
                    return response
                await response.write(stored)
        while True:
            data = await subscription.next(settings.keepalive_s)
            if data is None:
                break
            await response.write(data)
    except ConnectionError:
        # The console went away (or was dropped as too slow): it resumes with Last-Event-ID.
        pass
    finally:
        hub.unsubscribe(subscription)
    return response


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/events/stream", event_stream)
