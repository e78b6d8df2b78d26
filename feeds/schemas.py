"""The feeds API's request and answer models (validated by canhbao.api, published in the
OpenAPI; the answers built by canhbao.api.answer)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired

from pydantic import ConfigDict, Field
from typing_extensions import TypedDict

from canhbao.api import (
    INT64_MAX,
    AnswerTime,
    ApiModel,
    FastTimestamp,
    Finite,
    Int64,
    Name,
    QueryModel,
    ResponseModel,
    Timestamp,
)
from canhbao.polling import PollStateView
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


# -- answers ----------------------------------------------------------------------------------
# Times are UTC text as canhbao.clock.utc_text writes it ("2026-12-03T10:00:00Z"); a
# `*_local` time is Asia/Ho_Chi_Minh with its offset.


class StationFields(ResponseModel):
    """A station as staff edit it (feeds.stations.as_fields): what POST and PATCH answer."""

    id: str
    name: str
    kind: StationKind
    lat: float
    lon: float
    source: str
    source_id: str
    river: str
    bao_dong1: float | None
    bao_dong2: float | None
    bao_dong3: float | None
    historic: float | None
    reporting_period_s: int
    max_rate_m_per_h: float
    hysteresis_m: float
    gross_min: float | None
    gross_max: float | None


class ReadingView(ResponseModel):
    parameter: Parameter
    value: float | None
    unit: str
    observed_at: AnswerTime
    observed_at_local: AnswerTime
    ingested_at: AnswerTime
    flag: int  # QARTOD: 1 good, 2 not evaluated, 3 suspect, 4 failed, 9 missing
    reasons: list[str]
    source: str
    interval_s: int | None = None  # only for readings over an interval (rainfall)


class Margin(ResponseModel):
    next_band: int
    metres: float


class Trend(ResponseModel):
    direction: Literal["rising", "falling", "steady"]
    rate_m_per_h: float


class RiverView(ResponseModel):
    """The river's báo động (alarm level) band: confirmed (`alarm_band`, what events follow)
    and as the latest good reading stands; without a good reading in 24 h, only the former."""

    alarm_band: int
    alarm_band_name: str
    band: int | None
    trend: Trend | None
    margin: Margin | None
    cap_do_rui_ro: int | None  # river-flood risk level
    value: float | None = None
    observed_at: AnswerTime | None = None
    band_name: str | None = None


class RainDay(ResponseModel):
    date: str
    total_mm: float


class RainView(ResponseModel):
    totals_mm: dict[str, float]  # "1h", "3h", "6h", "12h", "24h"
    category_24h: str
    category_24h_name: str
    intense: bool
    rain_day: RainDay


class WindReading(ResponseModel):
    m_s: float
    cap_gio: int  # wind level
    category: str
    category_name: str


class WindView(ResponseModel):
    speed: WindReading | None = None
    gust: WindReading | None = None


class ForecastView(ResponseModel):
    rain_next_24h_mm: float
    rain_next_24h_category: str
    max_wind_cap_gio: int | None
    max_gust_cap_gio: int | None


class StationView(StationFields):
    """A station as the citizen app shows it (feeds.summary): status, latest readings and,
    by kind, the river's band, rain, wind and the forecast."""

    status: Literal["ok", "suspect", "failing", "missing", "stale", "no_data"]
    status_reason: str
    latest: dict[str, ReadingView]  # by parameter
    water_level: RiverView | None = None
    rain: RainView | None = None
    wind: WindView | None = None
    forecast: ForecastView | None = None


class StationList(ResponseModel):
    stations: list[StationView]


class SeriesPoint(ResponseModel):
    t: AnswerTime
    value: float | None
    flag: int
    reasons: list[str] | None = None  # only when QC said something


class BucketPoint(ResponseModel):
    t: AnswerTime  # the bucket's start
    value: float
    min: float
    max: float
    count: int


class Series(ResponseModel):
    """A station's series; past `max_points` downsampled into buckets of `bucket_s`."""

    station_id: str
    parameter: Parameter
    unit: str
    since: AnswerTime
    until: AnswerTime
    downsampled: bool
    points: list[BucketPoint] | list[SeriesPoint]
    bucket_s: int | None = None
    aggregate: Literal["mean", "sum"] | None = None


class Revision(ResponseModel):
    revision: int
    value: float | None
    flag: int
    source: str
    ingested_at: AnswerTime
    superseded_at: AnswerTime | None


class Revisions(ResponseModel):
    current: ReadingView
    revisions: list[Revision]


class EventView(ResponseModel):
    """A threshold event: a station's level (`kind`) moved `from` → `to`."""

    id: int
    station_id: str
    station_name: str | None  # None once the station is gone
    kind: str
    from_: int = Field(alias="from")
    to: int
    direction: Literal["up", "down"]
    value: float | None
    observed_at: AnswerTime
    created_at: AnswerTime
    from_name: str | None = None  # river bands only
    to_name: str | None = None


class EventList(ResponseModel):
    events: list[EventView]


class SourceState(PollStateView):
    readings_accepted: int
    quirks: list[str]


class SourceList(ResponseModel):
    sources: list[SourceState]


class CatalogueStation(ResponseModel):
    source_id: str
    name: str
    river: str
    lat: float | None
    lon: float | None
    details: dict[str, Any]  # what the upstream says of it, as it says it
    seen_at: AnswerTime


class Catalogue(ResponseModel):
    source: str
    stations: list[CatalogueStation]


class IngestReport(ResponseModel):
    """What a pushed batch did: readings new, revised and already known; QC flags; events."""

    accepted: int
    revised: int
    duplicates: int
    flags: dict[str, int]  # by QARTOD flag
    events: int
