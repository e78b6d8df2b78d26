"""The team and offer API's request and answer models (validated by canhbao.api, published in
the OpenAPI)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from canhbao.api import ApiModel, Finite, Id, JsonObject, Name, QueryModel, ResponseModel, Timestamp

Phone = Annotated[str, Field(max_length=32)]
Word = Annotated[str, Field(max_length=64)]


class TeamIdPath(QueryModel):
    id: Id


class OfferIdPath(QueryModel):
    id: Id


class MemberBody(ApiModel):
    name: Name
    phone: Phone


class CoverageBody(ApiModel):
    ward_codes: Annotated[list[Word], Field(max_length=500)] = Field(default_factory=list)
    polygon: JsonObject | None = None


class TeamBody(ApiModel):
    """A team as staff write it (PUT replaces every field)."""

    name: Name
    base_lat: Finite
    base_lon: Finite
    capabilities: Annotated[list[Word], Field(max_length=20)] = Field(default_factory=list)
    capacity: Annotated[int, Field(ge=-(2**31), le=2**31)] = 1
    coverage: CoverageBody = CoverageBody()
    on_duty: bool = True
    members: Annotated[list[MemberBody], Field(max_length=50)] = Field(default_factory=list)
    push_token: Annotated[str, Field(max_length=4096)] | None = None


class DutyBody(ApiModel):
    on_duty: bool


class PositionBody(ApiModel):
    """The team app's position: where the team is, and when it was there (default: now)."""

    lat: Finite
    lon: Finite
    at: Timestamp | None = None


class PushTokenBody(ApiModel):
    token: Annotated[str, Field(max_length=4096)] | None


class OfferBody(ApiModel):
    """Offer a request to a team (none named: the recommended team)."""

    team_id: Annotated[int, Field(ge=1, le=2**63 - 1)] | None = None


class ReassignBody(ApiModel):
    team_id: Annotated[int, Field(ge=1, le=2**63 - 1)]


class AnswerBody(ApiModel):
    """A team's answer (the team app), or one an operator records for a team."""

    action: Literal["accept", "decline", "en_route", "on_scene", "done"]


# -- answers ----------------------------------------------------------------------------------


class MemberView(ResponseModel):
    name: str
    phone: str


class PositionView(ResponseModel):
    lat: float
    lon: float
    seen_at: str
    age_s: float


class TeamView(ResponseModel):
    id: int
    name: str
    base: dict[str, float]
    capabilities: list[str]
    capacity: int
    active_jobs: int
    coverage: dict[str, Any]
    on_duty: bool
    members: list[MemberView]
    push_token_set: bool
    token_issued: bool
    last_position: PositionView | None


class TeamList(ResponseModel):
    teams: list[TeamView]


class TeamToken(ResponseModel):
    """The team app's bearer token: shown this once."""

    team: TeamView
    token: str


class RosterImportView(ResponseModel):
    created: list[str]
    updated: list[str]


class OfferTeam(ResponseModel):
    id: int
    name: str


class OfferView(ResponseModel):
    id: int
    request_id: int
    request_number: str | None = None
    team: OfferTeam
    status: str
    offered_at: str
    expires_at: str
    offered_by: str
    reason: str
    answered_at: str | None
    answered_via: str | None
    answered_by: str | None
    ended_at: str | None


class OfferList(ResponseModel):
    offers: list[OfferView]


class RecommendationView(ResponseModel):
    request_id: int
    request_number: str
    priority: str
    team_id: int | None
    team_name: str | None
    distance_m: int | None
    measured_from: str | None
    reason: str
    skipped: dict[str, int] | None


class RecommendationList(ResponseModel):
    recommendations: list[RecommendationView]


class EscalationView(ResponseModel):
    request_id: int
    escalated_at: str
    failed_offers: int
    reason: str


class EscalationList(ResponseModel):
    escalations: list[EscalationView]
