"""The polling lifecycle every polled upstream shares (feeds, CAP imports): one attempt at a time,
backoff with jitter, the outage logged once and its recovery once, state for the API and health.

Like Home Assistant's update coordinator: a `Poller` owns the schedule's state and the outcome;
its owner only supplies `attempt` (fetch, parse, store) and says which errors are expected.
An expected error is logged by its message, anything else with its traceback (a bug must not
stop the job, but must be seen); either way `poll()` never raises.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar

from apscheduler.job import Job
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from canhbao.api import AnswerTime, ResponseModel
from canhbao.clock import Clock, utc_text
from canhbao.health import HealthRegistry

Report = TypeVar("Report")


@dataclass
class PollState:
    """What the API, /healthz and /metrics say about one polled source; a domain's state adds
    its own counters by subclassing."""

    name: str
    status: Literal["idle", "ok", "failing"] = "idle"
    last_attempt_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str = ""
    last_error_at: datetime | None = None
    failing_since: datetime | None = None
    consecutive_failures: int = 0
    next_attempt_at: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        def text(moment: datetime | None) -> str | None:
            return utc_text(moment) if moment else None

        return {
            "name": self.name,
            "status": self.status,
            "last_attempt_at": text(self.last_attempt_at),
            "last_success_at": text(self.last_success_at),
            "last_error": self.last_error,
            "last_error_at": text(self.last_error_at),
            "failing_since": text(self.failing_since),
            "consecutive_failures": self.consecutive_failures,
            "next_attempt_at": text(self.next_attempt_at),
        }


class PollStateView(ResponseModel):
    """PollState.as_json as an answer declares it; a domain's source answer adds its counters."""

    name: str
    status: Literal["idle", "ok", "failing"]
    last_attempt_at: AnswerTime | None
    last_success_at: AnswerTime | None
    last_error: str
    last_error_at: AnswerTime | None
    failing_since: AnswerTime | None
    consecutive_failures: int
    next_attempt_at: AnswerTime | None


class Poller(Generic[Report]):
    """Runs one source's `attempt` and keeps its PollState; every outcome ends in that state.

    `attempt(now)` returns the report (having applied what it brought) or raises; `describe`
    turns a report into the health detail. Logs go to the owner's logger as "<subject> failing",
    "<subject> recovered" and "<subject> crashed"; health to `health_name`, never critical
    (one source among many degrades the service, it does not stop it).
    """

    def __init__(
        self,
        state: PollState,
        attempt: Callable[[datetime], Awaitable[Report]],
        *,
        describe: Callable[[Report], str],
        expected: tuple[type[Exception], ...],
        interval_s: float,
        backoff_max_s: float,
        clock: Clock,
        health: HealthRegistry,
        health_name: str,
        log: logging.Logger,
        subject: str,
        rng: random.Random | None = None,
    ) -> None:
        self.state = state
        self.health_name = health_name
        self._attempt = attempt
        self._describe = describe
        self._expected = expected
        self._interval_s = interval_s
        self._backoff_max_s = backoff_max_s
        self._clock = clock
        self._health = health
        self._log = log
        self._subject = subject
        self._rng = rng or random.Random()  # noqa: S311  # backoff jitter, not secrecy
        self._lock = asyncio.Lock()
        self._health.report(health_name, "ok", "not polled yet", critical=False)

    def due(self) -> bool:
        """False while backing off after failures."""
        at = self.state.next_attempt_at
        return at is None or self._clock.now() >= at

    async def run(self) -> None:
        """The scheduled job: poll unless backing off."""
        if self.due():
            await self.poll()

    async def poll(self) -> Report | None:
        """Attempt once; never raises. The report, or None when the attempt failed."""
        async with self._lock:
            now = self._clock.now()
            self.state.last_attempt_at = now
            try:
                report = await self._attempt(now)
            except self._expected as err:
                self._failed(now, str(err))
                return None
            except Exception as err:
                if self.state.status != "failing":
                    self._log.exception(
                        f"{self._subject} crashed", extra={"source": self.state.name}
                    )
                self._failed(now, f"{type(err).__name__}: {err}")
                return None
            self._succeeded(now, self._describe(report))
            return report

    def backoff(self, failures: int) -> timedelta:
        """Exponential backoff from the poll interval, capped, with up to 10 % jitter."""
        base = min(self._interval_s * 2 ** (failures - 1), self._backoff_max_s)
        return timedelta(seconds=base * (1 + 0.1 * self._rng.random()))

    def _succeeded(self, now: datetime, detail: str) -> None:
        state = self.state
        if state.status == "failing":
            self._log.info(
                f"{self._subject} recovered",
                extra={
                    "source": state.name,
                    "failures": state.consecutive_failures,
                    "outage_s": (now - state.failing_since).total_seconds()
                    if state.failing_since
                    else None,
                },
            )
        state.status = "ok"
        state.last_success_at = now
        state.failing_since = None
        state.consecutive_failures = 0
        state.next_attempt_at = None
        self._health.report(self.health_name, "ok", detail, at=now, critical=False)

    def _failed(self, now: datetime, error: str) -> None:
        state = self.state
        if state.status != "failing":
            self._log.warning(
                f"{self._subject} failing", extra={"source": state.name, "error": error}
            )
            state.failing_since = now
        state.status = "failing"
        state.last_error = error
        state.last_error_at = now
        state.consecutive_failures += 1
        state.next_attempt_at = now + self.backoff(state.consecutive_failures)
        self._health.report(self.health_name, "failing", error, at=now, critical=False)


class PollSettings(Protocol):
    """What a polled source's settings say about its schedule."""

    @property
    def interval_s(self) -> float: ...
    @property
    def backoff_max_s(self) -> float: ...


class PolledSource(Generic[Report]):
    """The base of every domain's polled source (a feed, a CAP import): it supplies `_attempt`
    and says how it is named; this class runs it through one Poller and gives it the scheduled
    job (`run`), a one-shot `poll` and `due`.

    A subclass sets `subject` (the log's words: "<subject> failing", in `logger`), `expected`
    (errors that are outages, not bugs), `health_prefix` (its /healthz name is the prefix and
    the state's name) and `describe` (a report as the health detail).
    """

    subject: ClassVar[str] = "source"
    expected: ClassVar[tuple[type[Exception], ...]] = ()
    health_prefix: ClassVar[str] = ""
    logger: ClassVar[logging.Logger] = logging.getLogger(__name__)

    def __init__(
        self,
        state: PollState,
        settings: PollSettings,
        *,
        clock: Clock,
        health: HealthRegistry,
        rng: random.Random | None = None,
    ) -> None:
        self.state = state
        self._polling: Poller[Report] = Poller(
            state,
            self._attempt,
            describe=self.describe,
            expected=self.expected,
            interval_s=settings.interval_s,
            backoff_max_s=settings.backoff_max_s,
            clock=clock,
            health=health,
            health_name=f"{self.health_prefix}{state.name}",
            log=self.logger,
            subject=self.subject,
            rng=rng,
        )

    async def _attempt(self, now: datetime) -> Report:
        """Fetch, parse and apply once; raise on failure."""
        raise NotImplementedError

    def describe(self, report: Report) -> str:
        """The health detail of a successful poll."""
        return "ok"

    def due(self) -> bool:
        """False while backing off after failures."""
        return self._polling.due()

    async def run(self) -> None:
        """The scheduled job: poll unless backing off."""
        await self._polling.run()

    async def poll(self) -> Report | None:
        """Attempt once; never raises. The report, or None when the attempt failed."""
        return await self._polling.poll()


def schedule_polls(
    scheduler: AsyncIOScheduler,
    jobs: Mapping[str, tuple[Callable[[], Awaitable[None]], float, float]],
) -> list[Job]:
    """One interval job per source (job id → (run, interval_s, jitter_s)), so a slow or
    failing source never holds up another; first runs are spread over each source's jitter so
    sources do not start in step."""
    rng = random.Random()  # noqa: S311  # spreading first polls, not secrecy
    return [
        scheduler.add_job(
            run,
            "interval",
            id=job_id,
            seconds=interval_s,
            jitter=jitter_s or None,
            max_instances=1,
            coalesce=True,
            # The scheduler runs on wall time (the injected clock is for what we record).
            next_run_time=datetime.now(UTC) + timedelta(seconds=rng.uniform(0, jitter_s)),
        )
        for job_id, (run, interval_s, jitter_s) in jobs.items()
    ]
