"""The ingest pipeline: observations → stations → QC → store → levels → threshold events.

Every source (polled, replayed or pushed) ends here. One batch is one transaction: its readings,
revisions, level states and events commit together, and events reach the bus only after that.
Each series keeps its recent non-failing points in memory (loaded from the database on first
use) so QC and rain totals need no query per reading.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from canhbao.clock import Clock, utc_text
from canhbao.db import Database
from canhbao.events import EventBus
from feeds import levels, quality, store
from feeds.models import FetchResult, Flag, Observation, Parameter, Reading, Station
from feeds.thresholds import EventKind, LevelState, ThresholdEvent, step

log = logging.getLogger(__name__)

# How much of each series is kept in memory: the flat-line test looks back a day, rain totals
# a day; a little more absorbs readings that arrive out of order.
HISTORY = timedelta(hours=30)
# The most earlier points one QC check looks at (a day of 5-minute readings).
QC_LOOKBACK = 300


@dataclass
class _Series:
    """One station's parameter: its recent non-failing points and the newest stored instant."""

    points: list[tuple[datetime, float]]
    newest: datetime | None
    since: datetime  # points are complete from this instant on


@dataclass
class IngestReport:
    """What one batch did."""

    accepted: int = 0
    revised: int = 0
    duplicates: int = 0
    unmatched: int = 0
    forecasts: int = 0
    flags: Counter[int] = field(default_factory=Counter)
    events: list[ThresholdEvent] = field(default_factory=list)
    unmatched_ids: set[str] = field(default_factory=set)


class Pipeline:
    """Turns what sources deliver into stored readings and threshold events."""

    def __init__(self, db: Database, bus: EventBus, clock: Clock) -> None:
        self._db = db
        self._bus = bus
        self._clock = clock
        self._lock = asyncio.Lock()
        self._stations: dict[str, Station] = {}
        self._by_source: dict[tuple[str, str], Station] = {}
        self._by_river: dict[str, list[Station]] = {}
        self._edges: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {}
        self._limits: dict[tuple[str, Parameter], quality.QcLimits] = {}
        self._series: dict[tuple[str, Parameter], _Series] = {}
        self._levels: dict[tuple[str, EventKind], LevelState] = {}
        # The newest driving water-level reading of each station: (observed_at, band).
        self._river_latest: dict[str, tuple[datetime, int]] = {}
        self._forgotten = False

    async def start(self) -> None:
        self.set_stations(await store.load_stations(self._db))
        self._levels = await store.load_levels(self._db)

    def set_stations(self, stations: Iterable[Station]) -> None:
        """Adopt a changed station registry; cached QC limits follow it."""
        self._stations = {s.id: s for s in stations}
        self._by_source = {(s.source, s.source_id): s for s in self._stations.values()}
        # Each river station's band edges, and the same lowered by its hysteresis.
        self._edges = {
            s.id: (
                s.thresholds.levels(),
                levels.lowered(s.thresholds, s.hysteresis_m),
            )
            for s in self._stations.values()
            if s.thresholds is not None
        }
        self._by_river = {}
        for s in self._stations.values():
            if s.river and s.thresholds is not None:
                self._by_river.setdefault(s.river, []).append(s)
        self._limits = {
            (s.id, p): quality.limits_for(s, p)
            for s in self._stations.values()
            for p in s.parameters
        }

    @property
    def stations(self) -> dict[str, Station]:
        return dict(self._stations)

    def level(self, station_id: str, kind: EventKind) -> LevelState:
        return self._levels.get((station_id, kind), LevelState())

    async def ingest(
        self, source: str, result: FetchResult, *, by_station_id: bool = False
    ) -> IngestReport:
        """Store one fetch's observations and forecasts; raise events; returns what it did.

        `by_station_id`: the observations name our station ids (pushes, replays), not the
        upstream's.
        """
        async with self._lock:
            if self._forgotten:
                self._levels = await store.load_levels(self._db)
                self._forgotten = False
            try:
                return await self._ingest(source, result, by_station_id)
            except BaseException:
                # The transaction rolled back, so memory may be ahead of the database: forget
                # it; series reload on use, and levels before the next batch.
                self._series.clear()
                self._river_latest.clear()
                self._forgotten = True
                raise

    async def _ingest(self, source: str, result: FetchResult, by_station_id: bool) -> IngestReport:
        now = self._clock.now()
        received_at = result.received_at or now
        report = IngestReport()
        groups = self._group(source, result.observations, by_station_id, report)
        await self._load_series(groups)

        ingested = utc_text(now)
        texts: dict[datetime, str] = {}  # many readings of a batch share an instant
        rows: list[tuple[object, ...]] = []
        fresh: list[tuple[Reading, dict[int, float] | None]] = []
        for (station_id, parameter), observations in groups.items():
            observations.sort(key=_observed)
            series = self._series[(station_id, parameter)]
            first, last = observations[0].observed_at, observations[-1].observed_at
            stored: dict[str, store.Stored] = {}
            if series.newest is not None and first <= series.newest:
                stored = await store.stored_values(
                    self._db, station_id, parameter, utc_text(first), utc_text(last)
                )
            limits = self._limits[(station_id, parameter)]
            points = series.points
            rainfall = parameter is Parameter.rainfall
            for observation in observations:
                at = observation.observed_at
                key = texts.get(at)
                if key is None:
                    key = texts[at] = utc_text(at)
                old = stored.get(key) if stored else None
                if old is not None and _unchanged(old.value, observation.value):
                    # Known already: the database would ignore it too; skip QC and events.
                    report.duplicates += 1
                    continue
                reading = self._check(
                    observation, station_id, source, limits, points, received_at, now
                )
                report.flags[reading.flag] += 1
                rows.append(store.reading_row(reading, key, ingested))
                if old is None:
                    report.accepted += 1
                else:
                    report.revised += 1
                _remember(points, reading)
                fresh.append((reading, _rain_totals(points, reading) if rainfall else None))
            if series.newest is None or last > series.newest:
                series.newest = last
            series.since = max(series.since, _trim(points))

        fresh.sort(key=_reading_observed)
        changed: dict[tuple[str, EventKind], LevelState] = {}
        for reading, rain in fresh:
            report.events.extend(self._evaluate(reading, rain, changed))

        async with self._db.transaction() as conn:
            await store.write_readings(conn, rows)
            if report.events:
                await store.insert_events(conn, report.events, now)
            # Only states whose level or pending level moved are written: last_at alone moves
            # with every reading, and after a restart readings already stored are skipped as
            # duplicates before they reach a level anyway.
            moved = {k: v for k, v in changed.items() if _moved(self._levels.get(k), v)}
            if moved:
                await store.save_levels(conn, moved)
            if result.forecasts:
                report.forecasts = await store.replace_forecasts(
                    conn, source, result.forecasts, now
                )
            if result.catalogue:
                await store.upsert_catalogue(conn, source, result.catalogue, now)
        self._levels.update(changed)
        for event in report.events:
            log.info(
                "threshold event",
                extra={
                    "station_id": event.station_id,
                    "kind": event.kind.value,
                    "from_level": event.from_level,
                    "to_level": event.to_level,
                    "value": event.value,
                    "observed_at": utc_text(event.observed_at),
                },
            )
            await self._bus.publish(event)
        return report

    def _group(
        self,
        source: str,
        observations: Iterable[Observation],
        by_station_id: bool,
        report: IngestReport,
    ) -> dict[tuple[str, Parameter], list[Observation]]:
        """Observations by our (station, parameter); those of no station are counted, not kept."""
        groups: dict[tuple[str, Parameter], list[Observation]] = {}
        for observation in observations:
            station = (
                self._stations.get(observation.source_id)
                if by_station_id
                else self._by_source.get((source, observation.source_id))
            )
            if station is None or observation.parameter not in station.parameters:
                report.unmatched += 1
                report.unmatched_ids.add(observation.source_id)
                continue
            key = (station.id, observation.parameter)
            group = groups.get(key)
            if group is None:
                groups[key] = [observation]
            else:
                group.append(observation)
        return groups

    def _check(
        self,
        observation: Observation,
        station_id: str,
        source: str,
        limits: quality.QcLimits,
        points: list[tuple[datetime, float]],
        received_at: datetime,
        now: datetime,
    ) -> Reading:
        at = observation.observed_at
        end = len(points)
        if end and points[-1][0] >= at:
            end = bisect.bisect_left(points, at, key=_time)
        flag, reasons = quality.check(
            observation.value,
            at,
            observation.received_at or received_at,
            points[max(0, end - QC_LOOKBACK) : end],
            limits,
            interval_s=observation.interval_s,
        )
        if observation.note:
            reasons = (*reasons, observation.note)
        return Reading(
            station_id=station_id,
            parameter=observation.parameter,
            observed_at=at,
            value=observation.value,
            flag=flag,
            source=source,
            ingested_at=now,
            interval_s=observation.interval_s,
            reasons=reasons,
        )

    async def _load_series(self, groups: Mapping[tuple[str, Parameter], list[Observation]]) -> None:
        """Load, in a few queries, the history of every series a batch reaches back beyond."""
        wanted: dict[tuple[str, Parameter], datetime] = {}
        for key, observations in groups.items():
            since = min(o.observed_at for o in observations) - HISTORY
            series = self._series.get(key)
            if series is None or since < series.since:
                wanted[key] = since
        if not wanted:
            return
        found = await store.recent_points_of(self._db, wanted)
        for key, since in wanted.items():
            points, newest = found.get(key, ([], None))
            self._series[key] = _Series(points, newest, since)

    # -- levels and events --------------------------------------------------------------------

    def _evaluate(
        self,
        reading: Reading,
        rain: dict[int, float] | None,
        changed: dict[tuple[str, EventKind], LevelState],
    ) -> list[ThresholdEvent]:
        station_id = reading.station_id
        value = reading.value
        drives = reading.drives_alarms
        edges = self._edges.get(station_id)
        if reading.parameter is Parameter.water_level and edges is not None:
            raw = held = support = 0
            if drives and value is not None:
                raw = bisect.bisect_right(edges[0], value)
                held = bisect.bisect_right(edges[1], value)
                support = self._corroboration(self._stations[station_id], reading.observed_at)
                self._river_latest[station_id] = (reading.observed_at, raw)
            return self._step(
                reading, drives, EventKind.river_band, raw, held, support, value or 0.0, changed
            )
        if reading.parameter is Parameter.rainfall and rain is not None:
            totals = rain
            day = int(levels.rain_category_24h(totals[24]))
            intense = int(levels.intense_rain(totals[3]))
            return [
                *self._step(reading, drives, EventKind.rain, day, day, day, totals[24], changed),
                *self._step(
                    reading,
                    drives,
                    EventKind.intense_rain,
                    intense,
                    intense,
                    intense,
                    totals[3],
                    changed,
                ),
            ]
        if reading.parameter in (Parameter.wind_speed, Parameter.wind_gust):
            category = int(levels.wind_category(levels.cap_gio(value or 0.0)))
            kind = EventKind.wind if reading.parameter is Parameter.wind_speed else EventKind.gust
            # Wind is gusty: a category is entered on two readings, never on one.
            return self._step(reading, drives, kind, category, category, 0, value or 0.0, changed)
        return []

    def _step(
        self,
        reading: Reading,
        drives: bool,
        kind: EventKind,
        raw: int,
        held: int,
        support: int,
        value: float,
        changed: dict[tuple[str, EventKind], LevelState],
    ) -> list[ThresholdEvent]:
        key = (reading.station_id, kind)
        state = changed.get(key) or self._levels.get(key) or LevelState()
        new_state, change = step(
            state,
            raw=raw,
            held=held,
            observed_at=reading.observed_at,
            drives=drives,
            support=support,
        )
        if new_state != state:
            changed[key] = new_state
        if change is None:
            return []
        return [
            ThresholdEvent(
                reading.station_id, kind, change[0], change[1], round(value, 3), reading.observed_at
            )
        ]

    def _corroboration(self, station: Station, at: datetime) -> int:
        """The highest band another fresh gauge on the same river shows at this moment."""
        best = 0
        for other in self._by_river.get(station.river, ()):
            if other.id == station.id:
                continue
            latest = self._river_latest.get(other.id)
            if latest is None:
                continue
            window = timedelta(seconds=other.reporting_period_s * quality.STALE_PERIODS)
            if abs(at - latest[0]) <= window:
                best = max(best, latest[1])
        return best


def _time(point: tuple[datetime, float]) -> datetime:
    return point[0]


def _observed(observation: Observation) -> datetime:
    return observation.observed_at


def _reading_observed(item: tuple[Reading, dict[int, float] | None]) -> datetime:
    return item[0].observed_at


def _rain_totals(points: list[tuple[datetime, float]], reading: Reading) -> dict[int, float]:
    """Rain over the 3 and 24 h up to this reading, from the series' non-failing points."""
    at = reading.observed_at
    end = bisect.bisect_right(points, at, key=_time)
    start = bisect.bisect_right(points, at - timedelta(hours=24), key=_time)
    return levels.rain_totals(points[start:end], at, (3, 24))


def _moved(before: LevelState | None, after: LevelState) -> bool:
    return before is None or (before.level, before.previous) != (after.level, after.previous)


def _unchanged(old: float | None, new: float | None) -> bool:
    """A re-delivered value; a gap re-reported where we hold a value never erases it."""
    if new is None:
        return True
    return old is not None and abs(old - new) <= store.SAME_VALUE


def _remember(points: list[tuple[datetime, float]], reading: Reading) -> None:
    """Keep a non-failing value in the series' history, in time order, replacing a revision."""
    at = reading.observed_at
    index = bisect.bisect_left(points, at, key=_time)
    if index < len(points) and points[index][0] == at:
        del points[index]
    if reading.value is None or reading.flag in (Flag.fail, Flag.missing):
        return
    if index == len(points):
        points.append((at, reading.value))
    else:
        points.insert(index, (at, reading.value))


def _trim(points: list[tuple[datetime, float]]) -> datetime:
    """Drop points older than HISTORY before the newest; returns where the kept ones start."""
    if not points:
        return datetime.min.replace(tzinfo=UTC)
    start = points[-1][0] - HISTORY
    cut = bisect.bisect_left(points, start, key=_time)
    if cut:
        del points[:cut]
    return start
