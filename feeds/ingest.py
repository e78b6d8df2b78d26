"""Push ingest: a logger's batch of readings (JSON or CSV) checked row by row, refused whole.

JSON: `{"readings": [{...}, ...]}` or a bare list; CSV: a header row, then one reading a line.
Fields: station_id, parameter, value (null or empty: missing), observed_at (ISO 8601 with a
time zone), and optionally unit (converted to ours) and interval_s (rainfall accumulation).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from canhbao.csvfile import read_rows
from feeds.errors import IngestRejected, PayloadInvalid
from feeds.models import UNITS, Observation, Parameter, Station, convert
from feeds.sources import INGEST

FIELDS = ("station_id", "parameter", "value", "observed_at", "unit", "interval_s")
REQUIRED = ("station_id", "parameter", "value", "observed_at")


def rows_from_json(payload: Any) -> list[Mapping[str, Any]]:
    rows = payload.get("readings") if isinstance(payload, Mapping) else payload
    if not isinstance(rows, list):
        raise IngestRejected('expected {"readings": [...]} or a list', row=0, field="readings")
    for index, row in enumerate(rows, start=1):
        if not isinstance(row, Mapping):
            raise IngestRejected(f"row {index}: expected an object", row=index, field="")
    return rows


def rows_from_csv(text: str, *, max_rows: int) -> list[Mapping[str, Any]]:
    """Rows of a CSV batch; past `max_rows` rows, a cell over canhbao.csvfile.MAX_FIELD
    characters or a broken quote it raises CsvRefused (CsvTooLong for the rows)."""
    records = read_rows(text.lstrip("\ufeff"), max_rows=max_rows + 1)
    header = [name.strip() for name in next((r for r in records if r), [])]
    for name in REQUIRED:
        if name not in header:
            raise IngestRejected(f"CSV header lacks {name}", row=0, field=name)
    rows: list[Mapping[str, Any]] = []
    for index, record in enumerate((r for r in records if r), start=1):
        if len(record) > len(header):
            raise IngestRejected(f"row {index}: more cells than header names", row=index, field="")
        cells: list[str | None] = [cell.strip() for cell in record]
        cells += [None] * (len(header) - len(record))  # as csv.DictReader fills short rows
        rows.append(dict(zip(header, cells, strict=True)))
    return rows


def check_rows(
    rows: list[Mapping[str, Any]], stations: Mapping[str, Station], *, from_csv: bool
) -> list[Observation]:
    """Every row as an observation keyed by our station id; the first bad row refuses all."""
    observations: list[Observation] = []
    for index, row in enumerate(rows, start=1):
        observations.append(_check(index, row, stations, from_csv))
    return observations


def _reject(index: int, field: str, problem: str) -> IngestRejected:
    return IngestRejected(f"row {index}, {field}: {problem}", row=index, field=field)


def _check(
    index: int, row: Mapping[str, Any], stations: Mapping[str, Station], from_csv: bool
) -> Observation:
    for key in row:
        if key not in FIELDS:
            raise _reject(index, str(key), "unknown field")
    for key in REQUIRED:
        if key not in row:
            raise _reject(index, key, "required")
    station_id = row["station_id"]
    station = stations.get(station_id) if isinstance(station_id, str) else None
    if station is None:
        raise _reject(index, "station_id", f"no station {station_id!r}")
    if station.source != INGEST:
        raise _reject(
            index, "station_id", f"station {station_id} is fed by {station.source}, not pushes"
        )
    try:
        parameter = Parameter(row["parameter"])
    except ValueError:
        raise _reject(index, "parameter", f"unknown parameter {row['parameter']!r}") from None
    if parameter not in station.parameters:
        raise _reject(index, "parameter", f"station {station_id} does not measure {parameter}")
    value = _value(index, row["value"], from_csv)
    unit = row.get("unit") or UNITS[parameter]
    if value is not None:
        try:
            value = convert(value, str(unit), parameter)
        except PayloadInvalid as err:
            raise _reject(index, "unit", str(err)) from None
    observed_at = _time(index, row["observed_at"])
    interval_s = _interval(index, row.get("interval_s"), parameter)
    return Observation(station_id, parameter, observed_at, value, interval_s=interval_s)


def _value(index: int, raw: Any, from_csv: bool) -> float | None:
    if raw is None or (from_csv and raw == ""):
        return None
    if from_csv and isinstance(raw, str):
        try:
            raw = float(raw)
        except ValueError:
            raise _reject(index, "value", f"{raw!r} is not a number") from None
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise _reject(index, "value", f"{raw!r} is not a number")
    if not math.isfinite(raw):
        raise _reject(index, "value", "not a finite number")
    return float(raw)


def _time(index: int, raw: Any) -> datetime:
    if not isinstance(raw, str):
        raise _reject(index, "observed_at", "expected an ISO 8601 string")
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise _reject(index, "observed_at", f"{raw!r} is not ISO 8601") from None
    if moment.tzinfo is None:
        raise _reject(index, "observed_at", "needs a time zone (e.g. +07:00)")
    return moment.astimezone(UTC)


def _interval(index: int, raw: Any, parameter: Parameter) -> int:
    if raw is None or raw == "":
        return 3600 if parameter is Parameter.rainfall else 0
    try:
        interval = int(raw)
    except (TypeError, ValueError):
        raise _reject(index, "interval_s", f"{raw!r} is not a whole number") from None
    if isinstance(raw, bool) or interval < 0 or (isinstance(raw, float) and raw != interval):
        raise _reject(index, "interval_s", "must be a whole number of seconds, 0 or more")
    return interval
