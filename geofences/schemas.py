"""The geofences API's request models (validated by canhbao.api, published in the OpenAPI).

The device bodies are checked again, field by field, by geofences.models (the rules the
citizen app's errors name); these models bound their shape and size first.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from canhbao.api import (
    INT64_MAX,
    AnswerTime,
    ApiModel,
    Finite,
    Id,
    JsonObject,
    Line,
    Name,
    QueryModel,
    ResponseModel,
    Timestamp,
)
from geofences.models import (
    MAX_ACCURACY_M,
    MAX_BLEED_M,
    MAX_PLAN_LOCATION_AGE_H,
    Language,
    Platform,
)

Code = Annotated[str, Field(min_length=1, max_length=100)]
Phone = Annotated[str, Field(max_length=32)]
Token = Annotated[str, Field(max_length=4096)]
Codes = Annotated[list[Code], Field(max_length=1000)]


class LocationBody(ApiModel):
    lat: Annotated[Finite, Field(ge=-90, le=90)]
    lon: Annotated[Finite, Field(ge=-180, le=180)]
    accuracy_m: Annotated[Finite, Field(ge=0, le=MAX_ACCURACY_M)] | None = None
    time: Timestamp | None = None


class DeviceRegistration(ApiModel):
    token: Token
    platform: Platform
    language: Language = "vi"
    phone: Phone | None = None
    location: LocationBody | None = None
    area_codes: Codes = Field(default_factory=list)


class DeviceChange(ApiModel):
    """Any of these; `phone: null` clears the phone, `area_codes` is the whole new list."""

    token: Token | None = None
    language: Language | None = None
    phone: Phone | None = None
    location: LocationBody | None = None
    area_codes: Codes | None = None


class PlanBody(ApiModel):
    geometry: JsonObject
    bleed_m: Annotated[Finite, Field(ge=0, le=MAX_BLEED_M)] | None = None
    max_location_age_h: Annotated[Finite, Field(gt=0, le=MAX_PLAN_LOCATION_AGE_H)] | None = None


class ContactBody(ApiModel):
    name: Name
    phone: Phone
    address: Line = ""
    location: LocationBody | None = None
    area: Code | None = None
    vulnerable: bool = False
    language: Language = "vi"


class DevicePath(QueryModel):
    device_id: Annotated[str, Field(min_length=1, max_length=64)]


class AreaPath(QueryModel):
    code: Code


class ContactPath(QueryModel):
    contact_id: Id


class AreasQuery(QueryModel):
    parent: Annotated[str, Field(max_length=100)] | None = None


class AreaQuery(QueryModel):
    geometry: bool = False


class ImportQuery(QueryModel):
    name_property: Name | None = None
    code_property: Name | None = None
    population_property: Name | None = None
    parent_property: Name | None = None
    parent: Code | None = None
    name: Name | None = None
    code: Code | None = None
    repair: bool = False
    source: Name = "api"


class ContactsImportQuery(QueryModel):
    skip_invalid: bool = False


class ContactsQuery(QueryModel):
    area: Code | None = None
    after: Annotated[int, Field(ge=0, le=INT64_MAX)] = 0
    limit: Annotated[int, Field(ge=1, le=1000)] = 100


# -- answers ----------------------------------------------------------------------------------


class LocationView(ResponseModel):
    lat: float
    lon: float
    accuracy_m: float | None
    time: str


class DeviceView(ResponseModel):
    device_id: str
    platform: Platform
    language: Language
    has_token: bool
    phone: str | None
    location: LocationView | None
    location_area: str | None
    area_codes: list[str]
    topics: list[str]


class RegisteredDevice(ResponseModel):
    """The device's id and its secret, shown this once: later calls send it as X-Device-Secret."""

    device_id: str
    secret: str
    device: DeviceView


class AreaSummary(ResponseModel):
    code: str
    name: str
    parent: str | None
    population: int | None
    topic: str


class AreaList(ResponseModel):
    areas: list[AreaSummary]


class AreaDetail(AreaSummary):
    """One area with its CAP outline (GeoJSON); `geometry` only when asked for."""

    vertices: int
    outline_points: int
    outline: dict[str, Any]  # a GeoJSON geometry
    repairs: list[str]  # what make_valid changed when it was imported
    geometry: dict[str, Any] | None = None  # a GeoJSON geometry


class AreaImport(ResponseModel):
    """What an import did: areas added and updated, vertices read, repairs made."""

    added: int
    updated: int
    areas: int
    vertices: int
    repairs: list[str]
    notes: list[str]  # values read in a way the operator should know about


class TargetingTotals(ResponseModel):
    devices: int
    by_topic: int
    by_token: int
    by_sms: int


class PlanArea(ResponseModel):
    code: str
    name: str
    coverage: Literal["whole", "partial", "bleed"]
    topic: str | None
    by_topic: int
    by_token: int
    by_sms: int


class PlanPreview(ResponseModel):
    """Who a warning for the polygon would reach, per area and route."""

    computed_at: AnswerTime
    bleed_m: float
    max_location_age_s: float
    totals: TargetingTotals
    conditions: list[str]  # FCM topic conditions, at most 5 topics each
    areas: list[PlanArea]
    unattributed: dict[str, int]  # by route: located inside the polygon, in no known area


class ContactsImport(ResponseModel):
    added: int
    updated: int
    skipped: dict[str, list[str]]  # by CSV row: why it was not imported
    ignored_columns: list[str]


class ContactSaved(ResponseModel):
    added: int  # 1 when new, 0 when the phone's contact was updated


class ContactView(ResponseModel):
    id: int
    name: str
    phone: str
    address: str
    lat: float | None
    lon: float | None
    area: str | None
    vulnerable: bool
    language: str


class ContactList(ResponseModel):
    contacts: list[ContactView]
    next_after: int | None
