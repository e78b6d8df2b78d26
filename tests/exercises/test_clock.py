"""The exercise's scaled clock: flood time at `speed` times the wall clock, paused, resumed and
sped up; with a fake wall for exact figures, and once with the real clock (sub-second)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from canhbao.clock import LOCAL_TZ, ScaledClock

START = datetime(2025, 11, 16, 6, 0, tzinfo=LOCAL_TZ)


class Wall:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_flood_time_runs_at_speed_pauses_and_changes_speed() -> None:
    wall = Wall()
    clock = ScaledClock(START, 60, wall=wall)
    assert clock.now() == START.astimezone(UTC)
    assert clock.now().tzinfo is UTC
    wall.now += 1.5
    assert clock.now() == START + timedelta(seconds=90)
    clock.pause()
    wall.now += 100
    assert clock.now() == START + timedelta(seconds=90)
    clock.resume()
    clock.set_speed(3600)
    wall.now += 0.25
    assert clock.now() == START + timedelta(seconds=90 + 900)
    assert clock.wall_seconds(timedelta(hours=1)) == 1.0


def test_made_paused_until_resumed() -> None:
    wall = Wall()
    clock = ScaledClock(START, 60, paused=True, wall=wall)
    wall.now += 50
    assert clock.paused
    assert clock.now() == START
    clock.resume()
    wall.now += 1
    assert clock.now() == START + timedelta(minutes=1)


@pytest.mark.parametrize("speed", [0, -1.0, float("nan")])
def test_speed_over_zero(speed: float) -> None:
    with pytest.raises(ValueError, match="speed"):
        ScaledClock(START, speed)
    clock = ScaledClock(START, 1)
    with pytest.raises(ValueError, match="speed"):
        clock.set_speed(speed)


async def test_real_clock_sleep_until_follows_speed_and_pause() -> None:
    """The real monotonic clock: 30 flood minutes at 36,000× is 50 ms of wall time; a pause
    holds a sleeper until the resume, whatever the wall clock does meanwhile."""
    clock = ScaledClock(datetime.now(UTC), 36_000)
    began = time.monotonic()
    target = clock.now() + timedelta(minutes=30)
    await clock.sleep_until(target)
    assert clock.now() >= target
    assert time.monotonic() - began < 5  # not 30 real minutes

    clock.pause()
    held = clock.now()
    sleeper = asyncio.create_task(clock.sleep_until(held + timedelta(seconds=1)))
    await asyncio.sleep(0)
    assert not sleeper.done()
    assert clock.now() == held
    clock.resume()
    await asyncio.wait_for(sleeper, 5)
    assert clock.now() >= held + timedelta(seconds=1)
