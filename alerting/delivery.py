"""Fan-out at issue time: the geofences targeting plan, frozen, turned into outbox messages.

Wards lying wholly inside the area are reached by FCM topic conditions (≤ 5 topics each), every
other device by its own token, phone-only contacts by SMS (and a voice call to the vulnerable).
Recipients are resolved and messages built before the issue transaction; they are enqueued in
it (one executemany), so the alert is issued with all of its messages or with none. Every
message has an idempotency key per (alert, recipient, channel): issuing again sends nothing
twice, and after a crash the outbox resumes from its rows.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol
from xml.sax.saxutils import escape

import aiosqlite
import shapely

from alerting.errors import InvalidAlert
from alerting.models import LANGUAGE_EN, LANGUAGE_VI, Alert, Area, Geocode, Info, cap_time
from canhbao.clock import Clock
from notify.models import FCM_PAYLOAD_LIMIT, PushMessage, SmsMessage, VoiceCall, sms_segments
from notify.outbox import Outbox, OutboxItem

log = logging.getLogger(__name__)

PRIORITY_TOPIC = 20  # one message reaches a whole ward: first
PRIORITY_DIRECT = 10  # above topic-subscription housekeeping (-10)
SMS_MAX_SEGMENTS = 4
VOICE = "Google.vi-VN-Standard-A"
GEOCODE_WARD = "ward"


@dataclass(frozen=True, slots=True)
class DeviceTarget:
    device_id: int
    token: str
    language: str  # "vi" or "en"


@dataclass(frozen=True, slots=True)
class ContactTarget:
    contact_id: int
    phone: str
    language: str
    vulnerable: bool


class Plan(Protocol):
    """What delivery reads of geofences' DeliveryPlan."""

    conditions: tuple[str, ...]
    topic_device_ids: Any
    token_device_ids: Any
    contact_ids: Any

    def summary(self) -> dict[str, Any]: ...


class Directory(Protocol):
    """Who is where: geofences, as delivery needs it."""

    def plan(self, geometry: Any) -> Plan:
        """Targeting for a polygon (Polygon or MultiPolygon, lon/lat)."""
        ...

    def ward_geometry(self, codes: Sequence[str]) -> Any:
        """The union of these areas' geometries (KeyError naming an unknown code)."""
        ...

    def ward_names(self, codes: Sequence[str]) -> list[str]: ...

    async def devices(self, device_ids: Sequence[int]) -> list[DeviceTarget]: ...

    async def contacts(self, contact_ids: Sequence[int]) -> list[ContactTarget]: ...


@dataclass(frozen=True)
class Prepared:
    identifier: str
    plan: dict[str, Any]
    items: list[OutboxItem]


class Delivery:
    """Implements the workflow's FanOut port over a Directory and the notify outbox."""

    def __init__(
        self,
        directory: Directory,
        outbox: Outbox,
        clock: Clock,
        *,
        sms_sender: str,
        public_base_url: str,
        voice_for_vulnerable: bool = True,
    ) -> None:
        self.directory = directory
        self._outbox = outbox
        self._clock = clock
        self._sms_sender = sms_sender
        self._base = public_base_url.rstrip("/")
        self._voice = voice_for_vulnerable

    def geometry(self, alert: Alert) -> Any:
        """The alert's area as one lon/lat geometry: its polygons and its wards."""
        parts: list[Any] = []
        codes: list[str] = []
        for area in _areas(alert):
            parts.extend(shapely.Polygon([(lon, lat) for lat, lon in p]) for p in area.polygons)
            codes.extend(area.ward_codes)
        if codes:
            parts.append(self.directory.ward_geometry(codes))
        if not parts:
            return shapely.Polygon()
        return shapely.union_all([shapely.make_valid(p) for p in parts])

    def preview(self, alert: Alert) -> dict[str, Any]:
        """The plan staff see before approving (recomputed; frozen only at issue)."""
        return self.directory.plan(self.geometry(alert)).summary()

    async def prepare(self, alert: Alert, chain: str) -> Prepared:
        plan = self.directory.plan(self.geometry(alert))
        now = self._clock.now()
        items: list[OutboxItem] = []
        identifier = alert.identifier
        vi = alert.info(LANGUAGE_VI)
        if vi is None:
            raise InvalidAlert(["info: a vi-VN block is required"])
        by_language = {"vi": vi, "en": alert.info(LANGUAGE_EN) or vi}
        messages = {lang: self._push(alert, info, chain, now) for lang, info in by_language.items()}
        for condition in plan.conditions:
            digest = hashlib.sha1(condition.encode()).hexdigest()[:16]  # noqa: S324  # a key, not security
            items.append(
                OutboxItem(
                    "push",
                    replace(messages["vi"], target_kind="condition", target=condition),
                    idempotency_key=f"{identifier}:condition:{digest}",
                    reference=identifier,
                    priority=PRIORITY_TOPIC,
                )
            )
        for device in await self.directory.devices(plan.token_device_ids.tolist()):
            items.append(
                OutboxItem(
                    "push",
                    replace(messages.get(device.language, messages["vi"]), target=device.token),
                    idempotency_key=f"{identifier}:push:{device.device_id}",
                    reference=identifier,
                    priority=PRIORITY_DIRECT,
                )
            )
        for contact in await self.directory.contacts(plan.contact_ids.tolist()):
            info = by_language.get(contact.language, vi)
            items.append(
                OutboxItem(
                    "sms",
                    SmsMessage(to=contact.phone, body=sms_text(info), sender=self._sms_sender),
                    idempotency_key=f"{identifier}:sms:{contact.phone}",
                    reference=identifier,
                    priority=PRIORITY_DIRECT,
                )
            )
            if self._voice and contact.vulnerable and alert.msg_type != "Cancel":
                items.append(
                    OutboxItem(
                        "voice",
                        VoiceCall(to=contact.phone, caller_id=self._sms_sender, twiml=twiml(vi)),
                        idempotency_key=f"{identifier}:voice:{contact.phone}",
                        reference=identifier,
                        priority=PRIORITY_DIRECT,
                    )
                )
        summary = plan.summary()
        summary["messages"] = {
            "condition": len(plan.conditions),
            "token": sum(1 for i in items if i.priority == PRIORITY_DIRECT and i.channel == "push"),
            "sms": sum(1 for i in items if i.channel == "sms"),
            "voice": sum(1 for i in items if i.channel == "voice"),
        }
        return Prepared(identifier, summary, items)

    async def commit(self, conn: aiosqlite.Connection, prepared: Prepared) -> dict[str, Any]:
        added = await self._outbox.enqueue_in(conn, prepared.items)
        log.info(
            "alert fan-out enqueued",
            extra={
                "identifier": prepared.identifier,
                "messages": len(prepared.items),
                "new": added,
            },
        )
        return {**prepared.plan, "enqueued": added}

    def _push(self, alert: Alert, info: Info, chain: str, now: datetime) -> PushMessage:
        expires = alert.expires or now
        data = {
            "identifier": alert.identifier,
            "msgType": alert.msg_type,
            "severity": info.severity,
            "expires": cap_time(expires),
            "chain": chain,
            "url": f"{self._base}/cap/alerts/{alert.identifier}.xml",
        }
        wards = sorted({code for area in info.areas for code in area.ward_codes})
        if wards:
            data["wards"] = " ".join(wards)
        polygons = [p for area in info.areas for p in area.polygons]
        if len(polygons) == 1:
            data["polygon"] = " ".join(f"{lat:.4f},{lon:.4f}" for lat, lon in polygons[0])
        body = f"{info.description} {info.instruction}".strip()
        message = PushMessage(
            target_kind="token",
            target="",
            title=info.headline,
            body=body,
            data=data,
            # Per chain: an Update replaces the warning it updates, on the phone and in FCM's
            # queue; a repeated send after a crash replaces itself (a tag is per device).
            collapse_key=chain,
            tag=chain,
            ttl_s=max(0, int((expires - now).total_seconds())),
            high_priority=True,
        )
        if message.payload_size() > FCM_PAYLOAD_LIMIT and "polygon" in data:
            # The app can read the polygon from the CAP document at `url`.
            del data["polygon"]
            message = replace(message, data=data)
        while message.payload_size() > FCM_PAYLOAD_LIMIT:
            message = replace(message, body=message.body[: len(message.body) * 3 // 4] + "…")
        return message


def _areas(alert: Alert) -> tuple[Area, ...]:
    info = alert.info(LANGUAGE_VI)
    return info.areas if info is not None else ()


def sms_text(info: Info) -> str:
    """Headline and instruction, cut at a sentence to at most SMS_MAX_SEGMENTS UCS-2 segments."""
    text = f"{info.headline}. {info.instruction}"
    if sms_segments(text) <= SMS_MAX_SEGMENTS:
        return text
    sentences = info.instruction.split(". ")
    while sentences:
        sentences.pop()
        text = f"{info.headline}. {'. '.join(sentences)}".rstrip(". ") + "."
        if sms_segments(text) <= SMS_MAX_SEGMENTS:
            return text
    return info.headline


def twiml(info: Info) -> str:
    """A Vietnamese voice message, said twice (people answering may miss the start)."""
    said = escape(f"{info.headline}. {info.instruction}")
    say = f'<Say language="vi-VN" voice="{VOICE}">{said}</Say>'
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><Response>{say}<Pause length="2"/>{say}</Response>'
    )


def ward_area(
    directory: Directory, codes: Sequence[str], description: str, max_points: int
) -> Area:
    """A CAP area for these wards: their geocodes and an outline of ≤ max_points points."""
    from geofences.areas import make_outline  # geometry helpers of the geofences domain

    outline = make_outline(directory.ward_geometry(codes), max_points)
    polygons = []
    for part in getattr(outline, "geoms", [outline]):
        ring = list(part.exterior.coords)
        polygons.append(tuple((round(lat, 5), round(lon, 5)) for lon, lat in ring))
    return Area(
        description=description or ", ".join(directory.ward_names(codes)),
        polygons=tuple(polygons),
        geocodes=tuple(Geocode(GEOCODE_WARD, code) for code in codes),
    )


class GeofencesDirectory:
    """The Directory over geofences' DeviceRegistry, through its public methods only."""

    def __init__(self, registry: Any) -> None:
        self._registry = registry

    def plan(self, geometry: Any) -> Plan:
        plan: Plan = self._registry.plan(geometry)
        return plan

    def ward_geometry(self, codes: Sequence[str]) -> Any:
        catalog = self._registry.catalog
        missing = [code for code in codes if code not in catalog.by_code]
        if missing:
            raise KeyError(", ".join(missing))
        return shapely.union_all([catalog.geometry[catalog.by_code[c].id] for c in codes])

    def ward_names(self, codes: Sequence[str]) -> list[str]:
        catalog = self._registry.catalog
        return [catalog.by_code[c].name if c in catalog.by_code else c for c in codes]

    async def devices(self, device_ids: Sequence[int]) -> list[DeviceTarget]:
        if not len(device_ids):
            return []
        found = await self._registry.push_targets(device_ids)
        return [DeviceTarget(device_id, token, language) for device_id, token, language in found]

    async def contacts(self, contact_ids: Sequence[int]) -> list[ContactTarget]:
        if not len(contact_ids):
            return []
        found = await self._registry.contact_targets(contact_ids)
        return [ContactTarget(*row) for row in found]
