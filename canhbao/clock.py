"""The injectable clock: code asks `clock.now()`, tests move a ManualClock instead of sleeping."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to (tests, replays)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        self._now += delta
        return self._now

    def set(self, moment: datetime) -> None:
        self._now = moment.astimezone(UTC)


class ScaledClock:
    """An exercise's clock (exercises.runner): flood time running `speed` times faster than the
    wall clock from `start`; it can be paused, resumed and sped up. Every component of the run
    reads the one instance, so they agree on the flood's time."""

    def __init__(
        self,
        start: datetime,
        speed: float,
        *,
        paused: bool = False,
        wall: Callable[[], float] = time.monotonic,
    ) -> None:
        if start.tzinfo is None:
            raise ValueError("ScaledClock needs a timezone-aware start")
        if not speed > 0:
            raise ValueError(f"speed must be over 0, not {speed}")
        self._wall = wall
        self._anchor_flood = start.astimezone(UTC)
        self._anchor_wall = wall()
        self._speed = float(speed)
        self._paused = paused
        self._changed = asyncio.Event()

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def paused(self) -> bool:
        return self._paused

    def now(self) -> datetime:
        if self._paused:
            return self._anchor_flood
        return self._anchor_flood + timedelta(
            seconds=(self._wall() - self._anchor_wall) * self._speed
        )

    def pause(self) -> None:
        self._reanchor()
        self._paused = True
        self._wake()

    def resume(self) -> None:
        self._reanchor()
        self._paused = False
        self._wake()

    def set_speed(self, speed: float) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be over 0, not {speed}")
        self._reanchor()
        self._speed = float(speed)
        self._wake()

    def wall_seconds(self, flood: timedelta) -> float:
        """How many wall seconds `flood` of flood time takes at the current speed."""
        return max(flood.total_seconds(), 0.0) / self._speed

    async def sleep_until(self, moment: datetime) -> None:
        """Return once flood time reaches `moment`; a pause, a resume or a new speed is taken
        into account at once."""
        while True:
            left = moment - self.now()
            if left <= timedelta(0) and not self._paused:
                return
            self._changed.clear()
            if self._paused:
                await self._changed.wait()
                continue
            try:
                async with asyncio.timeout(self.wall_seconds(left)):
                    await self._changed.wait()
            except TimeoutError:
                pass

    def _reanchor(self) -> None:
        self._anchor_flood = self.now()
        self._anchor_wall = self._wall()

    def _wake(self) -> None:
        self._changed.set()


def to_local(moment: datetime) -> datetime:
    """Show a stored UTC time in Vietnam's time zone (+07:00)."""
    return moment.astimezone(LOCAL_TZ)


def parse_utc(text: str) -> datetime:
    """Parse a stored ISO-8601 timestamp; naive values are refused, not guessed."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {text!r}")
    return moment.astimezone(UTC)


def utc_text(moment: datetime) -> str:
    """The one stored form of a time: ISO-8601 in UTC."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def seconds(value: float) -> timedelta:
    return timedelta(seconds=value)
