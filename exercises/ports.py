"""What an exercise run needs from the service it drives (canhbao.adapters.exercise_mode builds
it): each method goes through the service's own path (feeds' ingestion, geofences' registration, the
hotline's signed webhooks, dispatch's SMS keywords), typed with this domain's own types."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

from exercises.models import ReplayPoint, Team
from exercises.population import Person

Expects = Literal["digits", "speech", "digits_or_speech", "recording", "none"]


@dataclass(frozen=True)
class CallState:
    """A simulated call after the caller's last action: what it waits for, whether queued."""

    sid: str
    status: str  # ringing, in-progress, queued, completed
    expects: Expects
    queued: bool
    prompts: tuple[str, ...] = ()  # what the caller heard since their last action


@dataclass(frozen=True)
class TeamMessage:
    """An SMS the service sent to a simulated team's phone (an offer, a reminder, a withdrawal)."""

    id: int
    phone: str
    body: str


class ExerciseClock(Protocol):
    """The run's scaled clock (canhbao.clock.ScaledClock)."""

    @property
    def speed(self) -> float: ...

    @property
    def paused(self) -> bool: ...

    def now(self) -> datetime: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def set_speed(self, speed: float) -> None: ...

    def wall_seconds(self, flood: timedelta) -> float: ...

    async def sleep_until(self, moment: datetime) -> None: ...


class Service(Protocol):
    async def enrol(self, people: Sequence[Person]) -> int:
        """Register the simulated devices (and enrol them and the phone-only contacts as the
        exercise's audience); returns how many were enrolled."""
        ...

    async def add_teams(self, teams: Sequence[Team]) -> dict[str, str]:
        """Register the simulated teams; returns each team's phone by the scenario's team id."""
        ...

    async def ingest(self, points: Sequence[ReplayPoint]) -> int:
        """Feed recorded readings through feeds' ingestion; returns how many were accepted."""
        ...

    async def locate(self, person: Person) -> None:
        """A simulated device reports where it is now (as the app does before an SOS call)."""
        ...

    async def call(self, caller: str) -> CallState: ...

    async def press(self, sid: str, digits: str, speech: str = "") -> CallState: ...

    async def hang_up(self, sid: str) -> CallState: ...

    async def state(self, sid: str) -> CallState:
        """Where a simulated call stands now (an operator may have taken it from the queue)."""
        ...

    async def text(self, sender: str, body: str) -> None:
        """An SMS to the hotline's number (SOS, or a team's keyword answer)."""
        ...

    async def team_messages(self, after_id: int) -> list[TeamMessage]:
        """SMS sent by the service since `after_id`, oldest first (the runner keeps teams')."""
        ...
