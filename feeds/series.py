"""One station parameter's series in memory, and the per-reading steps the pipeline runs on it.

The pipeline (feeds/pipeline.py) owns the batches and the transaction; this module holds what a
series is (its route: what every reading of it needs; its recent points and level states) and
the small pure steps of the per-reading loop: moving a level state, rain totals, trimming.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from feeds import levels, quality, store
from feeds.models import Parameter, Thresholds
from feeds.thresholds import EventKind, LevelState, ThresholdEvent, step

# How much of each series is kept in memory: the flat-line test looks back a day, rain totals
# a day; a little more absorbs readings that arrive out of order.
HISTORY = timedelta(hours=30)
DAWN = datetime.min.replace(tzinfo=UTC)
NEVER = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Route:
    """What every reading of one series needs, worked out once per station registry."""

    station_id: str
    parameter: Parameter
    parameter_text: str
    limits: quality.QcLimits
    # The first level kind its readings drive (rain drives intense_rain too); None for none.
    evaluates: EventKind | None
    level_keys: tuple[tuple[str, EventKind], ...]
    edges: tuple[tuple[float, ...], tuple[float, ...]]
    # Other gauges with thresholds on the same river, and how long a reading of each stays fresh.
    peers: tuple[tuple[str, timedelta], ...]
    # Its implausible values stay out of its history (models.RANGE_GUARDED).
    range_guarded: bool
    # What its events carry of the station (feeds owns these facts; staff change them).
    station_name: str
    river: str
    thresholds: Thresholds | None

    @property
    def key(self) -> tuple[str, Parameter]:
        return (self.station_id, self.parameter)


@dataclass(slots=True, eq=False)
class Series:
    """One station's parameter in memory: its recent non-failing points, and its share of the
    batch being worked out (kept here rather than in an object per batch and series)."""

    route: Route
    points: list[tuple[datetime, float]] = field(default_factory=list)
    # The newest instant stored (or written by the batch being worked out).
    newest: datetime | None = None
    # Points are complete from this instant on; nothing is loaded yet at first.
    since: datetime = NEVER
    # The batch's share: its first and last instant, what is stored where it overlaps the
    # series (by observed_at text), and the level states (one per route.level_keys) as it goes.
    first: datetime = DAWN
    last: datetime = DAWN
    stored: dict[str, store.Stored] | None = None
    states: list[LevelState] = field(default_factory=list)
    # The instant and value of the batch's latest reading of the series.
    batch_at: datetime | None = None
    batch_value: float | None = None


def step_series(
    series: Series,
    index: int,
    at: datetime,
    drives: bool,
    raw: int,
    held: int,
    support: int,
    value: float,
    events: list[ThresholdEvent],
) -> None:
    """Move one of the series' level states; a change becomes an event."""
    states = series.states
    states[index], change = step(states[index], raw, held, at, drives, support)
    if change is not None:
        route = series.route
        station_id, kind = route.level_keys[index]
        events.append(
            ThresholdEvent(
                station_id,
                kind,
                change[0],
                change[1],
                round(value, 3),
                at,
                station_name=route.station_name,
                river=route.river,
                thresholds=route.thresholds,
            )
        )


def point_time(point: tuple[datetime, float]) -> datetime:
    return point[0]


def rain_totals_at(points: list[tuple[datetime, float]], at: datetime) -> dict[int, float]:
    """Rain over the 3 and 24 h up to `at`, from the series' non-failing points."""
    end = bisect.bisect_right(points, at, key=point_time)
    start = bisect.bisect_right(points, at - timedelta(hours=24), key=point_time)
    return levels.rain_totals(points[start:end], at, (3, 24))


def level_moved(before: LevelState | None, after: LevelState) -> bool:
    return before is None or (before.level, before.previous) != (after.level, after.previous)


def unchanged(old: float | None, new: float | None) -> bool:
    """A re-delivered value; a gap re-reported where we hold a value never erases it."""
    if new is None:
        return True
    return old is not None and abs(old - new) <= store.SAME_VALUE


def trim(points: list[tuple[datetime, float]]) -> datetime:
    """Drop points older than HISTORY before the newest; returns where the kept ones start."""
    if not points:
        return DAWN
    start = points[-1][0] - HISTORY
    # Usually a batch's few hours fall out at the front: a look at each beats a bisect's calls.
    cut = 0
    while cut < _SCAN and cut < len(points) and points[cut][0] < start:
        cut += 1
    if cut == _SCAN:
        cut = bisect.bisect_left(points, start, key=point_time)
    if cut:
        del points[:cut]
    return start


_SCAN = 8
