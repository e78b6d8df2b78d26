"""The injectable clock: code asks `clock.now()`, tests move a ManualClock instead of sleeping."""

from __future__ import annotations

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
