"""The hotline staff API's request models (validated by canhbao.api, published in the OpenAPI).

Twilio's webhooks under /twilio/ are form posts checked by their signature, not these.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from canhbao.api import AnswerTime, ApiModel, Id, Name, QueryModel, ResponseModel

Limit = Annotated[int, Field(ge=1, le=1000)]
# An ISO date or time; without an offset it is Huế local time, as staff read it.
LocalTime = Annotated[str, Field(max_length=64)]
ShiftTime = Annotated[str, Field(max_length=5, description="HH:MM, local time")]


class CallsQuery(QueryModel):
    since: LocalTime | None = None
    until: LocalTime | None = None
    kind: Name | None = None
    status: Name | None = None
    number: Annotated[str, Field(max_length=32)] | None = None
    limit: Limit = 100
    before: LocalTime | None = None


class FiguresQuery(QueryModel):
    days: Annotated[int, Field(ge=1, le=366)] = 7


class CallbacksQuery(QueryModel):
    status: Name | None = None
    limit: Limit = 100


class CallPath(QueryModel):
    sid: Annotated[str, Field(min_length=1, max_length=64)]


class HotlineIdPath(QueryModel):
    id: Id


class NotesBody(ApiModel):
    notes: Annotated[str, Field(max_length=4000)]


class CloseBody(ApiModel):
    reason: Annotated[str, Field(min_length=1, max_length=1000)]


class OperatorBody(ApiModel):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    phone: Annotated[str, Field(max_length=32)]
    shift_start: ShiftTime
    shift_end: ShiftTime
    active: bool = True


# -- answers ----------------------------------------------------------------------------------


class OperatorView(ResponseModel):
    id: int
    name: str
    phone: str
    shift_start: str
    shift_end: str
    active: bool


class OperatorList(ResponseModel):
    operators: list[OperatorView]


# Times are UTC text as canhbao.clock.utc_text writes it ("2026-12-03T10:00:00Z").


class CallView(ResponseModel):
    """A call as the hotline logged it (hotline.store.CallRow.to_json)."""

    sid: str
    parent_sid: str | None
    kind: str  # inbound, callback, operator
    direction: str
    from_: str = Field(alias="from")
    to: str
    status: str | None  # Twilio's call status; None until Twilio reports one
    received_at: AnswerTime
    answered_at: AnswerTime | None
    ended_at: AnswerTime | None
    enqueued_at: AnswerTime | None
    dequeued_at: AnswerTime | None
    queue_wait_s: float | None
    duration_s: int | None
    menu_path: list[str]
    answered_by: str | None
    outcome: str | None  # handled, informed, callback, voicemail; None: nothing yet
    rescue_request_id: int | None = None
    operator_id: int | None
    callback_task_id: int | None
    notes: str


class CallList(ResponseModel):
    calls: list[CallView]
    next_before: AnswerTime | None  # the `before` that pages on


class Recording(ResponseModel):
    recording_sid: str
    kind: str  # address, voicemail
    url: str
    duration_s: int | None
    status: str
    created_at: AnswerTime


class CallDetail(CallView):
    recordings: list[Recording]


class CallNotes(ResponseModel):
    sid: str
    notes: str


class CallFigureShares(ResponseModel):
    """Inbound calls, and the shares of them answered within the target (None: no calls)."""

    calls: int
    answered_within_15s: float | None
    queued: int
    operator_within_15s: float | None
    abandoned: int
    abandonment_rate: float | None
    callbacks_made: int
    callbacks_reached: int


class CallDayFigures(CallFigureShares):
    day: str  # a local (Asia/Ho_Chi_Minh) date


class CallFigures(ResponseModel):
    answer_target_s: float
    answer_norm: float  # the emergency-centre norm for the share answered within the target
    days: list[CallDayFigures]
    total: CallFigureShares


class CallbackView(ResponseModel):
    """A callback task (hotline.store.CallbackTask.to_json)."""

    id: int
    phone: str
    reason: str  # abandoned, voicemail, requested, no_operator, rescue
    source_call_sid: str | None
    rescue_request_id: int | None = None
    status: str  # open, calling, reached, exhausted, closed
    attempts: int
    next_attempt_at: AnswerTime | None
    created_at: AnswerTime
    updated_at: AnswerTime
    closed_at: AnswerTime | None
    closed_by: str | None
    close_reason: str | None


class CallbackAttempt(ResponseModel):
    id: int
    number: int  # 1, 2, 3 for calls Twilio accepted
    call_sid: str | None
    outcome: str
    answered_by: str | None
    started_at: AnswerTime
    ended_at: AnswerTime | None
    error: str | None


class CallbackWithAttempts(CallbackView):
    attempts_log: list[CallbackAttempt]


class CallbackList(ResponseModel):
    callbacks: list[CallbackWithAttempts]
