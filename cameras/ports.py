"""What the cameras domain needs from others, in its own words; create_app fills them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Ward:
    """The ward (phường/xã) a camera stands in, as geofences names it."""

    code: str
    name: str


class WardLocator(Protocol):
    async def ward_at(self, lon: float, lat: float) -> Ward | None:
        """The deepest area covering the point, or None outside every area."""
        ...


class WarningCoverage(Protocol):
    async def covered(self, points: Sequence[tuple[float, float]]) -> list[bool]:
        """For each (lon, lat): whether an issued warning in force now covers it."""
        ...


@dataclass(frozen=True)
class CameraPorts:
    """What create_app hands the cameras domain at start-up."""

    wards: WardLocator
    warnings: WarningCoverage


class NoWards:
    """A WardLocator for an app without areas (and for tests of cameras alone)."""

    async def ward_at(self, lon: float, lat: float) -> Ward | None:
        return None


class NoWarnings:
    """A WarningCoverage that never sees a warning."""

    async def covered(self, points: Sequence[tuple[float, float]]) -> list[bool]:
        return [False] * len(points)
