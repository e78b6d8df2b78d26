"""Figures and exports for the province's reports: time to accept, to be on scene and to
resolve (median and 90th percentile) per local day and per ward; requests as CSV and GeoJSON.
Pure functions over rows; exports carry no phone number."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from canhbao.clock import parse_utc, to_local
from dispatch.models import RescueRequest

STAGES = (
    ("to_accept", "accepted_at"),
    ("to_on_scene", "on_scene_at"),
    ("to_resolved", "resolved_at"),
)


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile (0 < fraction ≤ 1) of the values, None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def _summary(values: Sequence[float]) -> dict[str, Any]:
    median = percentile(values, 0.5)
    p90 = percentile(values, 0.9)
    return {
        "count": len(values),
        "median_s": None if median is None else round(median, 1),
        "p90_s": None if p90 is None else round(p90, 1),
    }


def _group(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    rows = list(rows)
    answer: dict[str, Any] = {"requests": len(rows)}
    for name, column in STAGES:
        durations = [
            (parse_utc(row[column]) - parse_utc(row["created_at"])).total_seconds()
            for row in rows
            if row[column]
        ]
        answer[name] = _summary(durations)
    return answer


def figures(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per local day (Asia/Ho_Chi_Minh), per ward (null: not placed in one) and in total."""
    by_day: dict[str, list[Mapping[str, Any]]] = {}
    by_ward: dict[str | None, list[Mapping[str, Any]]] = {}
    for row in rows:
        day = to_local(parse_utc(row["created_at"])).date().isoformat()
        by_day.setdefault(day, []).append(row)
        by_ward.setdefault(row["ward_code"], []).append(row)
    return {
        "days": [{"day": day, **_group(group)} for day, group in sorted(by_day.items())],
        "wards": [
            {"ward": ward, **_group(group)}
            for ward, group in sorted(by_ward.items(), key=lambda item: item[0] or "")
        ],
        "total": _group(rows),
    }


CSV_COLUMNS = (
    "number",
    "received_local",
    "source",
    "state",
    "priority",
    "ward_code",
    "ward_name",
    "lat",
    "lon",
    "accuracy_m",
    "people",
    "vulnerabilities",
    "water",
    "address",
    "accepted_at",
    "on_scene_at",
    "resolved_at",
    "duplicate_of",
)


def _cell(text: str) -> str:
    # A cell starting with = + - @ is run as a formula by spreadsheet programs.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def _local(text: str) -> str:
    return to_local(parse_utc(text)).isoformat() if text else ""


def _record(request: RescueRequest, reached: Mapping[str, str], now: datetime) -> dict[str, Any]:
    body = request.to_json(now)
    return {
        "number": request.number,
        "received_local": to_local(request.created_at).isoformat(),
        "source": request.source,
        "state": request.state.value,
        "priority": body["priority"],
        "ward_code": request.ward_code or "",
        "ward_name": request.ward_name or "",
        "lat": request.lat,
        "lon": request.lon,
        "accuracy_m": request.accuracy_m,
        "people": request.people,
        "vulnerabilities": ",".join(v.value for v in request.vulnerabilities),
        "water": request.water.value,
        "address": request.address,
        "accepted_at": _local(reached.get("accepted_at", "")),
        "on_scene_at": _local(reached.get("on_scene_at", "")),
        "resolved_at": _local(reached.get("resolved_at", "")),
        "duplicate_of": body["duplicate_of"] or "",
    }


def requests_csv(
    requests: Sequence[RescueRequest], reached: Mapping[int, Mapping[str, str]], now: datetime
) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for request in requests:
        record = _record(request, reached.get(request.id, {}), now)
        writer.writerow(
            [
                _cell(str(v)) if isinstance(v, str) else ("" if v is None else v)
                for v in (record[c] for c in CSV_COLUMNS)
            ]
        )
    return out.getvalue()


def requests_geojson(
    requests: Sequence[RescueRequest], reached: Mapping[int, Mapping[str, str]], now: datetime
) -> dict[str, Any]:
    """A FeatureCollection: each placed request a Point (lon, lat), unplaced ones without a
    geometry (null), as RFC 7946 allows."""
    features = []
    for request in requests:
        record = _record(request, reached.get(request.id, {}), now)
        geometry = (
            None
            if request.lat is None or request.lon is None
            else {"type": "Point", "coordinates": [request.lon, request.lat]}
        )
        properties = {k: v for k, v in record.items() if k not in ("lat", "lon")}
        features.append({"type": "Feature", "geometry": geometry, "properties": properties})
    return {"type": "FeatureCollection", "features": features}
