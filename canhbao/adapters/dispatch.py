"""The dispatch domain's ports (dispatch.ports) over geofences, alerting and notify's outbox;
and the hotline's RescueDesk port over dispatch's requests."""

from __future__ import annotations

from collections.abc import Sequence

import aiosqlite
from aiohttp import web

from alerting.errors import AlertingError
from alerting.keys import ALERTING
from alerting.workflow import Workflow
from canhbao.adapters.geofences import GeofencesWards
from dispatch import texts as dispatch_texts
from dispatch.errors import InvalidInput as DispatchInvalidInput
from dispatch.errors import NotAuthorised, SourceUnavailable
from dispatch.models import NewRequest, RescueRequest, Vulnerability, request_id_of
from dispatch.ports import AppDevice, DispatchPorts, Ward
from dispatch.requests import Details, Requests
from geofences.devices import DeviceRegistry
from geofences.errors import DeviceRefused, GeofenceError
from geofences.keys import GEOFENCES
from geofences.store.devices import push_token_of
from hotline.errors import InvalidInput as HotlineInvalidInput
from hotline.models import NewRescueRequest, RescueAddition
from hotline.models import Vulnerability as HotlineVulnerability
from hotline.ports import RescueTicket
from notify import keys as notify_keys
from notify.models import OutboxItem
from notify.outbox import Outbox

SEVERE = frozenset({"Severe", "Extreme"})


def dispatch_ports(app: web.Application) -> DispatchPorts:
    """Built when dispatch's context starts: geofences', alerting's and notify's ran before."""
    return DispatchPorts(
        wards=GeofencesWards(app[GEOFENCES], Ward),
        warnings=AlertingSevereWarnings(app[ALERTING]),
        devices=GeofencesDevices(app[GEOFENCES]),
        messages=OutboxQueue(app[notify_keys.OUTBOX]),
        push_tokens=GeofencesPushTokens(),
    )


class AlertingSevereWarnings:
    """Dispatch's WarningCoverage over alerting's issued warnings in force at the point."""

    def __init__(self, workflow: Workflow) -> None:
        self._workflow = workflow

    async def severe_at(self, lon: float, lat: float) -> bool:
        try:
            alerts = await self._workflow.in_force_at(lon, lat)
        except AlertingError as err:
            raise SourceUnavailable(f"warnings in force: {err}") from err
        return any(info.severity in SEVERE for alert in alerts for info in alert.infos)


class GeofencesDevices:
    """Dispatch's DeviceDirectory over geofences' device registry (the app's device secret)."""

    def __init__(self, registry: DeviceRegistry) -> None:
        self._registry = registry

    async def device(self, public_id: str, secret: str) -> AppDevice:
        try:
            found = await self._registry.device(public_id, secret)
        except DeviceRefused as err:
            raise NotAuthorised("unknown device or wrong secret") from err
        except GeofenceError as err:
            raise SourceUnavailable(f"device registry: {err}") from err
        return AppDevice(found.public_id, found.phone, found.has_token)


class GeofencesPushTokens:
    """Dispatch's DevicePushTokens over geofences' device store (read in dispatch's transaction:
    the same database)."""

    async def push_token(self, conn: aiosqlite.Connection, public_id: str) -> str | None:
        return await push_token_of(conn, public_id)


class OutboxQueue:
    """Dispatch's MessageQueue over notify's outbox."""

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    async def enqueue_in(self, conn: aiosqlite.Connection, items: Sequence[OutboxItem]) -> int:
        return await self._outbox.enqueue_in(conn, items)


class DispatchRescueDesk:
    """The hotline's RescueDesk over dispatch's requests. A point dispatch refuses (a
    registered location outside Vietnam) is dropped rather than losing the caller's request."""

    def __init__(self, requests: Requests) -> None:
        self._requests = requests

    async def create(
        self, conn: aiosqlite.Connection, draft: NewRescueRequest, *, actor: str
    ) -> RescueTicket:
        request = NewRequest(
            source=draft.source,
            caller=draft.caller,
            source_sid=draft.source_sid,
            call_sid=draft.source_sid if draft.source == "call" else None,
            lat=draft.lat,
            lon=draft.lon,
            accuracy_m=draft.accuracy_m,
            location_source="contact"
            if draft.location_source == "contact"
            else "device"
            if draft.lat is not None
            else None,
            address=draft.address,
            recording_url=draft.recording_url,
            people=draft.people,
            vulnerabilities=_vulnerabilities(draft.vulnerabilities),
        )
        try:
            created = await self._requests.create_in(conn, request, actor=actor)
        except DispatchInvalidInput as err:
            if err.field not in ("lat", "lon", "accuracy_m"):
                raise HotlineInvalidInput(str(err)) from err
            unplaced = NewRequest(
                **{**request.__dict__, "lat": None, "lon": None, "accuracy_m": None}
            )
            created = await self._requests.create_in(conn, unplaced, actor=actor)
        return _ticket(created)

    async def add(
        self, conn: aiosqlite.Connection, request_id: int, addition: RescueAddition, *, actor: str
    ) -> RescueTicket:
        flags = addition.vulnerabilities
        details = Details(
            recording_url=addition.recording_url,
            people=addition.people,
            vulnerabilities=None if flags is None else _vulnerabilities(flags),
            more_address=addition.more_address,
        )
        try:
            changed = await self._requests.add_details_in(conn, request_id, details, actor=actor)
        except DispatchInvalidInput as err:
            raise HotlineInvalidInput(str(err)) from err
        return _ticket(changed)

    async def open_for(self, conn: aiosqlite.Connection, phone: str) -> RescueTicket | None:
        found = await self._requests.open_for(conn, phone)
        return None if found is None else _ticket(found)

    async def tickets_for(self, phone: str, number: str | None = None) -> list[RescueTicket]:
        found = await self._requests.for_phone(phone, limit=20 if number else 3)
        if number is not None:
            wanted = request_id_of(number)
            found = [r for r in found if r.id == wanted]
        return [_ticket(r) for r in found]

    def committed(self) -> None:
        self._requests.committed()


def _vulnerabilities(flags: Sequence[HotlineVulnerability]) -> tuple[Vulnerability, ...]:
    return tuple(Vulnerability(flag.value) for flag in flags)


def _ticket(request: RescueRequest) -> RescueTicket:
    return RescueTicket(
        request.id,
        request.number,
        request.is_open,
        dispatch_texts.state_words(request),
        dispatch_texts.state_words_en(request),
    )
