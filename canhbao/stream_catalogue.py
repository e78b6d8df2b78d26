"""The live stream's event types: who sees each (by role) and the fields its JSON carries.

Published in /api/v1/openapi.json as `StreamEventData` (a union keyed by `type`), which the
console's typed client is generated from. Admin sees every event; team and gauge accounts
none. The README ("Live events and simulators") has the same table in words.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from canhbao.api import AnswerTime, ResponseModel

ISSUER, APPROVER, OPERATOR, DISPATCHER = "issuer", "approver", "operator", "dispatcher"
# Who may open the stream at all (and admin).
STAFF = frozenset({ISSUER, APPROVER, OPERATOR, DISPATCHER})
# The two-person workflow before a warning is out, and its delivery.
ALERTING = frozenset({ISSUER, APPROVER})
# The hotline's calls, operators and callbacks; rescue requests, offers and escalations.
HOTLINE = frozenset({OPERATOR, DISPATCHER})
RESCUE = frozenset({OPERATOR, DISPATCHER})

ALERT_WORKFLOW_TYPES = (
    "alert.drafted",
    "alert.edited",
    "alert.submitted",
    "alert.approved",
    "alert.rejected",
    "alert.withdrawn",
)
ALERT_OUT_TYPES = (
    "alert.issued",
    "alert.updated",
    "alert.cancelled",
    "alert.superseded",
    "alert.expired",
)
RESCUE_TYPES = (
    "rescue.created",
    "rescue.updated",
    "rescue.state",
    "rescue.priority",
    "rescue.claim",
    "rescue.escalated",
)

# type → who sees it (admin sees everything).
AUDIENCES: dict[str, frozenset[str]] = {
    "station.band": STAFF,
    "source.health": STAFF,
    "camera.flagged": STAFF,
    **dict.fromkeys(ALERT_WORKFLOW_TYPES, ALERTING),
    **dict.fromkeys(ALERT_OUT_TYPES, STAFF),
    "delivery.progress": ALERTING,
    **dict.fromkeys(RESCUE_TYPES, RESCUE),
    "rescue.offer": RESCUE,
    "operator.changed": HOTLINE,
    "callback.opened": HOTLINE,
    "callback.closed": HOTLINE,
    "callback.exhausted": HOTLINE,
    "call.menu": HOTLINE,
    "call.queued": HOTLINE,
    "call.left": HOTLINE,
}


class _Event(ResponseModel):
    at: AnswerTime = Field(description="when it happened (UTC, RFC 3339)")


class StationBandEvent(_Event):
    """A station's reading crossed into another band (báo động level, rain or wind band)."""

    type: Literal["station.band"]
    station_id: str
    station_name: str = ""
    river: str = ""
    kind: str = Field(description="river_level, rain_24h, wind, …")
    from_level: int
    to_level: int
    value: float
    observed_at: AnswerTime


class AlertEvent(_Event):
    """A warning moved in its workflow (drafted … issued, superseded, expired)."""

    type: Literal[
        "alert.drafted",
        "alert.edited",
        "alert.submitted",
        "alert.approved",
        "alert.rejected",
        "alert.withdrawn",
        "alert.issued",
        "alert.updated",
        "alert.cancelled",
        "alert.superseded",
        "alert.expired",
    ]
    identifier: str
    state: str
    msg_type: str | None = Field(None, description="Alert, Update or Cancel")
    status: str | None = Field(None, description="Actual, Exercise, System, Test or Draft")
    hazard: str | None = None
    origin: str | None = None
    actor: str
    version: int | None = None
    comment: str | None = None
    withdrawn_reason: str | None = None
    superseded_by: str | None = None


class DeliveryProgressEvent(_Event):
    """How far an issued warning's messages have gone (at most every `[stream]
    delivery_interval_s` per warning): `failed` counts failed and dead messages (given up),
    `pending` those queued or being sent; targeted is the plan's messages, or more if the
    outbox holds more (retries are one message)."""

    type: Literal["delivery.progress"]
    identifier: str
    targeted: int
    sent: int
    failed: int
    pending: int


class RescueEvent(_Event):
    """A rescue request was created, changed, claimed or escalated."""

    type: Literal[
        "rescue.created",
        "rescue.updated",
        "rescue.state",
        "rescue.priority",
        "rescue.claim",
        "rescue.escalated",
    ]
    request_id: int
    number: str | None = None
    source: str | None = None
    state: str | None = None
    from_state: str | None = None
    priority: str | None = None
    ward_code: str | None = None
    lat: float | None = None
    lon: float | None = None
    people: int | None = None
    holder: str | None = None
    reason: str | None = None
    actor: str


class OfferEvent(_Event):
    """A team was offered a request, or an offer was answered, released or timed out."""

    type: Literal["rescue.offer"]
    action: str = Field(description="create, accept, decline, en_route, on_scene, done, …")
    offer_id: int
    request_id: int
    team_id: int
    team_name: str
    status: str
    actor: str


class OperatorEvent(_Event):
    """A hotline operator was added, changed or deactivated (on duty by shift)."""

    type: Literal["operator.changed"]
    operator_id: int
    action: str = Field(description="create, update or deactivate")
    name: str | None = None
    active: bool | None = None
    shift_start: str | None = None
    shift_end: str | None = None
    actor: str


class CallbackEvent(_Event):
    """A callback task to a missed caller was opened again, ran out of attempts (an operator
    must follow up), or was closed."""

    type: Literal["callback.opened", "callback.exhausted", "callback.closed"]
    task_id: int
    status: str
    reason: str | None = None
    actor: str


class CallEvent(_Event):
    """A call entered the voice menu, the queue (with its position), or left."""

    type: Literal["call.menu", "call.queued", "call.left"]
    call_sid: str
    caller: str | None = Field(None, description="the caller's number (operators see calls)")
    status: str | None = Field(None, description="for call.left: how it ended")
    queue_position: int | None = None
    wait_s: float | None = None


class SourceHealthEvent(_Event):
    """A component in /healthz changed state: a feed source (`feeds.<name>`), a camera
    (`cameras.<id>`: unreachable), the outbox, an event subscriber, ... (ok, degraded, failing,
    stopped)."""

    type: Literal["source.health"]
    component: str
    status: str
    detail: str = ""


class CameraFlagEvent(_Event):
    """A camera's quality flags changed (frozen, dark, uniform, blurred, unreachable): the
    flags it holds now (empty: all cleared)."""

    type: Literal["camera.flagged"]
    camera_id: str
    flags: list[str]


class StreamResetEvent(_Event):
    """The events after the console's Last-Event-ID were pruned: reload the views, go on."""

    type: Literal["stream.reset"]
    reason: str


StreamEventData = Annotated[
    StationBandEvent
    | AlertEvent
    | DeliveryProgressEvent
    | RescueEvent
    | OfferEvent
    | OperatorEvent
    | CallbackEvent
    | CallEvent
    | SourceHealthEvent
    | CameraFlagEvent
    | StreamResetEvent,
    Field(discriminator="type", title="StreamEventData"),
]
