"""What the after-action report reads (its ports' words) and the window it covers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from exercises.errors import ExerciseError

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


class ReportError(ExerciseError):
    """The report cannot be made: a bad window, a file that is not a canhbao database."""


@dataclass(frozen=True)
class Window:
    """[start, end], both UTC; the report counts what happened inside it."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ReportError("a window needs times with a time zone")
        if self.end < self.start:
            raise ReportError("the window ends before it starts (--to is before --from)")
        for moment in (self.start, self.end):
            # Far outside any flood we hold, and near datetime's ends +07:00 would overflow.
            if not EARLIEST <= moment <= LATEST:
                raise ReportError(f"{moment.isoformat()} is outside 1970-2200")


@dataclass(frozen=True)
class RiverStation:
    id: str
    name: str
    river: str
    # Báo động (alarm levels) I, II, III in metres; None where the station has none.
    bao_dong: tuple[float | None, float | None, float | None]


@dataclass(frozen=True)
class LevelPoint:
    at: datetime
    value: float


@dataclass(frozen=True)
class Crossing:
    """A river rising into a higher báo động band. `key` names it as the auto-drafter does."""

    station_id: str
    from_level: int
    to_level: int
    value: float
    observed_at: datetime
    key: str


@dataclass(frozen=True)
class WarningRecord:
    """A warning (staff or auto-drafted) and its steps. `drafted` names the threshold events
    (Crossing.key) it was drafted or rewritten for, with when; `reached` holds when devices
    were reached, as (moment, how many more), of `targeted_devices` in all."""

    identifier: str
    headline: str
    status: str
    msg_type: str
    origin: str
    state: str
    created_at: datetime
    approved_at: datetime | None
    issued_at: datetime | None
    drafted: tuple[tuple[str, datetime], ...]
    targeted_devices: int
    reached: tuple[tuple[datetime, int], ...]


@dataclass(frozen=True)
class CallRecord:
    """An inbound hotline call; `callback_at` is when its callback was first placed."""

    received_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    enqueued_at: datetime | None
    queue_wait_s: float | None
    outcome: str | None
    callback_at: datetime | None
    callback_reached_at: datetime | None


@dataclass(frozen=True)
class RescueRecord:
    """A rescue request with its priority as triage gave it when it came in."""

    id: int
    priority: str
    state: str
    created_at: datetime
    accepted_at: datetime | None
    on_scene_at: datetime | None
    resolved_at: datetime | None


@dataclass(frozen=True)
class EscalationRecord:
    request_id: int
    escalated_at: datetime
    cleared_at: datetime | None
