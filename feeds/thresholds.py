"""Threshold events: a station entering or leaving a band or category, with confirmation rules.

One small state machine, `step`, serves every kind of level:

- a rise is confirmed by two consecutive driving readings above the current level (to the lower
  of the two), or at once by `support` — another station on the same river already at that band
  (river levels), or the reading itself for rain totals, which are sums and need no second look;
- a fall needs two consecutive driving readings below the level *after* lowering every threshold
  by the hysteresis margin (default 0.10 m for rivers);
- a reading that does not drive alarms (QC fail, missing, stale) never moves a level and breaks
  the run of consecutive readings, but it does not move the state's clock either: a reading
  dated a year ahead (flagged "future") must not make every genuine reading after it look old;
- a driving reading older than the last driving one is ignored (backfill and revisions never
  replay history as fresh news).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, NamedTuple

from canhbao.clock import parse_utc, utc_text
from canhbao.eventlog import EventType
from feeds import levels
from feeds.models import Thresholds


class EventKind(StrEnum):
    river_band = "river_band"  # báo động band 0-4
    rain = "rain"  # rain category over the last 24 h (levels.RainCategory)
    intense_rain = "intense_rain"  # 0/1: over 100 mm in 3 h
    wind = "wind"  # sustained wind category (levels.WindCategory)
    gust = "gust"  # gust category (levels.WindCategory of the gust's cấp gió)


@dataclass(frozen=True, slots=True)
class ThresholdEvent:
    """A station's level of one kind changed: stored with its readings, in the durable event log
    (THRESHOLD_CROSSED) and then published on the in-process bus."""

    station_id: str
    kind: EventKind
    from_level: int
    to_level: int
    value: float
    observed_at: datetime
    # The station's facts at the time of the event, from the feeds domain's stored stations (the
    # one owner): other domains quote them from the event, never from config.toml.
    station_name: str = ""
    river: str = ""
    thresholds: Thresholds | None = None

    @property
    def direction(self) -> Literal["up", "down"]:
        return "up" if self.to_level > self.from_level else "down"


# A batch's events share a few instants: each is formatted once (a datetime hashes by instant).
_instant_text = functools.lru_cache(maxsize=256)(utc_text)


def _encode(event: ThresholdEvent) -> dict[str, Any]:
    t = event.thresholds
    return {
        "station_id": event.station_id,
        "kind": event.kind.value,
        "from_level": event.from_level,
        "to_level": event.to_level,
        "value": event.value,
        "observed_at": _instant_text(event.observed_at),
        "station_name": event.station_name,
        "river": event.river,
        "thresholds": None if t is None else [t.bao_dong1, t.bao_dong2, t.bao_dong3, t.historic],
    }


def _decode(payload: Mapping[str, Any]) -> ThresholdEvent:
    t = payload["thresholds"]
    return ThresholdEvent(
        station_id=payload["station_id"],
        kind=EventKind(payload["kind"]),
        from_level=payload["from_level"],
        to_level=payload["to_level"],
        value=payload["value"],
        observed_at=parse_utc(payload["observed_at"]),
        station_name=payload["station_name"],
        river=payload["river"],
        thresholds=None if t is None else Thresholds(*t),
    )


# Threshold events in the durable event log (canhbao.eventlog): written in the transaction that
# stores the readings causing them, so no crash can lose one.
THRESHOLD_CROSSED: EventType[ThresholdEvent] = EventType("feeds.threshold", _encode, _decode)


class LevelState(NamedTuple):
    """Where one station's level of one kind stands.

    Immutable; a NamedTuple rather than a frozen dataclass because every reading makes a new
    one (last_at moves), and a tuple is built twice as fast.
    """

    level: int = 0
    # The level the last driving reading pointed to, when it was outside the current level.
    previous: int | None = None
    # observed_at of the newest driving reading; older readings do not move the level.
    last_at: datetime | None = None


def step(
    state: LevelState,
    raw: int,
    held: int,
    observed_at: datetime,
    drives: bool,
    support: int = 0,
) -> tuple[LevelState, tuple[int, int] | None]:
    """Feed one reading; returns the new state and (from, to) when the level changed.

    `raw` is the reading's level, `held` its level with hysteresis (held >= raw), `support` the
    level an independent source vouches for right now (0 for none). A reading older than the
    last one seen returns `state` itself.
    """
    last_at = state.last_at
    if last_at is not None and observed_at <= last_at:
        return state, None
    level = state.level
    if not drives:
        # Breaks the run, keeps the clock: only readings that may alarm say what time it is.
        return (state if state.previous is None else LevelState(level, None, last_at)), None
    previous = state.previous
    new = level
    if raw > level:
        confirmed = min(raw, support)
        if previous is not None and previous > level:
            confirmed = max(confirmed, min(raw, previous))
        new = max(level, confirmed)
    elif held < level and previous is not None and previous < level:
        new = max(held, previous)
    pending = raw if raw > new else held if held < new else None
    # tuple.__new__ directly: the NamedTuple's own constructor is a Python function, and this
    # runs once per reading.
    return _new_state(LevelState, (new, pending, observed_at)), (
        (level, new) if new != level else None
    )


_new_state = tuple.__new__


def river_levels(value: float, thresholds: Thresholds, hysteresis: float) -> tuple[int, int]:
    """(raw, held) bands of a water level."""
    return (
        levels.band(value, thresholds),
        levels.band_with_hysteresis(value, thresholds, hysteresis),
    )


def band_name(band: int) -> str:
    return ("dưới BĐ I", "BĐ I", "BĐ II", "BĐ III", "trên lũ lịch sử")[band]
