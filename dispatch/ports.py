"""What the dispatch domain needs from others, as small Protocols in its own types.

- WardLocator: the ward (phường/xã) a point lies in (over geofences' area catalogue);
- WarningCoverage: whether an issued Severe or Extreme warning covers a point (over alerting);
- DeviceDirectory: the citizen app's device behind a public id and secret (over geofences'
  device registry: the app authenticates its SOS with the device secret);
- DevicePushTokens: the FCM token of the app device a request came from (over geofences' device
  store), to push the requester the news their SMS carry;
- MessageQueue: notify's outbox, written inside dispatch's own transaction;
- SignedForms: a Twilio webhook's form, its signature checked (over the hotline's reader), for
  the keypress of an offer call.

The implementations are adapters built in the composition root (canhbao.adapters.dispatch);
each translates its domain's errors into dispatch's (SourceUnavailable, NotAuthorised).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import aiosqlite
from aiohttp import web

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


class DevicePushTokens(Protocol):
    async def push_token(self, conn: aiosqlite.Connection, public_id: str) -> str | None:
        """The device's FCM token now, read in the caller's transaction; None when it has none
        (unregistered, or its token was refused)."""
        ...


class MessageQueue(Protocol):
    async def enqueue_in(self, conn: aiosqlite.Connection, items: Sequence[OutboxItem]) -> int:
        """Store the messages inside the caller's transaction; returns how many were new."""
        ...


class SignedForms(Protocol):
    async def verify(self, request: web.Request) -> Mapping[str, str]:
        """The webhook's form once its X-Twilio-Signature is checked (a 4xx ApiError if not)."""
        ...


@dataclass(frozen=True)
class DispatchPorts:
    """What create_app hands the dispatch domain when its context starts."""

    wards: WardLocator
    warnings: WarningCoverage
    devices: DeviceDirectory
    messages: MessageQueue
    push_tokens: DevicePushTokens


class NoWards:
    """A WardLocator for an app without areas (and tests of dispatch alone)."""

    async def ward_at(self, lon: float, lat: float) -> Ward | None:
        return None


class NoWarnings:
    """A WarningCoverage that never sees a warning."""

    async def severe_at(self, lon: float, lat: float) -> bool:
        return False
