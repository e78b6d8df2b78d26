"""What the hotline needs from other domains, as small Protocols in the hotline's own types.

- FloodInfoSource: river levels at the key stations (implemented over the feeds domain);
- WarningSource: warnings in force (over the alerting domain's issued alerts);
- LocationSource: where a registered phone was last known to be (over the geofences registry);
- RescueDesk: rescue requests (the dispatch domain owns them): the hotline creates them, adds
  what callers say, and reads their state back to callers;
- TeamReplies: rescue teams' SMS answers to offers (over dispatch's offers).

The implementations are adapters built in the composition root (canhbao.app) from the other
domains' public objects; each translates its domain's errors into SourceUnavailable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

import aiosqlite

from hotline.models import KnownLocation, NewRescueRequest, RescueAddition


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


@dataclass(frozen=True)
class RescueTicket:
    """A rescue request as the hotline tells a caller about it."""

    id: int
    number: str
    is_open: bool
    # As a caller should read or hear it ("đội cứu hộ đang trên đường đến"), and in English.
    state_words: str
    state_words_en: str


class RescueDesk(Protocol):
    """Rescue requests, each call inside the hotline's own open transaction (the webhook step
    and the request commit together)."""

    async def create(
        self, conn: aiosqlite.Connection, draft: NewRescueRequest, *, actor: str
    ) -> RescueTicket:
        """Store a new request (InvalidInput if the draft cannot be used)."""
        ...

    async def add(
        self, conn: aiosqlite.Connection, request_id: int, addition: RescueAddition, *, actor: str
    ) -> RescueTicket:
        """Add what the caller told us after the request was created."""
        ...

    async def open_for(self, conn: aiosqlite.Connection, phone: str) -> RescueTicket | None:
        """The newest request this number may hear about that is still being handled."""
        ...

    async def tickets_for(self, phone: str, number: str | None = None) -> list[RescueTicket]:
        """This number's newest requests (only `number` when given), newest first."""
        ...

    def committed(self) -> None:
        """A transaction that created requests is over."""
        ...


class TeamReplies(Protocol):
    async def reply(self, phone: str, body: str, message_sid: str) -> str | None:
        """The answer to a rescue team's SMS about an offer (`NHAN 1023`, `XONG 1023`, …), or
        None when the text is not a team's (the hotline handles it as a citizen's)."""
        ...


@dataclass
class HotlinePorts:
    """The sources together, as the hotline's flows share them."""

    flood: FloodInfoSource
    warnings: WarningSource
    locations: LocationSource
    rescue: RescueDesk
    # Rescue teams' SMS answers go to dispatch first (None: no teams, e.g. hotline tests).
    teams: TeamReplies | None = None
