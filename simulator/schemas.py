"""The simulators' request and answer models (published in /api/v1/openapi.json)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from canhbao.api import AnswerTime, ApiModel, QueryModel, ResponseModel

# What Twilio puts in From: E.164, or a short code / alphanumeric sender for SMS.
Caller = Annotated[
    str, Field(pattern=r"^\+[1-9][0-9]{6,14}$", description="E.164, e.g. +84905123456")
]


class SimulatedDevicePath(QueryModel):
    device_id: Annotated[str, Field(min_length=1, max_length=100)]


class SimulatedCallPath(QueryModel):
    sid: Annotated[str, Field(pattern=r"^CA[0-9a-f]{32}$")]


class PageQuery(QueryModel):
    limit: Annotated[int, Field(ge=1, le=500)] = 50


class CallBody(ApiModel):
    from_: Caller = Field(alias="from")


class DigitsBody(ApiModel):
    digits: Annotated[str, Field(pattern=r"^[0-9*#w]{0,32}$")] = ""
    speech: Annotated[str, Field(max_length=500)] = ""


class SmsBody(ApiModel):
    from_: Caller = Field(alias="from")
    body: Annotated[str, Field(min_length=1, max_length=1600)]


class SimulatedDevice(ResponseModel):
    device_id: str
    platform: str
    language: str
    has_token: bool
    lat: float | None
    lon: float | None
    topics: list[str] = Field(description="the topics the Local push provider has it subscribed to")


class DeviceList(ResponseModel):
    devices: list[SimulatedDevice]


class Notification(ResponseModel):
    id: int
    title: str
    body: str
    language: str
    arrived_at: AnswerTime
    identifier: str | None = Field(None, description="the warning's CAP identifier")
    msg_type: str | None = None
    severity: str | None = None
    via: Literal["token", "topic", "condition"]
    target: str


class NotificationList(ResponseModel):
    device_id: str
    notifications: list[Notification]


class CallTurn(ResponseModel):
    call_sid: str
    status: str = Field(description="in-progress, queued or completed")
    prompts: list[str] = Field(description="what the caller heard since their last action")
    expects: Literal["digits", "speech", "digits_or_speech", "recording", "none"]
    queue_position: int | None
    wait_s: float | None
    dialed: list[str]


class SmsReply(ResponseModel):
    message_sid: str
    replies: list[str]
