"""The hotline staff API's request models (validated by canhbao.api, published in the OpenAPI).

Twilio's webhooks under /twilio/ are form posts checked by their signature, not these.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from canhbao.api import ApiModel, Id, Name, QueryModel, ResponseModel

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


class IdPath(QueryModel):
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
