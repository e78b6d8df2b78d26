"""Replay: a CSV in the shared VNDMS-derived format, played back at a configurable speed.

The replay keeps each reading's real observed time and plays its own clock: `speed` seconds of
the recording per second of ours, from the first row (or `start`). Each reading counts as
received when it was observed, as it was live, however many hours one poll catches up on.
The shared file's "Thời gian (UTC)" column holds local time (GMT+7) despite its name; it is
read as such.
"""

from __future__ import annotations

import asyncio
import csv
import io
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import attrgetter
from pathlib import Path

from canhbao.clock import LOCAL_TZ
from canhbao.config import ReplayConfig
from feeds.errors import PayloadInvalid
from feeds.models import FetchResult, Observation, Parameter, number

NAME = "replay"
STATION = "Mã trạm/LakeCode"
TIME = "Thời gian (UTC)"
LEVEL = "Mực nước (m)"
_PARAMETERS = {"River": Parameter.water_level}


def parse(text: str) -> tuple[tuple[Observation, ...], tuple[str, ...]]:
    """The CSV's rows as observations, oldest first; source ids are the VNDMS station codes."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = next(reader, [])
    missing = {STATION, TIME, LEVEL} - set(header)
    if missing:
        raise PayloadInvalid(f"replay CSV: missing columns {sorted(missing)}")
    station_at, time_at, level_at = header.index(STATION), header.index(TIME), header.index(LEVEL)
    type_at = header.index("type") if "type" in header else None
    width = len(header)
    quirks: list[str] = []
    # Every station shares the same hours: each time text is parsed once, and the rows are
    # ordered by collecting them per instant rather than by sorting them all.
    times: dict[str, datetime] = {}
    by_time: dict[datetime, list[Observation]] = {}
    codes: dict[str, str] = {}
    for line, row in enumerate(reader, start=2):
        if len(row) < width:
            raise PayloadInvalid(f"replay CSV line {line}: {len(row)} cells, not {width}")
        kind = row[type_at] if type_at is not None else "River"
        parameter = _PARAMETERS.get(kind)
        if parameter is None:
            quirks.append(f"line {line}: type {kind!r} not replayed")
            continue
        text_time = row[time_at]
        observed_at = times.get(text_time)
        if observed_at is None:
            observed_at = times[text_time] = _local_time(text_time, line)
        text_value = row[level_at]
        value: float | None
        try:
            value = float(text_value)
        except ValueError:
            if text_value.strip():
                raise PayloadInvalid(f"replay CSV line {line}: bad level {text_value!r}") from None
            value = None
        else:
            if not math.isfinite(value):
                number(value, f"line {line}")  # raises, naming the line
        code = row[station_at]
        source_id = codes.get(code)
        if source_id is None:
            source_id = codes[code] = code.strip()
        # tuple.__new__ directly: the NamedTuple's constructor is a Python call per row.
        observation = _new_observation(
            Observation, (source_id, parameter, observed_at, value, 0, "", observed_at)
        )
        same_time = by_time.get(observed_at)
        if same_time is None:
            by_time[observed_at] = [observation]
        else:
            same_time.append(observation)
    observations: list[Observation] = []
    for moment in sorted(by_time):
        same_time = by_time[moment]
        same_time.sort(key=_SOURCE_ID)
        observations.extend(same_time)
    return tuple(observations), tuple(quirks)


_SOURCE_ID = attrgetter("source_id")
_new_observation = tuple.__new__


def _local_time(text: str, line: int) -> datetime:
    try:
        # Local wall time (GMT+7), whatever the column is called; the zone is added here.
        local = datetime.strptime(text.strip(), "%Y-%m-%d %H:%M")  # noqa: DTZ007
    except ValueError:
        raise PayloadInvalid(f"replay CSV line {line}: bad time {text!r}") from None
    return local.replace(tzinfo=LOCAL_TZ).astimezone(UTC)


@dataclass
class _Playback:
    rows: tuple[Observation, ...]
    started: datetime  # our time when the replay began
    origin: datetime  # the recording's time at that moment
    next: int  # index of the first row not yet played


class ReplaySource:
    """Plays a recorded series forward; ends quietly when the recording does."""

    name = NAME

    def __init__(self, config: ReplayConfig, path: Path) -> None:
        self._config = config
        self._path = path
        self._playback: _Playback | None = None

    @property
    def finished(self) -> bool:
        return self._playback is not None and self._playback.next >= len(self._playback.rows)

    async def fetch(self, client: object, now: datetime) -> FetchResult:
        del client  # a replay reads a local file, not an upstream
        quirks: tuple[str, ...] = ()
        playback = self._playback
        if playback is None:
            try:
                text = await asyncio.to_thread(self._path.read_text, "utf-8-sig")
            except OSError as err:
                raise PayloadInvalid(f"replay file {self._path}: {err.strerror}") from err
            rows, quirks = parse(text)
            origin = self._start_at(rows, now)
            first = next((i for i, row in enumerate(rows) if row.observed_at >= origin), len(rows))
            playback = self._playback = _Playback(rows, now, origin, first)
        played = playback.origin + (now - playback.started) * self._config.speed
        first = playback.next
        while playback.next < len(playback.rows) and (
            playback.rows[playback.next].observed_at <= played
        ):
            playback.next += 1
        return FetchResult(
            observations=playback.rows[first : playback.next], quirks=quirks, received_at=played
        )

    def _start_at(self, rows: tuple[Observation, ...], now: datetime) -> datetime:
        if self._config.start:
            try:
                start = datetime.fromisoformat(self._config.start)
            except ValueError:
                raise PayloadInvalid(
                    f"replay start {self._config.start!r} is not ISO 8601"
                ) from None
            return start if start.tzinfo else start.replace(tzinfo=LOCAL_TZ)
        return rows[0].observed_at if rows else now
