"""The alerting API's request models (validated by canhbao.api, published in the OpenAPI).

A draft is sent either as CAP fields (the `alert` object a GET answers, as
alerting.models.alert_to_dict writes it) or as a template with values and ward codes.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag

from canhbao.api import (
    INT64_MAX,
    AnswerTime,
    ApiModel,
    Finite,
    Id,
    Int64,
    Name,
    QueryModel,
    ResponseModel,
    Timestamp,
)
from canhbao.polling import PollStateView

Short = Annotated[str, Field(max_length=200)]
Text = Annotated[str, Field(max_length=10_000)]
Point = tuple[Annotated[Finite, Field(ge=-180, le=180)], Annotated[Finite, Field(ge=-180, le=180)]]


class CapReference(ApiModel):
    sender: Short
    identifier: Short
    sent: Timestamp
    sent_text: Annotated[str, Field(max_length=64)] = ""


class CapPair(ApiModel):
    valueName: Short  # CAP's own name
    value: Annotated[str, Field(max_length=1000)]


class CapResource(ApiModel):
    resourceDesc: Short  # CAP's own name
    mimeType: Short  # CAP's own name
    uri: Annotated[str, Field(max_length=2000)] | None = None
    size: Annotated[Int64, Field(ge=0)] | None = None
    digest: Short | None = None


class CapArea(ApiModel):
    areaDesc: Annotated[str, Field(max_length=1000)] = ""  # CAP's own name
    polygon: Annotated[
        list[Annotated[list[Point], Field(max_length=5000)]], Field(max_length=100)
    ] = Field(default_factory=list)
    circle: Annotated[list[Short], Field(max_length=100)] = Field(default_factory=list)
    geocode: Annotated[list[CapPair], Field(max_length=1000)] = Field(default_factory=list)


class CapInfo(ApiModel):
    language: Annotated[str, Field(max_length=35)] = "vi-VN"
    category: Annotated[list[Short], Field(max_length=12)] = Field(default_factory=list)
    event: Short = ""
    responseType: Annotated[list[Short], Field(max_length=12)] = Field(  # CAP
        default_factory=list
    )
    urgency: Short = ""
    severity: Short = ""
    certainty: Short = ""
    effective: Timestamp | None = None
    onset: Timestamp | None = None
    expires: Timestamp | None = None
    senderName: Short = ""  # CAP's own name
    headline: Short = ""
    description: Text = ""
    instruction: Text = ""
    web: Annotated[str, Field(max_length=2000)] = ""
    contact: Short = ""
    parameter: Annotated[list[CapPair], Field(max_length=100)] = Field(default_factory=list)
    resource: Annotated[list[CapResource], Field(max_length=20)] = Field(default_factory=list)
    area: Annotated[list[CapArea], Field(max_length=100)] = Field(default_factory=list)


class AlertBody(ApiModel):
    """A draft as CAP fields; identifier, sender and sent are ours to set (ignored here)."""

    identifier: Short = ""
    sender: Short = ""
    sent: Timestamp | None = None
    status: Literal["Actual", "Exercise", "System", "Test", "Draft"] | None = None
    msgType: Literal["Alert", "Update", "Cancel", "Ack", "Error"] = "Alert"  # CAP
    scope: Literal["Public", "Restricted", "Private"] = "Public"
    references: Annotated[list[CapReference], Field(max_length=100)] = Field(default_factory=list)
    source: Short = ""
    restriction: Short = ""
    note: Text = ""
    incidents: Short = ""
    codes: Annotated[list[Short], Field(max_length=20)] = Field(default_factory=list)
    info: Annotated[list[CapInfo], Field(max_length=10)] = Field(default_factory=list)
    # Camera stills to attach as CAP resources (ids from GET /api/v1/alerts/{id}/evidence).
    evidence: Annotated[list[Id], Field(max_length=20)] = Field(default_factory=list)


class TemplateBody(ApiModel):
    """A draft from a template: its values per language, and the wards it covers."""

    template: Short
    values: dict[
        Annotated[str, Field(max_length=35)],
        Annotated[dict[Short, Annotated[str, Field(max_length=2000)]], Field(max_length=50)],
    ] = Field(default_factory=dict, max_length=10)
    ward_codes: Annotated[list[Annotated[str, Field(max_length=100)]], Field(max_length=1000)]
    area_desc: Annotated[str, Field(max_length=1000)] = ""
    status: Literal["Actual", "Exercise", "System", "Test", "Draft"] | None = None
    # Camera stills to attach as CAP resources (ids from GET /api/v1/alerts/{id}/evidence).
    evidence: Annotated[list[Id], Field(max_length=20)] = Field(default_factory=list)


def _draft_kind(value: Any) -> str:
    """Which form a draft is in: one with a template is a template draft, anything else CAP."""
    if isinstance(value, dict):
        return "(template)" if "template" in value else "(cap)"
    return "(template)" if isinstance(value, TemplateBody) else "(cap)"


# Tagged so that a bad draft is answered for the form it is in, not for both.
DraftBody = Annotated[
    Annotated[TemplateBody, Tag("(template)")] | Annotated[AlertBody, Tag("(cap)")],
    Discriminator(_draft_kind),
]


class RejectBody(ApiModel):
    comment: Annotated[str, Field(max_length=2000)] = ""


class AlertPath(QueryModel):
    identifier: Annotated[str, Field(min_length=1, max_length=200)]


class ImportPath(QueryModel):
    id: Id


class TestMemberBody(ApiModel):
    """A test device (its FCM token) or phone (E.164) for Test and Exercise alerts."""

    kind: Annotated[str, Field(max_length=20)]
    address: Annotated[str, Field(max_length=4096)]
    language: Annotated[str, Field(max_length=35)] = "vi"
    label: Annotated[str, Field(max_length=200)] = ""


class TestMemberPath(QueryModel):
    id: Id


class VersionQuery(QueryModel):
    version: Annotated[int, Field(ge=0, le=INT64_MAX)]


class StatesQuery(QueryModel):
    state: Annotated[str, Field(max_length=200)] | None = None


class ImportsQuery(QueryModel):
    state: Annotated[str, Field(max_length=200)] | None = None
    limit: Annotated[int, Field(ge=1, le=500)] = 100
    before: Id | None = None


class PublicQuery(QueryModel):
    lat: Annotated[Finite, Field(ge=-90, le=90)] | None = None
    lon: Annotated[Finite, Field(ge=-180, le=180)] | None = None
    area: Annotated[str, Field(max_length=100)] | None = None
    lang: Name | None = None


class LanguageQuery(QueryModel):
    lang: Name | None = None


# -- answers ----------------------------------------------------------------------------------


class AlertSummary(ResponseModel):
    """An alert's workflow fields (alerting.store.StoredAlert.summary)."""

    identifier: str
    state: str
    msgType: str  # CAP's own name
    status: str
    chain: str
    hazard: str | None  # what an auto-draft follows (e.g. a station's river band)
    origin: str
    author: str
    editors: list[str]  # everyone who wrote or changed its content (none may approve it)
    submitted_by: str | None
    approved_by: str | None
    issued_by: str | None
    comment: str
    superseded_by: str | None
    withdrawn_reason: str | None
    version: int  # what submit, approve and issue send back


class AlertView(AlertSummary):
    """An alert as staff see it: its workflow state and version, CAP content and plan."""

    alert: dict[str, Any]  # CAP fields, as a draft body sends them
    plan: dict[str, Any] | None  # frozen at issue (GET .../plan shows it)
    problems: list[str]  # what keeps a draft from being submitted


class AlertListItem(AlertSummary):
    headline: str


class AlertList(ResponseModel):
    alerts: list[AlertListItem]


class PlanTotals(ResponseModel):
    devices: int
    by_topic: int
    by_token: int
    by_sms: int


class PlanView(ResponseModel):
    """Who an alert reaches: recomputed for a draft, frozen at issue (with the messages
    enqueued per route); a Test or Exercise alert's plan is its test audience."""

    frozen: bool
    totals: PlanTotals
    conditions: list[str]  # FCM topic conditions
    areas: list[dict[str, Any]]  # per area: code, name, coverage, topic, counts per route
    computed_at: AnswerTime | None = None
    bleed_m: float | None = None
    max_location_age_s: float | None = None
    unattributed: dict[str, int] | None = None  # by route: in the polygon, in no known area
    messages: dict[str, int] | None = None  # per route: condition, token, sms
    test_audience: bool | None = None


class FanoutProgress(ResponseModel):
    devices: int
    devices_enqueued: int
    contacts: int
    contacts_enqueued: int
    started_at: AnswerTime
    finished_at: AnswerTime | None
    outcome: str | None


class DeliveryRoutes(ResponseModel):
    condition: dict[str, int]  # ward-topic conditions, by status
    token: dict[str, int]  # device tokens, by status


class DeliveryReport(ResponseModel):
    """What became of an alert's messages: targeted, fan-out progress, per channel and status,
    push by route, failures by error code, tokens removed as unregistered."""

    identifier: str
    targeted: dict[str, int]
    messages: dict[str, int]
    fanout: FanoutProgress | None  # None before issue
    channels: dict[str, dict[str, int]]  # channel → status → count
    routes: DeliveryRoutes
    failures: dict[str, dict[str, int]]  # channel → error code → count
    removed: int


class ImportSourceState(PollStateView):
    """An upstream CAP feed's polling state and what it brought."""

    kind: str
    url: str
    imported: int
    refused: int
    last_refused: str


class ImportSourceList(ResponseModel):
    sources: list[ImportSourceState]


class ImportView(ResponseModel):
    """An imported CAP alert: its key, state and the gist of its first (or Vietnamese) block;
    `alert` (CAP fields) and `xml` (the document as received) in the one-import answer."""

    id: int
    sender: str
    identifier: str
    sent: AnswerTime
    msgType: str  # CAP's own name
    status: str
    state: str
    expires: AnswerTime | None
    reissued_as: str | None
    imported_at: AnswerTime
    source_url: str
    references: list[str]
    languages: list[str]
    event: str
    headline: str
    severity: str
    urgency: str
    certainty: str
    areas: list[str]
    alert: dict[str, Any] | None = None
    xml: str | None = None


class TestMemberView(ResponseModel):
    __test__ = False  # not a pytest class, whatever its name

    id: int
    kind: Literal["device", "phone"]
    address: str
    language: str
    label: str
    enrolled_by: str
    enrolled_at: AnswerTime


class TestMemberList(ResponseModel):
    __test__ = False

    members: list[TestMemberView]


class PublicArea(ResponseModel):
    areaDesc: str  # CAP's own name
    wards: list[str]
    polygons: list[list[list[float]]]  # [lat, lon] pairs, as CAP writes them


class PublicResource(ResponseModel):
    description: str
    mimeType: str
    uri: str


class PublicAlertView(ResponseModel):
    """An issued message as the citizen app shows it: one info block, in the device's
    language when we have it (the block's fields are absent when it has none)."""

    identifier: str
    sender: str
    sent: AnswerTime
    status: str
    msgType: str  # CAP's own name
    references: list[str]
    language: str | None = None
    event: str | None = None
    urgency: str | None = None
    severity: str | None = None
    certainty: str | None = None
    responseType: list[str] | None = None  # CAP's own name
    headline: str | None = None
    description: str | None = None
    instruction: str | None = None
    senderName: str | None = None  # CAP's own name
    contact: str | None = None
    web: str | None = None
    effective: AnswerTime | None = None
    expires: AnswerTime | None = None
    parameters: dict[str, str] | None = None
    areas: list[PublicArea] | None = None
    resources: list[PublicResource] | None = None


class PublicAlert(PublicAlertView):
    state: str  # issued, or what ended it (updated, cancelled, expired)


class PublicAlerts(ResponseModel):
    alerts: list[PublicAlertView]


class EvidenceOffer(ResponseModel):
    """A camera inside the alert's area with its latest still."""

    still_id: int
    camera_id: str
    camera_name: str
    watches: str
    taken_at: str
    url: str
    thumbnail_url: str
    flags: list[str]
    attached: bool


class AttachedResource(ResponseModel):
    resourceDesc: str  # CAP's own name
    mimeType: str  # CAP's own name
    uri: str | None
    size: int | None
    digest: str | None


class EvidenceList(ResponseModel):
    identifier: str
    offered: list[EvidenceOffer]
    attached: list[AttachedResource]


class ImportList(ResponseModel):
    imports: list[ImportView]
    next_before: int | None
