"""The feeds domain's SQL: stations, readings and their revisions, levels, events, source state."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any

import aiosqlite

from canhbao.clock import parse_utc, utc_text
from canhbao.db import Database
from feeds.models import (
    RANGE_GUARDED,
    CatalogueEntry,
    Flag,
    Forecast,
    Parameter,
    Reading,
    Station,
    StationKind,
    Thresholds,
)
from feeds.schema import MIGRATIONS
from feeds.thresholds import EventKind, LevelState, ThresholdEvent

__all__ = ["MIGRATIONS"]

# Values closer than this are the same value re-delivered, not a revision.
SAME_VALUE = 1e-9
# Most station ids bound in one IN (...) list.
_IN_CHUNK = 500
_STATION_COLUMNS = (
    "id, name, kind, lat, lon, river, source, source_id, bao_dong1, bao_dong2, bao_dong3,"
    " historic, reporting_period_s, max_rate_m_per_h, hysteresis_m, gross_min, gross_max"
)


# -- stations -------------------------------------------------------------------------------


def station_row(station: Station) -> tuple[Any, ...]:
    t = station.thresholds
    return (
        station.id,
        station.name,
        station.kind.value,
        station.lat,
        station.lon,
        station.river,
        station.source,
        station.source_id,
        t.bao_dong1 if t else None,
        t.bao_dong2 if t else None,
        t.bao_dong3 if t else None,
        t.historic if t else None,
        station.reporting_period_s,
        station.max_rate_m_per_h,
        station.hysteresis_m,
        station.gross_min,
        station.gross_max,
    )


def station_from_row(row: sqlite3.Row) -> Station:
    thresholds = None
    if row["bao_dong1"] is not None:
        thresholds = Thresholds(
            row["bao_dong1"], row["bao_dong2"], row["bao_dong3"], row["historic"]
        )
    return Station(
        id=row["id"],
        name=row["name"],
        kind=StationKind(row["kind"]),
        lat=row["lat"],
        lon=row["lon"],
        river=row["river"],
        source=row["source"],
        source_id=row["source_id"],
        thresholds=thresholds,
        reporting_period_s=row["reporting_period_s"],
        max_rate_m_per_h=row["max_rate_m_per_h"],
        hysteresis_m=row["hysteresis_m"],
        gross_min=row["gross_min"],
        gross_max=row["gross_max"],
    )


async def sync_config_stations(db: Database, stations: Sequence[Station], at: datetime) -> None:
    """Bring config-owned rows in line with config.toml; rows staff changed are left alone."""
    placeholders = ", ".join("?" * 17)
    async with db.transaction() as conn:
        await conn.executemany(
            f"INSERT INTO feeds_stations ({_STATION_COLUMNS}, origin, updated_at)"  # noqa: S608  # constant columns; values bound
            f" VALUES ({placeholders}, 'config', ?)"
            " ON CONFLICT (id) DO UPDATE SET"
            " name = excluded.name, kind = excluded.kind, lat = excluded.lat, lon = excluded.lon,"
            " river = excluded.river, source = excluded.source, source_id = excluded.source_id,"
            " bao_dong1 = excluded.bao_dong1, bao_dong2 = excluded.bao_dong2,"
            " bao_dong3 = excluded.bao_dong3, historic = excluded.historic,"
            " reporting_period_s = excluded.reporting_period_s,"
            " max_rate_m_per_h = excluded.max_rate_m_per_h,"
            " hysteresis_m = excluded.hysteresis_m, gross_min = excluded.gross_min,"
            " gross_max = excluded.gross_max, updated_at = excluded.updated_at"
            " WHERE feeds_stations.origin = 'config'",
            [(*station_row(s), utc_text(at)) for s in stations],
        )


async def load_stations(db: Database) -> list[Station]:
    rows = await db.fetch_all(f"SELECT {_STATION_COLUMNS} FROM feeds_stations ORDER BY id")  # noqa: S608  # constant columns; values bound
    return [station_from_row(row) for row in rows]


async def get_station(conn: aiosqlite.Connection, station_id: str) -> Station | None:
    async with conn.execute(
        f"SELECT {_STATION_COLUMNS} FROM feeds_stations WHERE id = ?",  # noqa: S608  # constant columns; values bound
        (station_id,),
    ) as cursor:
        row = await cursor.fetchone()
    return None if row is None else station_from_row(row)


async def save_station(conn: aiosqlite.Connection, station: Station, at: datetime) -> None:
    """Insert or replace a station as staff defined it (origin 'api')."""
    placeholders = ", ".join("?" * 17)
    await conn.execute(
        f"INSERT OR REPLACE INTO feeds_stations ({_STATION_COLUMNS}, origin, updated_at)"  # noqa: S608  # constant columns; values bound
        f" VALUES ({placeholders}, 'api', ?)",
        (*station_row(station), utc_text(at)),
    )


# -- readings -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stored:
    """What is already stored at one (station, parameter, instant)."""

    value: float | None
    flag: int
    reasons: str
    source: str
    ingested_at: str
    revision: int


async def stored_values(
    db: Database, station_id: str, parameter: Parameter, first: str, last: str
) -> dict[str, Stored]:
    """Stored readings of one series between two instants (UTC text), keyed by observed_at."""
    rows = await db.fetch_all(
        "SELECT observed_at, value, flag, reasons, source, ingested_at, revision"
        " FROM feeds_readings WHERE station_id = ? AND parameter = ?"
        " AND observed_at BETWEEN ? AND ?",
        (station_id, parameter.value, first, last),
    )
    return {row[0]: Stored(*row[1:]) for row in rows}


_INSERT_READING = (
    "INSERT INTO feeds_readings (station_id, parameter, observed_at, value, flag, reasons,"
    " source, interval_s, ingested_at, revision) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)"
)


_READING_KEY = itemgetter(0, 1, 2)  # feeds_readings' primary key: station, parameter, instant


async def write_readings(
    conn: aiosqlite.Connection, rows: Sequence[tuple[Any, ...]], *, new: bool = False
) -> None:
    """Store readings, each row (station_id, parameter, observed_at, value, flag, reasons,
    source, interval_s, ingested_at) with instants as utc_text and reasons comma-joined.

    Re-delivering a value changes nothing; a new value for a stored instant replaces it, and
    the trigger keeps the old one as a revision; a missing value never erases a stored one.
    Safe however writers interleave.

    `new`: the caller believes nothing is stored at these instants yet, so a plain INSERT is
    tried first (it skips the upsert's conflict handling, a quarter of the cost of a row); if
    some row is there after all, every row goes through the upsert, which the rows already
    inserted pass through unchanged.
    """
    if not rows:
        return
    # In key order: SQLite then inserts into neighbouring pages rather than seeking across the
    # table's B-tree for every row (a batch comes in time order: every station per instant).
    rows = sorted(rows, key=_READING_KEY)
    if new:
        try:
            await conn.executemany(_INSERT_READING, rows)
        except sqlite3.IntegrityError:
            pass
        else:
            return
    await conn.executemany(
        _INSERT_READING + " ON CONFLICT (station_id, parameter, observed_at) DO UPDATE SET"
        " value = excluded.value, flag = excluded.flag, reasons = excluded.reasons,"
        " source = excluded.source, interval_s = excluded.interval_s,"
        " ingested_at = excluded.ingested_at, revision = feeds_readings.revision + 1"
        " WHERE excluded.value IS NOT NULL AND (feeds_readings.value IS NULL"
        " OR abs(feeds_readings.value - excluded.value) > 1e-9)",  # SAME_VALUE
        rows,
    )


# Not a level's suspect value beyond the plausible range (models.RANGE_GUARDED): the SQL twin
# of what the pipeline keeps in a series' history.
_TRUSTED = (
    "NOT (flag = 3 AND instr(reasons, 'gross_range') > 0 AND parameter IN ("
    + ", ".join(f"'{p.value}'" for p in sorted(RANGE_GUARDED))
    + "))"
)


async def recent_points(
    db: Database, station_id: str, parameter: Parameter, since: datetime
) -> list[tuple[datetime, float]]:
    """Non-failing values of one series from `since`, oldest first (QC history, rain totals);
    of a level, none beyond the plausible range (models.RANGE_GUARDED)."""
    rows = await db.fetch_all(
        "SELECT observed_at, value FROM feeds_readings WHERE station_id = ? AND parameter = ?"  # noqa: S608  # constant text; values bound
        " AND observed_at >= ? AND value IS NOT NULL AND flag NOT IN (4, 9)"
        f" AND {_TRUSTED} ORDER BY observed_at",
        (station_id, parameter.value, utc_text(since)),
    )
    return [(parse_utc(row[0]), row[1]) for row in rows]


async def recent_points_of(
    db: Database, wanted: Mapping[tuple[str, Parameter], datetime]
) -> dict[tuple[str, Parameter], tuple[list[tuple[datetime, float]], datetime | None]]:
    """For many series at once: non-failing points from each one's `since`, oldest first, and
    the newest instant stored (any flag). A few queries, however many series."""
    found: dict[tuple[str, Parameter], tuple[list[tuple[datetime, float]], datetime | None]] = {
        key: ([], None) for key in wanted
    }
    stations = sorted({station_id for station_id, _ in wanted})
    earliest = utc_text(min(wanted.values()))
    for first in range(0, len(stations), _IN_CHUNK):
        chunk = stations[first : first + _IN_CHUNK]
        marks = ", ".join("?" * len(chunk))
        newest = await db.fetch_all(
            "SELECT station_id, parameter, max(observed_at) FROM feeds_readings"  # noqa: S608  # placeholders only
            f" WHERE station_id IN ({marks}) GROUP BY station_id, parameter",
            chunk,
        )
        for station_id, parameter, last in newest:
            key = (station_id, Parameter(parameter))
            if key in found:
                found[key] = (found[key][0], parse_utc(last))
        rows = await db.fetch_all(
            "SELECT station_id, parameter, observed_at, value FROM feeds_readings"  # noqa: S608  # placeholders only
            f" WHERE station_id IN ({marks}) AND observed_at >= ? AND value IS NOT NULL"
            f" AND flag NOT IN (4, 9) AND {_TRUSTED} ORDER BY station_id, parameter, observed_at",
            (*chunk, earliest),
        )
        since_text = {key: utc_text(since) for key, since in wanted.items()}
        for station_id, parameter, observed_at, value in rows:
            key = (station_id, Parameter(parameter))
            if key in found and observed_at >= since_text[key]:
                found[key][0].append((parse_utc(observed_at), value))
    return found


def reading_from_row(row: sqlite3.Row) -> Reading:
    return Reading(
        station_id=row["station_id"],
        parameter=Parameter(row["parameter"]),
        observed_at=parse_utc(row["observed_at"]),
        value=row["value"],
        flag=Flag(row["flag"]),
        source=row["source"],
        ingested_at=parse_utc(row["ingested_at"]),
        interval_s=row["interval_s"],
        reasons=tuple(r for r in row["reasons"].split(",") if r),
    )


_READING_COLUMNS = (
    "station_id, parameter, observed_at, value, flag, reasons, source, interval_s, ingested_at"
)


async def latest_readings(db: Database, until: datetime) -> dict[tuple[str, str], Reading]:
    """The newest reading of every series at or before `until` (whatever its flag): a reading
    dated later (a gauge's wrong clock) is not the station's latest."""
    rows = await db.fetch_all(
        f"SELECT {_READING_COLUMNS} FROM feeds_readings r"  # noqa: S608  # constant columns; values bound
        " WHERE observed_at = (SELECT max(observed_at) FROM feeds_readings"
        " WHERE station_id = r.station_id AND parameter = r.parameter AND observed_at <= ?)",
        (utc_text(until),),
    )
    return {(row["station_id"], row["parameter"]): reading_from_row(row) for row in rows}


async def readings_ahead(db: Database, after: datetime) -> dict[tuple[str, str], Reading]:
    """The newest reading of every series dated after `after` (QC flagged them "future")."""
    rows = await db.fetch_all(
        f"SELECT {_READING_COLUMNS} FROM feeds_readings r"  # noqa: S608  # constant columns; values bound
        " WHERE observed_at > ? AND observed_at = (SELECT max(observed_at) FROM feeds_readings"
        " WHERE station_id = r.station_id AND parameter = r.parameter)",
        (utc_text(after),),
    )
    return {(row["station_id"], row["parameter"]): reading_from_row(row) for row in rows}


async def readings_between(
    db: Database,
    station_id: str,
    parameter: Parameter,
    since: datetime,
    until: datetime,
    *,
    limit: int | None = None,
) -> list[Reading]:
    rows = await db.fetch_all(
        f"SELECT {_READING_COLUMNS} FROM feeds_readings WHERE station_id = ? AND parameter = ?"  # noqa: S608  # constant columns; values bound
        " AND observed_at >= ? AND observed_at <= ? ORDER BY observed_at"
        + (" LIMIT ?" if limit is not None else ""),
        (station_id, parameter.value, utc_text(since), utc_text(until))
        + ((limit,) if limit is not None else ()),
    )
    return [reading_from_row(row) for row in rows]


async def count_between(
    db: Database, station_id: str, parameter: Parameter, since: datetime, until: datetime
) -> int:
    row = await db.fetch_one(
        "SELECT count(*) FROM feeds_readings WHERE station_id = ? AND parameter = ?"
        " AND observed_at >= ? AND observed_at <= ?",
        (station_id, parameter.value, utc_text(since), utc_text(until)),
    )
    return int(row[0]) if row else 0


@dataclass(frozen=True, slots=True)
class Bucket:
    start: datetime
    value: float
    minimum: float
    maximum: float
    count: int


async def downsampled(
    db: Database,
    station_id: str,
    parameter: Parameter,
    since: datetime,
    until: datetime,
    bucket_s: int,
) -> list[Bucket]:
    """Non-failing values in fixed buckets from `since`: mean (sum for rainfall), min, max."""
    aggregate = "sum(value)" if parameter is Parameter.rainfall else "avg(value)"
    rows = await db.fetch_all(
        f"SELECT CAST((unixepoch(observed_at) - unixepoch(?)) / ? AS INTEGER) AS slot,"  # noqa: S608  # constant columns; values bound
        f" {aggregate}, min(value), max(value), count(*) FROM feeds_readings"
        " WHERE station_id = ? AND parameter = ? AND observed_at >= ? AND observed_at <= ?"
        " AND value IS NOT NULL AND flag NOT IN (4, 9) GROUP BY slot ORDER BY slot",
        (utc_text(since), bucket_s, station_id, parameter.value, utc_text(since), utc_text(until)),
    )
    return [
        Bucket(since + timedelta(seconds=row[0] * bucket_s), row[1], row[2], row[3], row[4])
        for row in rows
    ]


async def revisions_of(
    db: Database, station_id: str, parameter: Parameter, observed_at: datetime
) -> list[sqlite3.Row]:
    return await db.fetch_all(
        "SELECT revision, value, flag, source, ingested_at, superseded_at"
        " FROM feeds_reading_revisions WHERE station_id = ? AND parameter = ?"
        " AND observed_at = ? ORDER BY revision",
        (station_id, parameter.value, utc_text(observed_at)),
    )


# -- levels and events ----------------------------------------------------------------------


async def load_levels(db: Database) -> dict[tuple[str, EventKind], LevelState]:
    rows = await db.fetch_all("SELECT station_id, kind, level, previous, last_at FROM feeds_levels")
    return {
        (row[0], EventKind(row[1])): LevelState(
            row[2], row[3], parse_utc(row[4]) if row[4] else None
        )
        for row in rows
    }


async def save_levels(
    conn: aiosqlite.Connection, states: Mapping[tuple[str, EventKind], LevelState]
) -> None:
    texts = _TextCache()
    await conn.executemany(
        "INSERT OR REPLACE INTO feeds_levels (station_id, kind, level, previous, last_at)"
        " VALUES (?, ?, ?, ?, ?)",
        [
            (station_id, kind.value, s.level, s.previous, s.last_at and texts(s.last_at))
            for (station_id, kind), s in states.items()
        ],
    )


async def insert_events(
    conn: aiosqlite.Connection, events: Sequence[ThresholdEvent], at: datetime
) -> None:
    texts = _TextCache()
    created_at = utc_text(at)
    await conn.executemany(
        "INSERT INTO feeds_events (station_id, kind, from_level, to_level, value, observed_at,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (
                e.station_id,
                e.kind.value,
                e.from_level,
                e.to_level,
                e.value,
                texts(e.observed_at),
                created_at,
            )
            for e in events
        ],
    )


class _TextCache:
    """utc_text for many values that share a few instants (a batch's), each formatted once."""

    def __init__(self) -> None:
        self._texts: dict[datetime, str] = {}

    def __call__(self, moment: datetime) -> str:
        text = self._texts.get(moment)
        if text is None:
            text = self._texts[moment] = utc_text(moment)
        return text


async def list_events(
    db: Database,
    *,
    station_id: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
) -> list[sqlite3.Row]:
    where, params = ["1 = 1"], []
    if station_id is not None:
        where.append("station_id = ?")
        params.append(station_id)
    if since is not None:
        where.append("observed_at >= ?")
        params.append(utc_text(since))
    return await db.fetch_all(
        "SELECT id, station_id, kind, from_level, to_level, value, observed_at, created_at"  # noqa: S608  # constant columns; values bound
        f" FROM feeds_events WHERE {' AND '.join(where)} ORDER BY observed_at DESC, id DESC"
        " LIMIT ?",
        (*params, limit),
    )


async def crossings_between(db: Database, since: datetime, until: datetime) -> list[sqlite3.Row]:
    """River band crossings upwards observed in [since, until], oldest first (the after-action
    report times each one to its warning)."""
    return await db.fetch_all(
        "SELECT id, station_id, kind, from_level, to_level, value, observed_at, created_at"
        " FROM feeds_events WHERE kind = 'river_band' AND to_level > from_level"
        " AND observed_at >= ? AND observed_at <= ? ORDER BY observed_at, id",
        (utc_text(since), utc_text(until)),
    )


async def reading_span(db: Database) -> tuple[datetime, datetime] | None:
    """The first and last water-level reading's time (None: no reading at all)."""
    row = await db.fetch_one(
        "SELECT min(observed_at), max(observed_at) FROM feeds_readings"
        " WHERE parameter = 'water_level'"
    )
    return (parse_utc(row[0]), parse_utc(row[1])) if row and row[0] else None


# -- forecasts, catalogue ------------------------------------------------------------


async def replace_forecasts(
    conn: aiosqlite.Connection, source: str, forecasts: Iterable[Forecast], issued_at: datetime
) -> int:
    """Store a forecast run; older runs' values for the same hours are replaced."""
    rows = [
        (
            f.source_id,
            f.parameter.value,
            utc_text(f.valid_at),
            f.value,
            f.interval_s,
            source,
            utc_text(issued_at),
        )
        for f in forecasts
    ]
    await conn.executemany(
        "INSERT OR REPLACE INTO feeds_forecasts (station_id, parameter, valid_at, value,"
        " interval_s, source, issued_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    return len(rows)


async def forecasts_between(
    db: Database, station_id: str, since: datetime, until: datetime
) -> list[sqlite3.Row]:
    return await db.fetch_all(
        "SELECT parameter, valid_at, value, interval_s, source, issued_at FROM feeds_forecasts"
        " WHERE station_id = ? AND valid_at > ? AND valid_at <= ? ORDER BY valid_at, parameter",
        (station_id, utc_text(since), utc_text(until)),
    )


async def upsert_catalogue(
    conn: aiosqlite.Connection, source: str, entries: Iterable[CatalogueEntry], at: datetime
) -> None:
    """Remember what each upstream lists; a later, sparser listing does not blank known fields."""
    await conn.executemany(
        "INSERT INTO feeds_catalogue (source, source_id, name, river, lat, lon, details, seen_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (source, source_id) DO UPDATE SET"
        " name = coalesce(nullif(excluded.name, ''), name),"
        " river = coalesce(nullif(excluded.river, ''), river),"
        " lat = coalesce(excluded.lat, lat), lon = coalesce(excluded.lon, lon),"
        " details = json_patch(details, excluded.details), seen_at = excluded.seen_at",
        [
            (
                source,
                e.source_id,
                e.name,
                e.river,
                e.lat,
                e.lon,
                json.dumps(dict(e.details), ensure_ascii=False, default=str),
                utc_text(at),
            )
            for e in entries
        ],
    )


async def list_catalogue(db: Database, source: str) -> list[sqlite3.Row]:
    return await db.fetch_all(
        "SELECT source_id, name, river, lat, lon, details, seen_at FROM feeds_catalogue"
        " WHERE source = ? ORDER BY source_id",
        (source,),
    )
