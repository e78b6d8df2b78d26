"""The shared polling lifecycle: backoff grows to its cap with jitter, nothing is attempted while
backing off, an outage is logged once and its recovery once, bugs are caught with their
traceback, one attempt at a time, and the state reads the same in the API's JSON."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from canhbao.clock import ManualClock
from canhbao.health import HealthRegistry
from canhbao.polling import Poller, PollState, schedule_polls

NOW = datetime(2026, 2, 3, 0, 0, tzinfo=UTC)
LOGGER = "tests.polling"


class Unavailable(Exception):
    """The one error the test source raises on purpose."""


class Upstream:
    """A source whose outcome the test sets: a report (a number), an expected error or a bug."""

    def __init__(self) -> None:
        self.outcome: int | Exception = 1
        self.attempts: list[datetime] = []

    async def attempt(self, now: datetime) -> int:
        self.attempts.append(now)
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


Build = Callable[..., tuple[Poller[int], Upstream, ManualClock, HealthRegistry]]


@pytest.fixture
def build() -> Build:
    def make(
        *, interval_s: float = 60.0, backoff_max_s: float = 300.0, seed: int = 7
    ) -> tuple[Poller[int], Upstream, ManualClock, HealthRegistry]:
        upstream, clock, health = Upstream(), ManualClock(NOW), HealthRegistry()
        poller = Poller(
            PollState("test"),
            upstream.attempt,
            describe=lambda report: f"{report} new",
            expected=(Unavailable,),
            interval_s=interval_s,
            backoff_max_s=backoff_max_s,
            clock=clock,
            health=health,
            health_name="tests.source",
            log=logging.getLogger(LOGGER),
            subject="test source",
            rng=random.Random(seed),
        )
        return poller, upstream, clock, health

    return make


async def test_backoff_doubles_from_the_interval_up_to_the_cap_with_seeded_jitter(
    build: Build,
) -> None:
    poller, upstream, clock, _ = build(interval_s=60.0, backoff_max_s=300.0, seed=7)
    upstream.outcome = Unavailable("down")
    jitter = random.Random(7)

    waits = []
    for _ in range(6):
        assert await poller.poll() is None
        assert poller.state.next_attempt_at is not None
        waits.append(poller.state.next_attempt_at - clock.now())

    bases = (60, 120, 240, 300, 300, 300)
    assert waits == [timedelta(seconds=b * (1 + 0.1 * jitter.random())) for b in bases]
    for wait, base_s in zip(waits, bases, strict=True):
        assert timedelta(seconds=base_s) <= wait <= timedelta(seconds=base_s * 1.1)
    assert poller.state.consecutive_failures == 6


async def test_nothing_is_attempted_while_backing_off(build: Build) -> None:
    poller, upstream, clock, _ = build(interval_s=60.0)
    assert poller.due()
    upstream.outcome = Unavailable("down")
    await poller.run()
    assert poller.state.next_attempt_at is not None
    wait = poller.state.next_attempt_at - clock.now()

    clock.advance(wait - timedelta(seconds=1))
    assert not poller.due()
    await poller.run()
    assert len(upstream.attempts) == 1

    clock.advance(timedelta(seconds=1))
    assert poller.due()
    upstream.outcome = 3
    await poller.run()
    assert upstream.attempts == [NOW, NOW + wait]
    assert poller.state.status == "ok"
    assert poller.state.next_attempt_at is None
    assert poller.due()


async def test_an_outage_is_logged_once_and_its_recovery_once(
    build: Build, caplog: pytest.LogCaptureFixture
) -> None:
    poller, upstream, clock, health = build()
    caplog.set_level(logging.INFO, logger=LOGGER)
    assert health.components["tests.source"].detail == "not polled yet"
    assert poller.state.status == "idle"

    upstream.outcome = Unavailable("HTTP 503")
    for _ in range(3):
        clock.advance(timedelta(minutes=10))
        await poller.poll()
    failing = health.components["tests.source"]
    assert (failing.status, failing.detail, failing.critical) == ("failing", "HTTP 503", False)
    assert failing.since == NOW + timedelta(minutes=10)
    assert poller.state.failing_since == NOW + timedelta(minutes=10)
    assert poller.state.last_error_at == NOW + timedelta(minutes=30)
    upstream.outcome = 5
    clock.advance(timedelta(minutes=10))
    assert await poller.poll() == 5
    await poller.poll()

    records = [r for r in caplog.records if r.name == LOGGER]
    assert [r.getMessage() for r in records] == ["test source failing", "test source recovered"]
    assert records[0].__dict__["error"] == "HTTP 503"
    assert records[0].exc_info is None  # an expected error: its message says enough
    assert (records[1].__dict__["failures"], records[1].__dict__["outage_s"]) == (3, 1800.0)
    ok = health.components["tests.source"]
    assert (ok.status, ok.detail, ok.critical) == ("ok", "5 new", False)
    state = poller.state
    assert (state.status, state.consecutive_failures, state.failing_since) == ("ok", 0, None)
    assert state.last_success_at == clock.now()
    assert state.last_error == "HTTP 503"  # the last error stays visible after recovery


async def test_a_bug_is_caught_and_logged_with_its_traceback_once(
    build: Build, caplog: pytest.LogCaptureFixture
) -> None:
    poller, upstream, _, _ = build()
    caplog.set_level(logging.INFO, logger=LOGGER)
    upstream.outcome = KeyError("station")

    assert await poller.poll() is None
    assert await poller.poll() is None

    records = [r for r in caplog.records if r.name == LOGGER]
    assert [r.getMessage() for r in records] == ["test source crashed", "test source failing"]
    assert records[0].exc_info is not None
    assert poller.state.last_error == "KeyError: 'station'"
    assert poller.state.consecutive_failures == 2


async def test_one_attempt_at_a_time() -> None:
    clock, running, most = ManualClock(NOW), 0, 0
    release = asyncio.Event()

    async def attempt(now: datetime) -> int:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await release.wait()
        running -= 1
        return 1

    poller = Poller(
        PollState("test"),
        attempt,
        describe=str,
        expected=(),
        interval_s=60.0,
        backoff_max_s=300.0,
        clock=clock,
        health=HealthRegistry(),
        health_name="tests.source",
        log=logging.getLogger(LOGGER),
        subject="test source",
    )
    polls = [asyncio.create_task(poller.poll()) for _ in range(3)]
    await asyncio.sleep(0)  # let every task reach the lock
    release.set()

    assert await asyncio.gather(*polls) == [1, 1, 1]
    assert most == 1


def test_state_as_json_gives_utc_text_or_null() -> None:
    state = PollState("ea", status="failing", failing_since=NOW, consecutive_failures=2)

    assert state.as_json() == {
        "name": "ea",
        "status": "failing",
        "last_attempt_at": None,
        "last_success_at": None,
        "last_error": "",
        "last_error_at": None,
        "failing_since": "2026-02-03T00:00:00.000000+00:00",
        "consecutive_failures": 2,
        "next_attempt_at": None,
    }


async def test_each_source_gets_its_own_job_first_run_spread_over_its_jitter() -> None:
    async def run() -> None:
        return None

    scheduler = AsyncIOScheduler(timezone=UTC)
    before = datetime.now(UTC)
    jobs = schedule_polls(scheduler, {"feeds.a": (run, 600.0, 30.0), "feeds.b": (run, 60.0, 0.0)})
    assert [job.id for job in jobs] == ["feeds.a", "feeds.b"]
    first, second = jobs
    assert first.trigger.interval.total_seconds() == 600.0
    assert (first.max_instances, first.coalesce) == (1, True)
    assert 0 <= (first.next_run_time - before).total_seconds() <= 31
    assert (second.next_run_time - before).total_seconds() < 1  # no jitter: at once
