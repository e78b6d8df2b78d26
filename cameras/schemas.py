"""The cameras API's request models (validated by canhbao.api, published in the OpenAPI).

cameras.models.build_camera still checks every rule (URL, credentials, intervals) and names
the field; these models bound the shape and size first.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from cameras.models import AuthKind, Kind
from canhbao.api import ApiModel, Finite, Id, Name, QueryModel, Timestamp

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
