"""What the hotline needs from other domains, as small Protocols in the hotline's own types.

- FloodInfoSource: river levels at the key stations (implemented over the feeds domain);
- WarningSource: warnings in force (over the alerting domain's issued alerts);
- LocationSource: where a registered phone was last known to be (over the geofences registry).

The implementations are adapters built in the composition root (canhbao.app) from the other
domains' public objects; each translates its domain's errors into SourceUnavailable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from hotline.models import KnownLocation


@dataclass(frozen=True)
class StationLevel:
    """A key station's latest water level; level_m None when there is no fresh reading."""

    station_id: str
    name: str
    river: str
    level_m: float | None
    band: int = 0
    trend: Literal["rising", "falling", "steady"] | None = None
    rate_m_per_h: float | None = None
    observed_at: datetime | None = None


@dataclass(frozen=True)
class WarningInForce:
    headline: str  # Vietnamese, as it should be spoken
    severe: bool


class FloodInfoSource(Protocol):
    async def levels(self, station_ids: Sequence[str]) -> list[StationLevel]:
        """One entry per known station id, in the order asked."""
        ...


class WarningSource(Protocol):
    async def in_force(self, location: KnownLocation | None) -> list[WarningInForce] | None:
        """Warnings in force for the place (or the whole province); None: not known."""
        ...


class LocationSource(Protocol):
    async def locate(self, phone: str) -> KnownLocation | None:
        """The last known location of a registered phone, or None."""
        ...


@dataclass
class HotlinePorts:
    """The three sources together, as the hotline's flows share them."""

    flood: FloodInfoSource
    warnings: WarningSource
    locations: LocationSource
