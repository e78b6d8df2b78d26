"""The feeds API's request models (validated by canhbao.api, published in the OpenAPI)."""

from __future__ import annotations

from typing import Annotated, NotRequired

from pydantic import ConfigDict, Field
from typing_extensions import TypedDict

from canhbao.api import (
    INT64_MAX,
    ApiModel,
    FastTimestamp,
    Finite,
    Int64,
    Name,
    QueryModel,
    Timestamp,
)
from feeds.models import Parameter, StationKind

StationId = Annotated[str, Field(min_length=1, max_length=64)]
Level = Annotated[Finite, Field(ge=-1e6, le=1e6)]  # metres, mm or m/s: far past any reading


class StationBody(ApiModel):
    """A station as an admin adds it; thresholds are checked by feeds.stations."""

    id: StationId
    name: Name
    kind: StationKind
    lat: Annotated[Finite, Field(ge=-90, le=90)]
    lon: Annotated[Finite, Field(ge=-180, le=180)]
    source: Annotated[str, Field(max_length=64)]
    source_id: Annotated[str, Field(max_length=200)] = ""
    river: Name = ""
    bao_dong1: Level | None = None
    bao_dong2: Level | None = None
    bao_dong3: Level | None = None
    historic: Level | None = None
    reporting_period_s: Annotated[Int64, Field(ge=1, le=366 * 86_400)] = 3600
    max_rate_m_per_h: Annotated[Finite, Field(ge=0, le=1e6)] = 0.0
    hysteresis_m: Annotated[Finite, Field(ge=0, le=1e6)] = 0.0
    gross_min: Level | None = None
    gross_max: Level | None = None


class StationChange(ApiModel):
    """The fields a PATCH changes (the id stays)."""

    id: StationId | None = None
    name: Name | None = None
    kind: StationKind | None = None
    lat: Annotated[Finite, Field(ge=-90, le=90)] | None = None
    lon: Annotated[Finite, Field(ge=-180, le=180)] | None = None
    source: Annotated[str, Field(max_length=64)] | None = None
    source_id: Annotated[str, Field(max_length=200)] | None = None
    river: Name | None = None
    bao_dong1: Level | None = None
    bao_dong2: Level | None = None
    bao_dong3: Level | None = None
    historic: Level | None = None
    reporting_period_s: Annotated[Int64, Field(ge=1, le=366 * 86_400)] | None = None
    max_rate_m_per_h: Annotated[Finite, Field(ge=0, le=1e6)] | None = None
    hysteresis_m: Annotated[Finite, Field(ge=0, le=1e6)] | None = None
    gross_min: Level | None = None
    gross_max: Level | None = None


class ReadingRow(TypedDict):
    """One pushed reading; a TypedDict so the hot ingest path validates straight into dicts."""

    __pydantic_config__ = ConfigDict(extra="forbid", allow_inf_nan=False)  # type: ignore[misc]  # read by pydantic

    station_id: StationId
    parameter: Annotated[str, Field(max_length=32)]
    value: Finite | None
    observed_at: FastTimestamp
    unit: NotRequired[Annotated[str, Field(max_length=16)] | None]
    interval_s: NotRequired[Annotated[int, Field(ge=0, le=INT64_MAX)] | None]


class IngestBatch(ApiModel):
    readings: list[ReadingRow]


class StationPath(QueryModel):
    station_id: StationId


class SourcePath(QueryModel):
    name: Annotated[str, Field(max_length=64)]


class SeriesQuery(QueryModel):
    parameter: Parameter | None = None
    since: Timestamp | None = None
    until: Timestamp | None = None
    max_points: Annotated[int, Field(ge=2, le=INT64_MAX)] | None = None


class RevisionsQuery(QueryModel):
    parameter: Parameter | None = None
    observed_at: Timestamp


class EventsQuery(QueryModel):
    station: StationId | None = None
    since: Timestamp | None = None
    limit: Annotated[int, Field(ge=1, le=500)] = 100
