"""HTTP routes: stations, series, events and sources for everyone; station changes and ingest
for staff and gauges."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import pydantic
from aiohttp import web

from canhbao import keys
from canhbao.api import answer, endpoint
from canhbao.audit import record_audit
from canhbao.auth import Role, require_principal, require_roles
from canhbao.clock import parse_utc, utc_text
from canhbao.csvfile import CsvRefused, CsvTooLong
from canhbao.http import ApiError
from feeds import ingest, quality, store
from feeds.errors import IngestRejected, StationInvalid
from feeds.keys import FEEDS
from feeds.models import UNITS, FetchResult, Parameter, Reading, Station
from feeds.schemas import (
    Catalogue,
    EventList,
    EventsQuery,
    IngestBatch,
    IngestReport,
    ReadingRow,
    Revisions,
    RevisionsQuery,
    Series,
    SeriesQuery,
    SourceList,
    SourcePath,
    StationBody,
    StationChange,
    StationFields,
    StationList,
    StationPath,
    StationView,
)
from feeds.sources import INGEST, SOURCE_NAMES
from feeds.stations import as_fields, build_station
from feeds.summary import reading_json, summarize
from feeds.thresholds import EventKind, band_name

CSV_TYPES = ("text/csv", "application/csv")


def _refuse_reading(err: pydantic.ValidationError) -> ApiError:
    """A reading that does not fit its model, answered as the gauges' contract says: 400
    `invalid_reading` naming the (1-based) row and the field, as feeds.ingest does."""
    errors = err.errors(include_url=False, include_input=False)
    # The body is {"readings": [...]} or a bare list: each error's loc starts with the form
    # tried; the one that reached a row is about the form that was sent.
    for error in errors:
        loc = list(error["loc"])
        at = next((i for i, part in enumerate(loc) if isinstance(part, int)), None)
        if at is not None:
            row = int(loc[at]) + 1
            name = str(loc[at + 1]) if len(loc) > at + 1 else ""
            message = f"row {row}, {name}: {error['msg']}" if name else f"row {row}: {error['msg']}"
            break
    else:
        return ApiError(
            400,
            "invalid_reading",
            'expected {"readings": [...]} or a list',
            row=0,
            field="readings",
        )
    return ApiError(400, "invalid_reading", message, row=row, field=name)


# -- public ---------------------------------------------------------------------------------


@endpoint(responses={200: StationList})
async def list_stations(request: web.Request) -> web.Response:
    """Stations with their latest readings, báo động band, trend, rain, wind and status.

    Public: what the citizen app shows. `status_reason` says why a station cannot alarm.
    """
    runtime = request.app[FEEDS]
    stations = sorted(runtime.pipeline.stations.values(), key=lambda s: s.id)
    latest = await _latest(request.app)
    return answer(
        StationList,
        {"stations": [await _summary(request, station, *latest) for station in stations]},
    )


@endpoint(responses={200: StationView})
async def get_station(request: web.Request, path: StationPath) -> web.Response:
    """One station as in the station list."""
    station = _station(request, path.station_id)
    latest = await _latest(request.app)
    return answer(StationView, await _summary(request, station, *latest))


async def _latest(
    app: web.Application,
) -> tuple[dict[tuple[str, str], Reading], dict[tuple[str, str], Reading]]:
    """Each series' newest reading at or before now, and the newest dated after (ignored)."""
    db, until = app[keys.DB], app[keys.CLOCK].now() + quality.FUTURE_TOLERANCE
    return await store.latest_readings(db, until), await store.readings_ahead(db, until)


async def _summary(
    request: web.Request,
    station: Station,
    latest: Mapping[tuple[str, str], Reading],
    ahead: Mapping[tuple[str, str], Reading],
) -> dict[str, Any]:
    app = request.app
    db, now, pipeline = app[keys.DB], app[keys.CLOCK].now(), app[FEEDS].pipeline
    mine = {
        p: latest[(station.id, p.value)]
        for p in station.parameters
        if (station.id, p.value) in latest
    }
    later = {
        p: ahead[(station.id, p.value)]
        for p in station.parameters
        if (station.id, p.value) in ahead
    }
    recent: dict[Parameter, list[Reading]] = {}
    for parameter, reading in mine.items():
        # The day up to the newest reading: trend and rain totals need no more.
        recent[parameter] = await store.readings_between(
            db,
            station.id,
            parameter,
            reading.observed_at - timedelta(hours=24),
            reading.observed_at,
        )
    forecasts = [
        (Parameter(row["parameter"]), parse_utc(row["valid_at"]), row["value"])
        for row in await store.forecasts_between(db, station.id, now, now + timedelta(hours=72))
    ]
    states = {kind: pipeline.level(station.id, kind) for kind in EventKind}
    return summarize(
        station,
        latest=mine,
        recent=recent,
        states=states,
        forecasts=forecasts,
        now=now,
        ahead=later,
    )


@endpoint(responses={200: Series})
async def station_readings(
    request: web.Request, path: StationPath, query: SeriesQuery
) -> web.Response:
    """A station's series between `since` and `until` (ISO 8601 with a zone).

    `parameter` picks one of the station's parameters; past `max_points` readings the range is
    downsampled into equal buckets (mean, or sum for rainfall, with min, max and count).
    """
    station = _station(request, path.station_id)
    app = request.app
    config = app[keys.CONFIG].feeds
    parameter = _parameter(query.parameter, station)
    until = _time(query.until, "until") or app[keys.CLOCK].now()
    since = _time(query.since, "since") or until - timedelta(days=7)
    if since >= until:
        raise ApiError(400, "invalid_range", "since must be before until")
    max_points = query.max_points or config.series_max_points
    if max_points > config.series_max_points:
        raise ApiError(
            400, "invalid_parameter", f"max_points: between 2 and {config.series_max_points}"
        )
    db = app[keys.DB]
    body: dict[str, Any] = {
        "station_id": station.id,
        "parameter": parameter.value,
        "unit": UNITS[parameter],
        "since": utc_text(since),
        "until": utc_text(until),
    }
    count = await store.count_between(db, station.id, parameter, since, until)
    if count <= max_points:
        readings = await store.readings_between(db, station.id, parameter, since, until)
        body.update(downsampled=False, points=[_point(r) for r in readings])
        return answer(Series, body)
    bucket_s = math.ceil((until - since).total_seconds() / max_points)
    buckets = await store.downsampled(db, station.id, parameter, since, until, bucket_s)
    body.update(
        downsampled=True,
        bucket_s=bucket_s,
        aggregate="sum" if parameter is Parameter.rainfall else "mean",
        points=[
            {
                "t": utc_text(b.start),
                "value": round(b.value, 4),
                "min": b.minimum,
                "max": b.maximum,
                "count": b.count,
            }
            for b in buckets
        ],
    )
    return answer(Series, body)


def _point(reading: Reading) -> dict[str, Any]:
    point: dict[str, Any] = {
        "t": utc_text(reading.observed_at),
        "value": reading.value,
        "flag": int(reading.flag),
    }
    if reading.reasons:
        point["reasons"] = list(reading.reasons)
    return point


@endpoint(responses={200: Revisions})
async def reading_revisions(
    request: web.Request, path: StationPath, query: RevisionsQuery
) -> web.Response:
    """The current reading at `observed_at` and the earlier values it replaced."""
    station = _station(request, path.station_id)
    parameter = _parameter(query.parameter, station)
    observed_at = _time(query.observed_at, "observed_at")
    if observed_at is None:
        raise ApiError(400, "missing_parameter", "observed_at is required")
    db = request.app[keys.DB]
    current = await store.readings_between(db, station.id, parameter, observed_at, observed_at)
    if not current:
        raise ApiError(404, "not_found", "no reading at that time")
    rows = await store.revisions_of(db, station.id, parameter, observed_at)
    return answer(
        Revisions,
        {
            "current": reading_json(current[0]),
            "revisions": [
                {
                    "revision": row["revision"],
                    "value": row["value"],
                    "flag": row["flag"],
                    "source": row["source"],
                    "ingested_at": row["ingested_at"],
                    "superseded_at": row["superseded_at"],
                }
                for row in rows
            ],
        },
    )


@endpoint(responses={200: EventList})
async def list_events(request: web.Request, query: EventsQuery) -> web.Response:
    """Threshold events, newest first; filter by `station` and `since`, at most `limit`."""
    since = _time(query.since, "since")
    stations = request.app[FEEDS].pipeline.stations
    rows = await store.list_events(
        request.app[keys.DB], station_id=query.station, since=since, limit=query.limit
    )
    return answer(EventList, {"events": [_event_json(row, stations) for row in rows]})


def _event_json(row: Any, stations: Mapping[str, Station]) -> dict[str, Any]:
    kind = EventKind(row["kind"])
    station = stations.get(row["station_id"])
    body = {
        "id": row["id"],
        "station_id": row["station_id"],
        "station_name": station.name if station else None,
        "kind": kind.value,
        "from": row["from_level"],
        "to": row["to_level"],
        "direction": "up" if row["to_level"] > row["from_level"] else "down",
        "value": row["value"],
        "observed_at": row["observed_at"],
        "created_at": row["created_at"],
    }
    if kind is EventKind.river_band:
        body["from_name"] = band_name(row["from_level"])
        body["to_name"] = band_name(row["to_level"])
    return body


@endpoint(responses={200: SourceList})
async def list_sources(request: web.Request) -> web.Response:
    """Each polled source's state: last success and error, failures in a row, readings."""
    pollers = request.app[FEEDS].pollers
    return answer(
        SourceList,
        {"sources": [poller.state.as_json() for _, poller in sorted(pollers.items())]},
    )


@endpoint(responses={200: Catalogue})
async def source_catalogue(request: web.Request, path: SourcePath) -> web.Response:
    """The stations an upstream lists, to pick from when adding a station."""
    name = path.name
    if name not in SOURCE_NAMES:
        raise ApiError(404, "not_found", f"no source {name!r}")
    rows = await store.list_catalogue(request.app[keys.DB], name)
    return answer(
        Catalogue,
        {
            "source": name,
            "stations": [
                {
                    "source_id": row["source_id"],
                    "name": row["name"],
                    "river": row["river"],
                    "lat": row["lat"],
                    "lon": row["lon"],
                    "details": json.loads(row["details"]),
                    "seen_at": row["seen_at"],
                }
                for row in rows
            ],
        },
    )


# -- staff ------------------------------------------------------------------------------------


@require_roles(Role.admin)
@endpoint(responses={201: StationFields})
async def create_station(request: web.Request, body: StationBody) -> web.Response:
    """Add a station (admin; audited). Its thresholds are checked; 409 if the id exists."""
    station = _build(body.model_dump(mode="json", exclude_unset=True))
    app = request.app
    db, now = app[keys.DB], app[keys.CLOCK].now()
    principal = require_principal(request)
    async with db.transaction() as conn:
        if await store.get_station(conn, station.id) is not None:
            raise ApiError(409, "station_exists", f"station {station.id} exists; PATCH it")
        await _save(conn, station, now, principal.actor, "feeds.station.create", None)
    await _reload(app)
    return answer(StationFields, as_fields(station), status=201)


@require_roles(Role.admin)
@endpoint(responses={200: StationFields})
async def update_station(
    request: web.Request, path: StationPath, body: StationChange
) -> web.Response:
    """Change a station's fields or thresholds (admin; audited); the id cannot change."""
    changes = body.model_dump(mode="json", exclude_unset=True)
    if "id" in changes and changes["id"] != path.station_id:
        raise ApiError(400, "invalid_station", "id: cannot be changed", field="id")
    app = request.app
    db, now = app[keys.DB], app[keys.CLOCK].now()
    principal = require_principal(request)
    async with db.transaction() as conn:
        current = await store.get_station(conn, path.station_id)
        if current is None:
            raise ApiError(404, "not_found", "no such station")
        station = _build({**as_fields(current), **changes})
        await _save(conn, station, now, principal.actor, "feeds.station.update", current)
    await _reload(app)
    return answer(StationFields, as_fields(station))


def _build(fields: Mapping[str, Any]) -> Station:
    try:
        return build_station(fields, SOURCE_NAMES)
    except StationInvalid as err:
        raise ApiError(400, "invalid_station", str(err), field=err.field) from None


async def _save(
    conn: Any, station: Station, now: datetime, actor: str, action: str, before: Station | None
) -> None:
    try:
        await store.save_station(conn, station, now)
    except Exception as err:
        if "UNIQUE constraint failed: feeds_stations.source" in str(err):
            raise ApiError(
                409,
                "source_id_taken",
                f"another station is already {station.source} {station.source_id}",
                field="source_id",
            ) from None
        raise
    await record_audit(
        conn,
        at=now,
        actor=actor,
        action=action,
        entity="feeds_station",
        entity_id=station.id,
        before=None if before is None else as_fields(before),
        after=as_fields(station),
    )


async def _reload(app: web.Application) -> None:
    app[FEEDS].stations_changed(await store.load_stations(app[keys.DB]))


@require_roles(Role.gauge)
@endpoint(
    responses={200: IngestReport},
    raw_bodies={kind: {"type": "string"} for kind in CSV_TYPES},
    refuse_body=_refuse_reading,
)
async def ingest_readings(
    request: web.Request, body: IngestBatch | list[ReadingRow] | None
) -> web.Response:
    """Push readings from a logger (gauge role): JSON {"readings": [...]} or text/csv.

    Fields: station_id, parameter, value (null or empty: missing), observed_at (ISO 8601
    with a zone), optional unit and interval_s. A bad row refuses the whole batch with 400
    naming the row and the field.
    """
    app = request.app
    runtime = app[FEEDS]
    limit = app[keys.CONFIG].feeds.ingest_max_rows
    try:
        if request.content_type in CSV_TYPES:  # read here; a JSON body is validated already
            from_csv = True
            rows = ingest.rows_from_csv(await _text(request), max_rows=limit)
        elif body is None:
            raise ApiError(400, "empty_body", "a JSON body is required")
        else:
            from_csv = False
            rows = list(body.readings if isinstance(body, IngestBatch) else body)
        if len(rows) > limit:
            raise ApiError(413, "batch_too_large", f"{len(rows)} rows; at most {limit} a batch")
        if not rows:
            raise ApiError(400, "empty_batch", "no readings in the batch")
        observations = ingest.check_rows(rows, runtime.pipeline.stations, from_csv=from_csv)
    except IngestRejected as err:
        raise ApiError(400, "invalid_reading", str(err), row=err.row, field=err.field) from None
    except CsvTooLong:
        raise ApiError(
            413, "batch_too_large", f"over {limit} rows; at most {limit} a batch"
        ) from None
    except CsvRefused as err:
        raise ApiError(400, "invalid_csv", str(err), row=max(err.line - 1, 0)) from None
    report = await runtime.pipeline.ingest(
        INGEST, FetchResult(observations=tuple(observations)), by_station_id=True
    )
    return answer(
        IngestReport,
        {
            "accepted": report.accepted,
            "revised": report.revised,
            "duplicates": report.duplicates,
            "flags": {str(flag): count for flag, count in sorted(report.flags.items())},
            "events": len(report.events),
        },
    )


# -- helpers ------------------------------------------------------------------------------------


def _station(request: web.Request, station_id: str) -> Station:
    station = request.app[FEEDS].pipeline.stations.get(station_id)
    if station is None:
        raise ApiError(404, "not_found", f"no station {station_id!r}")
    return station


def _parameter(parameter: Parameter | None, station: Station) -> Parameter:
    if parameter is None:
        return station.parameters[0]
    if parameter not in station.parameters:
        raise ApiError(400, "invalid_parameter", f"station {station.id} has no {parameter}")
    return parameter


def _time(raw: str | None, name: str) -> datetime | None:
    if raw is None or raw == "":
        return None
    try:
        return parse_utc(raw.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise ApiError(
            400, "invalid_time", f"{name}: an ISO 8601 time with a time zone, got {raw!r}"
        ) from None


async def _text(request: web.Request) -> str:
    raw = await request.read()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_body", "CSV must be UTF-8") from None


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/stations", list_stations)
    app.router.add_post("/api/v1/stations", create_station)
    app.router.add_get("/api/v1/stations/{station_id}", get_station)
    app.router.add_patch("/api/v1/stations/{station_id}", update_station)
    app.router.add_get("/api/v1/stations/{station_id}/readings", station_readings)
    app.router.add_get("/api/v1/stations/{station_id}/revisions", reading_revisions)
    app.router.add_get("/api/v1/feeds/events", list_events)
    app.router.add_get("/api/v1/feeds/sources", list_sources)
    app.router.add_get("/api/v1/feeds/sources/{name}/catalogue", source_catalogue)
    app.router.add_post("/api/v1/ingest/readings", ingest_readings)
