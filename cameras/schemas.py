"""The cameras API's request and answer models (validated by canhbao.api, published in the
OpenAPI).

cameras.models.build_camera still checks every rule (URL, credentials, intervals) and names
the field; these models bound the shape and size first.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from cameras.models import AuthKind, Kind
from canhbao.api import ApiModel, Finite, Id, Name, QueryModel, ResponseModel, Timestamp

Text = Annotated[str, Field(max_length=2000)]
Host = Annotated[str, Field(max_length=253)]


class CameraBody(ApiModel):
    id: Annotated[str, Field(min_length=1, max_length=64)]
    name: Name
    lat: Annotated[Finite, Field(ge=-90, le=90)]
    lon: Annotated[Finite, Field(ge=-180, le=180)]
    url: Text
    watches: Text = ""
    kind: Kind = "snapshot"
    auth: AuthKind = "none"
    username: Name = ""
    password_env: Name = ""
    interval_s: Annotated[Finite, Field(ge=0, le=86_400)] = 0.0
    timeout_s: Annotated[Finite, Field(ge=0, le=120)] = 0.0
    redirect_hosts: Annotated[list[Host], Field(max_length=50)] = Field(default_factory=list)
    enabled: bool = True


class CameraChange(ApiModel):
    """The fields a PATCH changes (the id stays)."""

    id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    name: Name | None = None
    lat: Annotated[Finite, Field(ge=-90, le=90)] | None = None
    lon: Annotated[Finite, Field(ge=-180, le=180)] | None = None
    url: Text | None = None
    watches: Text | None = None
    kind: Kind | None = None
    auth: AuthKind | None = None
    username: Name | None = None
    password_env: Name | None = None
    interval_s: Annotated[Finite, Field(ge=0, le=86_400)] | None = None
    timeout_s: Annotated[Finite, Field(ge=0, le=120)] | None = None
    redirect_hosts: Annotated[list[Host], Field(max_length=50)] | None = None
    enabled: bool | None = None


class CameraPath(QueryModel):
    camera_id: Annotated[str, Field(min_length=1, max_length=64)]


class StillPath(QueryModel):
    still_id: Id


class ImagePath(QueryModel):
    sha256: Annotated[str, Field(min_length=1, max_length=64)]


class CamerasQuery(QueryModel):
    near: Annotated[str, Field(max_length=64, description="lat,lon")] | None = None
    radius_m: Annotated[int, Field(ge=1, le=50_000)] = 2000
    within: (
        Annotated[
            str,
            Field(max_length=20_000, description='a CAP polygon: "lat,lon lat,lon ...", closed'),
        ]
        | None
    ) = None


class StillsQuery(QueryModel):
    since: Timestamp | None = None
    until: Timestamp | None = None
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    before_id: Id | None = None


class FetchesQuery(QueryModel):
    limit: Annotated[int, Field(ge=1, le=500)] = 50


# -- answers ----------------------------------------------------------------------------------


class WardView(ResponseModel):
    code: str
    name: str


class FlagView(ResponseModel):
    """A quality flag and since when it holds (UTC, ISO 8601)."""

    flag: Literal["frozen", "dark", "uniform", "blurred", "unreachable"]
    since: str
    detail: str


class StillView(ResponseModel):
    id: int
    fetched_at: str
    last_seen_at: str
    sha256: str
    mime: str
    width: int
    height: int
    bytes: int
    url: str
    thumbnail_url: str


class LatestStill(StillView):
    age_s: float
    latest_url: str


class CameraView(ResponseModel):
    """A camera as everyone sees it: where, what it watches, its latest still and flags."""

    id: str
    name: str
    lat: float
    lon: float
    watches: str
    ward: WardView | None
    latest: LatestStill | None
    status: str  # the poll lifecycle's state ("ok", "failing", ...) or "disabled"
    flags: list[FlagView]
    under_warning: bool
    distance_m: float | None = None  # with ?near=, from that point


class CameraList(ResponseModel):
    cameras: list[CameraView]


class CameraRecord(ResponseModel):
    """A camera's definition as staff set it (no secret: the password's variable name)."""

    id: str
    name: str
    lat: float
    lon: float
    url: str
    watches: str
    kind: Kind
    auth: AuthKind
    username: str
    password_env: str
    interval_s: float
    timeout_s: float
    redirect_hosts: list[str]
    enabled: bool
    origin: Literal["config", "api"]
    ward: WardView | None
    status: str
    flags: list[FlagView]
    under_warning: bool


class Retired(ResponseModel):
    retired: str


class StillPage(ResponseModel):
    camera_id: str
    stills: list[StillView]
    next_before_id: int | None


class FetchView(ResponseModel):
    at: str
    status: int | None
    bytes: int
    duration_ms: float
    outcome: Literal["stored", "unchanged", "not_modified", "failed"]
    reason: str
    still_id: int | None


class FetchList(ResponseModel):
    camera_id: str
    fetches: list[FetchView]


class Polled(ResponseModel):
    fetch: FetchView | None
    camera: CameraView


class CapResourceView(ResponseModel):
    """A still as CAP 1.2's <resource> (CAP's own names)."""

    resourceDesc: str
    mimeType: str
    size: int
    uri: str
    digest: str  # SHA-1 of the bytes at uri, hex
