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
from dataclasses import dataclass
from datetime import UTC, datetime
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
    observations: list[Observation] = []
    quirks: list[str] = []
    times: dict[str, datetime] = {}  # every station shares the same hours: parse each once
    for line, row in enumerate(reader, start=2):
        if len(row) < len(header):
            raise PayloadInvalid(f"replay CSV line {line}: {len(row)} cells, not {len(header)}")
        kind = row[type_at] if type_at is not None else "River"
        parameter = _PARAMETERS.get(kind)
        if parameter is None:
            quirks.append(f"line {line}: type {kind!r} not replayed")
            continue
        text_time = row[time_at]
        observed_at = times.get(text_time)
        if observed_at is None:
            observed_at = times[text_time] = _local_time(text_time, line)
        text_value = row[level_at].strip()
        try:
            value = number(float(text_value), f"line {line}") if text_value else None
        except ValueError:
            raise PayloadInvalid(f"replay CSV line {line}: bad level {text_value!r}") from None
        observations.append(
            Observation(
                row[station_at].strip(), parameter, observed_at, value, received_at=observed_at
            )
        )
    observations.sort(key=_order)
    return tuple(observations), tuple(quirks)


def _order(observation: Observation) -> tuple[datetime, str]:
    return observation.observed_at, observation.source_id


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
