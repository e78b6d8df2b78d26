"""What the dispatch domain needs from others, as small Protocols in its own types.

- WardLocator: the ward (phường/xã) a point lies in (over geofences' area catalogue);
- WarningCoverage: whether an issued Severe or Extreme warning covers a point (over alerting);
- DeviceDirectory: the citizen app's device behind a public id and secret (over geofences'
  device registry: the app authenticates its SOS with the device secret);
- MessageQueue: notify's outbox, written inside dispatch's own transaction.

The implementations are adapters built in the composition root (canhbao.adapters.dispatch);
each translates its domain's errors into dispatch's (SourceUnavailable, NotAuthorised).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import aiosqlite

from notify.models import OutboxItem


@dataclass(frozen=True)
class Ward:
    code: str
    name: str


@dataclass(frozen=True)
class AppDevice:
    """A registered app device as dispatch needs it: who sent the SOS, and whether the phone
    can be pushed to (and texted, when it registered a number)."""

    public_id: str
    phone: str | None
    has_token: bool


class WardLocator(Protocol):
    async def ward_at(self, lon: float, lat: float) -> Ward | None:
        """The deepest area covering the point, or None outside every area."""
        ...


class WarningCoverage(Protocol):
    async def severe_at(self, lon: float, lat: float) -> bool:
        """Whether an issued Severe or Extreme warning in force now covers the point."""
        ...


class DeviceDirectory(Protocol):
    async def device(self, public_id: str, secret: str) -> AppDevice:
        """The device, or NotAuthorised for an unknown id or a wrong secret."""
        ...


class MessageQueue(Protocol):
    async def enqueue_in(self, conn: aiosqlite.Connection, items: Sequence[OutboxItem]) -> int:
        """Store the messages inside the caller's transaction; returns how many were new."""
        ...


@dataclass(frozen=True)
class DispatchPorts:
    """What create_app hands the dispatch domain when its context starts."""

    wards: WardLocator
    warnings: WarningCoverage
    devices: DeviceDirectory
    messages: MessageQueue


class NoWards:
    """A WardLocator for an app without areas (and tests of dispatch alone)."""

    async def ward_at(self, lon: float, lat: float) -> Ward | None:
        return None


class NoWarnings:
    """A WarningCoverage that never sees a warning."""

    async def severe_at(self, lon: float, lat: float) -> bool:
        return False
