"""The ingest pipeline: observations → stations → QC → store → levels → threshold events.

Every source (polled, replayed or pushed) ends here. One batch is one transaction: its readings,
revisions, level states and events commit together, the events also in the durable event log
(canhbao.eventlog) that other domains consume from; they reach the in-process bus after that.
Each series keeps its recent non-failing points in memory (loaded from the database on first
use) so QC and rain totals need no query per reading. A batch's rows are written and committed
while the next batch is checked (Pipeline.ingest says how a failed one is undone); the
per-reading loop avoids objects and lookups it can (bench.feeds measures it).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import attrgetter

import aiosqlite

from canhbao.clock import Clock, utc_text
from canhbao.db import Database
from canhbao.eventlog import EventLog
from canhbao.events import EventBus
from feeds import levels, quality, store
from feeds.models import (
    FetchResult,
    Flag,
    Observation,
    Parameter,
    Station,
)
from feeds.routing import Routing
from feeds.series import (
    HISTORY,
    Series,
    level_moved,
    point_time,
    rain_totals_at,
    step_series,
    trim,
    unchanged,
)
from feeds.thresholds import THRESHOLD_CROSSED, EventKind, LevelState, ThresholdEvent

log = logging.getLogger(__name__)

# The most earlier points one QC check looks at (a day of 5-minute readings).
QC_LOOKBACK = 300


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


@dataclass(frozen=True, slots=True)
class _Writes:
    """A batch worked out in memory: what its transaction writes, and what it did."""

    report: IngestReport
    changed: dict[tuple[str, EventKind], LevelState]
    new_rows: list[tuple[object, ...]]  # at instants nothing is stored at yet
    other_rows: list[tuple[object, ...]]  # revisions, re-deliveries, backfill
    moved: dict[tuple[str, EventKind], LevelState]  # level states to store
    result: FetchResult  # its forecasts and catalogue
    now: datetime


class Pipeline:
    """Turns what sources deliver into stored readings and threshold events."""

    def __init__(self, db: Database, bus: EventBus, clock: Clock, events: EventLog) -> None:
        self._db = db
        self._bus = bus
        self._events = events
        self._clock = clock
        self._lock = asyncio.Lock()
        self._routing = Routing()
        self._series: dict[tuple[str, Parameter], Series] = {}
        self._levels: dict[tuple[str, EventKind], LevelState] = {}
        # The newest driving water-level reading of each river gauge with peers: (at, band).
        self._river_latest: dict[str, tuple[datetime, int]] = {}
        self._forgotten = False
        # Bumped whenever memory is forgotten: a batch worked out before that is stale.
        self._generation = 0
        # The latest batch's COMMIT once it is over (what the next batch reads must include
        # it), and its events once published (the next batch publishes after them).
        self._landing: asyncio.Event | None = None
        self._published: asyncio.Event | None = None

    async def start(self) -> None:
        self.set_stations(await store.load_stations(self._db))
        self._levels = await store.load_levels(self._db)

    def set_stations(self, stations: Iterable[Station]) -> None:
        """Adopt a changed station registry; cached QC limits and routes follow it."""
        self._routing.set_stations(stations)

    @property
    def stations(self) -> dict[str, Station]:
        return self._routing.stations

    def level(self, station_id: str, kind: EventKind) -> LevelState:
        return self._levels.get((station_id, kind), LevelState())

    async def recent_water_levels(
        self, station_id: str, since: datetime
    ) -> list[tuple[datetime, float]]:
        """A station's non-failing water levels observed from `since` up to now, oldest first:
        what other domains read (the hotline speaks them), never the tables themselves."""
        now = self._clock.now()
        points = await store.recent_points(self._db, station_id, Parameter.water_level, since)
        return [point for point in points if point[0] <= now]

    async def recent_rainfall(
        self, station_id: str, since: datetime
    ) -> list[tuple[datetime, float]]:
        """A rain gauge's non-failing amounts (mm, each fallen over its interval ending at its
        time) observed from `since` up to now, oldest first: what the public pages total."""
        now = self._clock.now()
        points = await store.recent_points(self._db, station_id, Parameter.rainfall, since)
        return [point for point in points if point[0] <= now]

    async def ingest(
        self, source: str, result: FetchResult, *, by_station_id: bool = False
    ) -> IngestReport:
        """Store one fetch's observations and forecasts; raise events; returns what it did.

        `by_station_id`: the observations name our station ids (pushes, replays), not the
        upstream's.

        Batches from concurrent callers overlap by one step: a batch holds the lock only to be
        checked in memory and to open its transaction, so while its rows are written and
        committed in the database thread (SQLite releases the GIL), the next is checked on top
        of it. Should a write or the COMMIT fail, memory is forgotten and the later batch is
        worked out again. Events reach the bus after their batch commits, in commit order.
        """
        published: asyncio.Event | None = None
        previous: asyncio.Event | None = None
        landed: asyncio.Event | None = None
        try:
            async with contextlib.AsyncExitStack() as transaction:
                async with self._lock:
                    conn, writes = await self._work_out(transaction, source, result, by_station_id)
                    report, changed = writes.report, writes.changed
                    # What the database holds until this batch commits (no later batch moves
                    # a level before then: it opens its transaction first).
                    undo = {key: self._levels.get(key) for key in changed}
                    self._levels.update(changed)
                    generation = self._generation
                    previous, published = self._published, asyncio.Event()
                    landed = self._landing = asyncio.Event()
                    self._published = published
                # The lock is free: the next batch is checked while this one is written (in
                # the database's thread) and committed on leaving this block.
                await self._write(conn, source, writes)
        except BaseException:
            if landed is not None and published is not None:
                # The writes or the COMMIT failed (a batch that failed before it forgot
                # memory already).
                landed.set()
                if generation == self._generation:
                    for key, state in undo.items():
                        if state is None:
                            del self._levels[key]
                        else:
                            self._levels[key] = state
                    self._forget()
                try:
                    if previous is not None:
                        await previous.wait()
                finally:
                    published.set()
            raise
        landed.set()
        if report.events:
            self._events.committed()
        try:
            if previous is not None:
                await previous.wait()
            await self._publish(report.events)
        finally:
            published.set()
        return report

    async def _work_out(
        self,
        transaction: contextlib.AsyncExitStack,
        source: str,
        result: FetchResult,
        by_station_id: bool,
    ) -> tuple[aiosqlite.Connection, _Writes]:
        """Check a batch in memory and open `transaction` for its writes."""
        while True:
            if self._forgotten:
                await self._landed()
                self._levels = await store.load_levels(self._db)
                self._forgotten = False
            generation = self._generation
            try:
                outcome = await self._ingest(transaction, generation, source, result, by_station_id)
            except BaseException:
                # The transaction will roll back, so memory may be ahead of the database:
                # forget it; series reload on use, levels before the next batch.
                self._forget()
                raise
            if outcome is not None:
                return outcome
            # The batch before this one failed to commit after this one was worked out on top
            # of it. Nothing is written yet: close the empty transaction and start again.
            await transaction.aclose()
            self._forget()

    async def _landed(self) -> None:
        """Wait for the batch before to be committed (or rolled back): a read must see it."""
        if self._landing is not None:
            await self._landing.wait()

    def _forget(self) -> None:
        self._generation += 1
        self._series.clear()
        self._river_latest.clear()
        self._forgotten = True

    async def _publish(self, events: list[ThresholdEvent]) -> None:
        logs = log.isEnabledFor(logging.INFO)
        for event in events:
            if logs:
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

    async def _ingest(
        self,
        transaction: contextlib.AsyncExitStack,
        generation: int,
        source: str,
        result: FetchResult,
        by_station_id: bool,
    ) -> tuple[aiosqlite.Connection, _Writes] | None:
        """Work out a batch and open `transaction` (the caller writes and commits); returns the
        open connection and what to write, or None when memory was forgotten meanwhile (the
        batch before failed to commit)."""
        now = self._clock.now()
        received_at = result.received_at or now
        report = IngestReport()
        # Time order across stations: corroboration between gauges on one river, and the order
        # of events, follow observed_at; a source's own order is usually this one already.
        observations = sorted(result.observations, key=_OBSERVED)
        shares, touched = self._shares(source, observations, by_station_id, report)
        await self._load_series(touched)

        # The loop below runs once per reading: names it uses are bound locally.
        assess, bisect_right, river_band, rain = (
            quality.assess,
            bisect.bisect_right,
            EventKind.river_band,
            EventKind.rain,
        )
        ingested = utc_text(now)
        texts: dict[datetime, str] = {}  # many readings of a batch share an instant
        new_rows: list[tuple[object, ...]] = []  # at instants nothing is stored at yet
        other_rows: list[tuple[object, ...]] = []  # revisions, re-deliveries, backfill
        events = report.events
        counts = [0] * 10  # by QARTOD flag
        accepted = revised = duplicates = 0
        for observation, series in zip(observations, shares, strict=True):
            if series is None:
                continue
            at = observation.observed_at
            text = texts.get(at)
            if text is None:
                text = texts[at] = utc_text(at)
            value = observation.value
            if at == series.batch_at:
                # The batch holds this instant twice (its share is in time order): the second
                # is a duplicate, or a revision of the first, as it would be in a later batch.
                if unchanged(series.batch_value, value):
                    duplicates += 1
                    continue
                old: store.Stored | None = _IN_BATCH
            else:
                old = series.stored.get(text) if series.stored else None
                if old is not None and unchanged(old.value, value):
                    # Known already: the database would ignore it too; skip QC and events.
                    duplicates += 1
                    continue
            series.batch_at, series.batch_value = at, value
            route = series.route
            points = series.points
            end = len(points)
            if end and points[-1][0] >= at:
                end = bisect.bisect_left(points, at, key=point_time)
            flag, reasons = assess(
                value,
                at,
                (observation.received_at or received_at) - at,
                points,
                end - QC_LOOKBACK if end > QC_LOOKBACK else 0,
                end,
                route.limits,
                observation.interval_s,
            )
            if observation.note:
                reasons = (*reasons, observation.note)
            counts[flag] += 1
            row = (
                route.station_id,
                route.parameter_text,
                text,
                value,
                int(flag),
                ",".join(reasons) if reasons else "",
                source,
                observation.interval_s,
                ingested,
            )
            if old is None:
                accepted += 1
            else:
                revised += 1
            if series.newest is None or at > series.newest:
                series.newest = at
                new_rows.append(row)
            else:
                other_rows.append(row)
            # The series' history keeps non-failing values in time order; a revision replaces.
            # A level beyond the plausible range stays out of it (models.RANGE_GUARDED).
            point = (
                (at, value)
                if value is not None
                and flag < _FAIL
                and not (route.range_guarded and flag == _SUSPECT and "gross_range" in reasons)
                else None
            )
            if end == len(points):
                if point is not None:
                    points.append(point)
            else:
                if points[end][0] == at:
                    del points[end]
                if point is not None:
                    points.insert(end, point)

            # Levels and events: only fresh readings that did not fail QC drive them.
            kind = route.evaluates
            if kind is None:
                continue
            drives = point is not None and "stale" not in reasons
            if kind is river_band:
                raw = held = support = 0
                if point is not None and drives:
                    lower, held_edges = route.edges
                    raw = bisect_right(lower, point[1])
                    held = bisect_right(held_edges, point[1])
                    if route.peers:
                        support = self._corroboration(route.peers, at)
                        self._river_latest[route.station_id] = (at, raw)
                step_series(series, 0, at, drives, raw, held, support, value or 0.0, events)
            elif kind is rain:
                totals = rain_totals_at(points, at)
                day = int(levels.rain_category_24h(totals[24]))
                intense = int(levels.intense_rain(totals[3]))
                # Rain totals are sums: one reading is enough to enter a category.
                step_series(series, 0, at, drives, day, day, day, totals[24], events)
                step_series(series, 1, at, drives, intense, intense, intense, totals[3], events)
            else:
                category = int(levels.wind_category(levels.cap_gio(value or 0.0)))
                # Wind is gusty: a category is entered on two readings, never on one.
                step_series(series, 0, at, drives, category, category, 0, value or 0.0, events)
        report.accepted, report.revised, report.duplicates = accepted, revised, duplicates
        report.flags.update({_FLAGS[i]: n for i, n in enumerate(counts) if n})

        changed: dict[tuple[str, EventKind], LevelState] = {}
        for series in touched:
            series.since = max(series.since, trim(series.points))
            series.stored = None
            for key, state in zip(series.route.level_keys, series.states, strict=True):
                if state is not self._levels.get(key, _AT_REST):
                    changed[key] = state

        # Only states whose level or pending level moved are written: last_at alone moves with
        # every reading, and after a restart readings already stored are skipped as duplicates
        # before they reach a level anyway.
        moved = {k: v for k, v in changed.items() if level_moved(self._levels.get(k), v)}
        # This waits for the batch before to commit.
        conn = await transaction.enter_async_context(self._db.transaction())
        if generation != self._generation:
            return None
        return conn, _Writes(report, changed, new_rows, other_rows, moved, result, now)

    async def _write(self, conn: aiosqlite.Connection, source: str, writes: _Writes) -> None:
        """A worked-out batch's rows, inside its open transaction."""
        report, now, result = writes.report, writes.now, writes.result
        await store.write_readings(conn, writes.new_rows, new=True)
        await store.write_readings(conn, writes.other_rows)
        if report.events:
            await store.insert_events(conn, report.events, now)
            # The durable copy other domains act on, committed with the readings that cause it.
            await self._events.append(conn, THRESHOLD_CROSSED, report.events)
        if writes.moved:
            await store.save_levels(conn, writes.moved)
        if result.forecasts:
            report.forecasts = await store.replace_forecasts(conn, source, result.forecasts, now)
        if result.catalogue:
            await store.upsert_catalogue(conn, source, result.catalogue, now)

    def _shares(
        self,
        source: str,
        observations: Iterable[Observation],
        by_station_id: bool,
        report: IngestReport,
    ) -> tuple[list[Series | None], list[Series]]:
        """Each observation's series (None for those of no station: counted, not kept), and the
        series the batch touches, each told the first and last instant of its share."""
        routing = self._routing
        routes = routing.routes(source, by_station_id)
        found: dict[tuple[str, Parameter], Series] = {}
        shares: list[Series | None] = []
        for observation in observations:
            key = (observation.source_id, observation.parameter)
            series = found.get(key)
            if series is None:
                if key in routes:
                    route = routes[key]
                else:
                    route = routes[key] = routing.route(source, key, by_station_id)
                if route is None:
                    report.unmatched += 1
                    report.unmatched_ids.add(observation.source_id)
                    shares.append(None)
                    continue
                series = self._series.get(route.key)
                if series is None:
                    series = self._series[route.key] = Series(route)
                # A changed station registry makes new routes; the series follows.
                series.route = route
                series.first = observation.observed_at
                series.stored = None
                series.batch_at = None
                found[key] = series
            series.last = observation.observed_at
            shares.append(series)
        return shares, list(found.values())

    async def _load_series(self, touched: list[Series]) -> None:
        """Load, in a few queries, the history of every series the batch reaches back beyond,
        and what is stored where the batch overlaps a series; start each one's level states."""
        wanted: dict[tuple[str, Parameter], datetime] = {}
        for series in touched:
            since = series.first - HISTORY
            if since < series.since:
                wanted[series.route.key] = since
        found: dict[tuple[str, Parameter], tuple[list[tuple[datetime, float]], datetime | None]]
        found = {}
        if wanted:
            await self._landed()
            found = await store.recent_points_of(self._db, wanted)
        for series in touched:
            route = series.route
            reload = wanted.get(route.key)
            if reload is not None:
                series.points, series.newest = found.get(route.key, ([], None))
                series.since = reload
            # Filled in place: a new list per series and batch would be garbage the collector
            # keeps walking.
            states = series.states
            if len(states) != len(route.level_keys):
                states = series.states = [_AT_REST] * len(route.level_keys)
            for index, key in enumerate(route.level_keys):
                states[index] = self._levels.get(key, _AT_REST)
            if series.newest is not None and series.first <= series.newest:
                await self._landed()
                series.stored = await store.stored_values(
                    self._db,
                    route.station_id,
                    route.parameter,
                    utc_text(series.first),
                    utc_text(series.last),
                )

    # -- levels and events --------------------------------------------------------------------

    def _corroboration(self, peers: tuple[tuple[str, timedelta], ...], at: datetime) -> int:
        """The highest band another fresh gauge on the same river shows at this moment."""
        best = 0
        for peer_id, window in peers:
            latest = self._river_latest.get(peer_id)
            if latest is not None and abs(at - latest[0]) <= window:
                best = max(best, latest[1])
        return best


_OBSERVED = attrgetter("observed_at")
_FAIL, _SUSPECT = Flag.fail, Flag.suspect
_FLAGS = {int(flag): flag for flag in Flag}
_AT_REST = LevelState()
# What an earlier reading of the same batch at the same instant counts as: something stored.
_IN_BATCH = store.Stored(None, int(Flag.missing), "", "", "", 0)
