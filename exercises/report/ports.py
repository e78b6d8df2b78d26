"""What the after-action report needs from the domains that hold the facts; the composition
root fills these (canhbao.adapters.report)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from exercises.report.models import (
    CallRecord,
    Crossing,
    EscalationRecord,
    LevelPoint,
    RescueRecord,
    RiverStation,
    WarningRecord,
    Window,
)


class Rivers(Protocol):
    async def span(self) -> tuple[datetime, datetime] | None:
        """The first and last river reading held (a report's default window)."""
        ...

    async def stations(self) -> Sequence[RiverStation]:
        """Stations that measure a river level."""
        ...

    async def crossings(self, window: Window) -> Sequence[Crossing]:
        """Upward báo động band crossings observed in the window, oldest first."""
        ...

    async def levels(self, station_id: str, window: Window, step_s: int) -> Sequence[LevelPoint]:
        """The station's water level, averaged over `step_s` buckets."""
        ...


class Warnings(Protocol):
    async def warnings(self, window: Window) -> Sequence[WarningRecord]:
        """Warnings created or issued in the window, oldest first."""
        ...


class Calls(Protocol):
    async def calls(self, window: Window) -> Sequence[CallRecord]:
        """Inbound calls received in the window, oldest first."""
        ...


class Rescues(Protocol):
    async def requests(self, window: Window) -> Sequence[RescueRecord]:
        """Rescue requests received in the window (duplicates left out), oldest first."""
        ...

    async def escalations(self, window: Window) -> Sequence[EscalationRecord]:
        """Escalations raised in the window."""
        ...


@dataclass(frozen=True)
class ReportSources:
    rivers: Rivers
    warnings: Warnings
    calls: Calls
    rescues: Rescues
