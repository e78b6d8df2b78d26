"""The dispatch API's request and answer models (validated by canhbao.api, published in the
OpenAPI)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from canhbao.api import INT64_MAX, ApiModel, Finite, Id, QueryModel, ResponseModel
from dispatch.models import (
    ADDRESS_MAX_CHARS,
    NOTES_MAX_CHARS,
    REASON_MAX_CHARS,
    Priority,
    State,
    Vulnerability,
    Water,
)

Limit = Annotated[int, Field(ge=1, le=1000)]
Phone = Annotated[str, Field(max_length=32)]
# People are checked by the domain (1 to 1,000) so the answer names the field in its words.
People = Annotated[int, Field(ge=-(2**31), le=2**31)]


class RequestsQuery(QueryModel):
    state: State | None = None
    limit: Limit = 100
    before_id: Annotated[int, Field(ge=1, le=INT64_MAX)] | None = None


class IdPath(QueryModel):
    id: Id


class StateBody(ApiModel):
    state: State
    reason: Annotated[str, Field(max_length=REASON_MAX_CHARS)] | None = None


class PriorityBody(ApiModel):
    """`priority` null goes back to the computed priority; the reason is always required."""

    priority: Priority | None
    reason: Annotated[str, Field(min_length=1, max_length=REASON_MAX_CHARS)]


class ReleaseQuery(QueryModel):
    force: bool = False


class OperatorRequestBody(ApiModel):
    """A request an operator types in (from a call on another line, a radio, a walk-in)."""

    caller: Phone = ""
    lat: Finite | None = None
    lon: Finite | None = None
    accuracy_m: Finite | None = None
    address: Annotated[str, Field(max_length=ADDRESS_MAX_CHARS)] = ""
    people: People | None = None
    vulnerabilities: Annotated[tuple[Vulnerability, ...], Field(max_length=5)] = ()
    water: Water = Water.unknown
    notes: Annotated[str, Field(max_length=NOTES_MAX_CHARS)] = ""
    call_sid: Annotated[str, Field(max_length=64)] | None = None


class DetailsBody(ApiModel):
    people: People | None = None
    vulnerabilities: Annotated[tuple[Vulnerability, ...], Field(max_length=5)] | None = None
    water: Water | None = None
    more_address: Annotated[str, Field(max_length=ADDRESS_MAX_CHARS)] | None = None
    notes: Annotated[str, Field(max_length=NOTES_MAX_CHARS)] | None = None


class RequestView(ResponseModel):
    """One rescue request as staff see it."""

    id: int
    number: str
    state: str
    allowed_next: list[str]
    priority: str
    source: str
    phones: list[str]
    created_at: str
    location: dict[str, Any] | None
    ward: dict[str, Any] | None


class RequestList(ResponseModel):
    rescue_requests: list[RequestView]


class Timeline(ResponseModel):
    number: str
    history: list[dict[str, Any]]


class AppReceipt(ResponseModel):
    """What the citizen app hears back: the request's number and state (nothing of others)."""

    number: str
    state: str
    priority: str


class AppRequestBody(ApiModel):
    """The app's SOS: where the phone is (required) and what the family says."""

    device_id: Annotated[str, Field(min_length=1, max_length=64)]
    lat: Finite
    lon: Finite
    accuracy_m: Finite | None = None
    address: Annotated[str, Field(max_length=ADDRESS_MAX_CHARS)] = ""
    people: People | None = None
    vulnerabilities: Annotated[tuple[Vulnerability, ...], Field(max_length=5)] = ()
    water: Water = Water.unknown
    notes: Annotated[str, Field(max_length=NOTES_MAX_CHARS)] = ""


class NumberPath(QueryModel):
    number: Annotated[str, Field(min_length=1, max_length=20)]


class DeviceQuery(QueryModel):
    device_id: Annotated[str, Field(min_length=1, max_length=64)]


class PhotoPath(QueryModel):
    id: Id
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class PhotoQuery(QueryModel):
    thumbnail: bool = False


class PhotoReceipt(ResponseModel):
    number: str
    sha256: str
    photos: int


class ProposalsQuery(QueryModel):
    status: Literal["proposed", "merged", "rejected"] | None = "proposed"
    limit: Limit = 100


class ProposalList(ResponseModel):
    proposals: list[dict[str, Any]]


class ProposalView(ResponseModel):
    id: int
    request: str
    candidate: str
    reason: str
    status: str


class DaysQuery(QueryModel):
    days: Annotated[int, Field(ge=1, le=366)] = 7


class Figures(ResponseModel):
    days: list[dict[str, Any]]
    wards: list[dict[str, Any]]
    total: dict[str, Any]


class FeatureCollection(ResponseModel):
    """GeoJSON (RFC 7946): each request a Feature, its point as [lon, lat] or null."""

    type: Literal["FeatureCollection"]
    features: list[dict[str, Any]]
