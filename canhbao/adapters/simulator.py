"""The simulators' ports: devices from geofences, the Local push log from notify, and our own
Twilio webhooks signed with the hotline's auth token, sent to this very server."""

from __future__ import annotations

import socket
from collections.abc import Mapping

import aiohttp
from aiohttp import web
from twilio.request_validator import RequestValidator

from canhbao import keys
from canhbao.db import Database
from geofences.store import devices as device_store
from hotline.signature import SIGNATURE_HEADER, webhook_auth_token
from notify.local import local_pushes_for, local_topics_of
from simulator.errors import WebhookFailed
from simulator.ports import Device, RecordedPush, SimulatorPorts, WebhookAnswer

# Twilio gives a webhook 15 s before it calls the fallback URL.
WEBHOOK_TIMEOUT_S = 15.0


def _device(row: device_store.DeviceRow) -> Device:
    return Device(
        device_id=row.public_id,
        platform=row.platform,
        language=row.language,
        token=row.token,
        lat=row.lat,
        lon=row.lon,
        registered_topics=tuple(sorted(row.topics)),
    )


class GeofenceDevices:
    """DeviceBook: geofences' registered devices."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def devices(self, limit: int) -> list[Device]:
        return [_device(row) for row in await device_store.newest_devices(self._db.reader, limit)]

    async def device(self, device_id: str) -> Device | None:
        row = await device_store.device_by_public_id(self._db.reader, device_id)
        return None if row is None else _device(row)


class LocalPushLog:
    """PushLog: what notify's Local push provider recorded."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def topics_of(self, token: str) -> frozenset[str]:
        return await local_topics_of(self._db, token)

    async def pushes(self, token: str, limit: int) -> list[RecordedPush]:
        found = []
        for row in await local_pushes_for(self._db, token, limit):
            message = row["message"]
            found.append(
                RecordedPush(
                    id=int(row["id"]),
                    target_kind=str(message.get("target_kind", "")),
                    target=str(message.get("target", "")),
                    title=str(message.get("title", "")),
                    body=str(message.get("body", "")),
                    data={str(k): str(v) for k, v in (message.get("data") or {}).items()},
                    recorded_at=str(row["created_at"]),
                )
            )
        return found


class SignedWebhooks:
    """Webhooks: a request to one of our own Twilio webhook URLs, signed over the public URL
    (what Twilio signs) and sent to the address this server listens on."""

    def __init__(
        self, session: aiohttp.ClientSession, token: str, public_base_url: str, local: str
    ) -> None:
        self._session = session
        self._validator = RequestValidator(token)
        self._base = public_base_url.rstrip("/")
        self._local = local

    async def post(self, url: str, form: Mapping[str, str]) -> WebhookAnswer:
        signature = self._validator.compute_signature(url, dict(form))
        try:
            async with self._session.post(
                self._local + url[len(self._base) :],
                data=dict(form),
                headers={SIGNATURE_HEADER: signature},
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT_S),
            ) as response:
                body = await response.text()
                return WebhookAnswer(response.status, response.content_type, body)
        except (aiohttp.ClientError, TimeoutError) as err:
            raise WebhookFailed(f"{url}: {type(err).__name__}: {err}") from err


def _listening(request: web.Request) -> str:
    """This server's own address, from the socket the request came in on (never the Host
    header, which the caller writes)."""
    transport = request.transport
    address = transport.get_extra_info("sockname") if transport is not None else None
    if not address:
        raise web.HTTPServiceUnavailable(text="no local address to call back")
    host, port = str(address[0]), int(address[1])
    sock = transport.get_extra_info("socket") if transport is not None else None
    family = getattr(sock, "family", socket.AF_INET)
    if family == socket.AF_INET6:
        host = "::1" if host in ("::", "") else host
        return f"http://[{host}]:{port}"
    return f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"  # noqa: S104  # compared, not bound


def simulator_ports(app: web.Application) -> SimulatorPorts:
    config = app[keys.CONFIG]

    def webhooks(request: web.Request) -> SignedWebhooks:
        return SignedWebhooks(
            request.app[keys.HTTP],
            webhook_auth_token(config),
            config.server.public_base_url,
            _listening(request),
        )

    return SimulatorPorts(
        devices=lambda: GeofenceDevices(app[keys.DB]),
        pushes=lambda: LocalPushLog(app[keys.DB]),
        webhooks=webhooks,
    )
