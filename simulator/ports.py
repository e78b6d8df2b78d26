"""What the simulators need from the others: devices (geofences), what the Local push provider
recorded (notify), and our own Twilio webhooks, signed as Twilio signs them (the hotline)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web


@dataclass(frozen=True)
class Device:
    """A registered citizen phone as the simulator shows it."""

    device_id: str
    platform: str
    language: str
    token: str | None
    lat: float | None
    lon: float | None
    registered_topics: tuple[str, ...]


@dataclass(frozen=True)
class RecordedPush:
    """One push the Local provider recorded: to a token, a topic or a condition of topics."""

    id: int
    target_kind: str
    target: str
    title: str
    body: str
    data: Mapping[str, str]
    recorded_at: str


@dataclass(frozen=True)
class WebhookAnswer:
    status: int
    content_type: str
    body: str


class DeviceBook(Protocol):
    async def devices(self, limit: int) -> list[Device]: ...

    async def device(self, device_id: str) -> Device | None: ...


class PushLog(Protocol):
    async def topics_of(self, token: str) -> frozenset[str]:
        """The topics the Local provider has this token subscribed to."""
        ...

    async def pushes(self, token: str, limit: int) -> list[RecordedPush]:
        """Newest first: pushes to this token, and every topic or condition push."""
        ...


class Webhooks(Protocol):
    async def post(self, url: str, form: Mapping[str, str]) -> WebhookAnswer:
        """POST `form` to one of our own webhook URLs (the public URL Twilio would call),
        signed with the hotline's auth token exactly as Twilio signs it."""
        ...


class Telephony(Protocol):
    """Whether the Local providers are chosen, and the hotline's number."""

    push_local: bool
    telephony_local: bool
    hotline_number: str
    public_base_url: str


class WebhooksFor(Protocol):
    """Our webhooks as reached from one request (the server's own address is the request's)."""

    def __call__(self, request: web.Request) -> Webhooks: ...


@dataclass(frozen=True)
class SimulatorPorts:
    """What create_app hands the simulators: the first two are built once the database is open."""

    devices: Callable[[], DeviceBook]
    pushes: Callable[[], PushLog]
    webhooks: WebhooksFor
