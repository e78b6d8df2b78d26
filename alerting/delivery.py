"""Fan-out at issue time: the geofences targeting plan, frozen, turned into outbox messages.

Wards lying wholly inside the area are reached by FCM topic conditions (≤ 5 topics each), one
set per device language (English devices subscribe to each area's `~en` topic); every other
device by its own token, in its language; phone-only contacts by SMS (and a voice call to the
vulnerable).
The issue transaction commits the alert, its frozen targets (every device and contact id), the
conditions and a first batch of tokens and contacts, so sending starts within moments of the
approver's click; the rest are enqueued in batches, each committed with the fan-out's progress,
and a restart resumes them (alerting.fanout). Every message has an idempotency key per (alert,
recipient, channel): enqueueing a batch again sends nothing twice, and after a crash the outbox
resumes from its rows.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import aiosqlite
import numpy as np
import shapely

from alerting import store
from alerting.audience import AUDIENCE_ONLY, audience_plan, marked
from alerting.errors import InvalidAlert
from alerting.models import LANGUAGE_EN, LANGUAGE_VI, Alert, Area, Geocode, Info, cap_time
from alerting.ports import DeviceLanguage, Directory, Geometry, IdArray, Outbox, Recipients
from canhbao.clock import Clock
from canhbao.db import Database
from notify.models import (
    FCM_PAYLOAD_LIMIT,
    Encoded,
    OutboxItem,
    PushMessage,
    SmsMessage,
    VoiceCall,
    sms_segments,
)
from notify.twiml import Speech

log = logging.getLogger(__name__)

PRIORITY_TOPIC = 20  # one message reaches a whole ward: first
PRIORITY_DIRECT = 10  # above topic-subscription housekeeping (-10)
SMS_MAX_SEGMENTS = 4
GEOCODE_WARD = "ward"
# What devices register with; _languages() maps them to info blocks.
DEVICE_LANGUAGES: tuple[DeviceLanguage, ...] = ("vi", "en")


@dataclass(frozen=True)
class Prepared:
    """What the issue transaction commits: the first batch of messages and the frozen targets."""

    identifier: str
    chain: str
    plan: dict[str, Any]
    items: list[OutboxItem]
    device_ids: bytes
    contact_ids: bytes
    devices_done: int
    contacts_done: int
    # `items` as outbox rows, encoded while preparing: the issue transaction holds the web
    # process's writer (every hotline call waits for it), so it only inserts them.
    rows: Encoded | None = None


@dataclass(frozen=True)
class _Frozen:
    """What a fan-out runner keeps of a running fan-out: all of it but its progress."""

    fanout: store.Fanout
    version: int  # the alert's, when `alert` was read
    alert: Alert
    device_ids: IdArray
    contact_ids: IdArray


class FanoutBatches:
    """A fan-out's later batches: enqueues an issued alert's remaining recipients, BATCH at a
    time, each batch in one transaction with the fan-out's progress, so a crash resumes where
    the last commit left it (and the idempotency keys make a batch enqueued twice a no-op).

    Needs only Recipients (devices and contacts by id), not the device index: `canhbao serve`
    runs it in the outbox sender's process (README, "Processes"), so the web process's requests
    never wait behind a 100,000-device enqueue.
    """

    # Rows a batch transaction writes. Each holds the writer lock, which both processes' writes
    # (a webhook's call record, a send's outcome) wait for: 1,000 outbox rows took 110-330 ms
    # to insert on the shared 2-core machine, 250 rows 10-60 ms (inserting into the copy of a
    # fanned-out database; bench flood_night). Per batch, only the fan-out's progress and the
    # alert's version are read again; its targets and document are kept (see _fanout).
    BATCH = 100

    def __init__(
        self,
        recipients: Recipients,
        outbox: Outbox,
        db: Database,
        clock: Clock,
        *,
        sms_sender: str,
        public_base_url: str,
        voice: str,
        voice_for_vulnerable: bool = True,
    ) -> None:
        self._recipients = recipients
        self._outbox = outbox
        self._db = db
        self._clock = clock
        self._sms_sender = sms_sender
        self._base = public_base_url.rstrip("/")
        self._voice = voice_for_vulnerable
        self._speech = Speech(voice)
        self._listeners: list[Callable[[], None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None  # where the listeners run
        self._frozen: dict[str, _Frozen] = {}  # per running fan-out (see _fanout)

    def on_fanout(self, listener: Callable[[], None]) -> None:
        """Call `listener` when an issue leaves recipients to enqueue (the runner wakes)."""
        self._listeners.append(listener)
        self._loop = _running_loop() or self._loop

    def _wake(self) -> None:
        if _running_loop() is not None:
            for listener in self._listeners:
                listener()
        elif self._loop is not None:
            # In the writer's thread (the issue runs as a Database.transact body): listeners
            # touch the event loop's objects, so they run there.
            self._loop.call_soon_threadsafe(self._wake)

    async def pending(self) -> list[str]:
        """Identifiers of fan-outs with recipients still to enqueue, oldest first."""
        async with self._db.transaction() as conn:
            return await store.pending_fanouts(conn)

    async def continue_fanout(self, identifier: str) -> bool:
        """Enqueue the next batch of an issued alert's recipients; True while more remain.

        A fan-out whose alert was superseded or expired meanwhile stops: what replaced it has
        its own fan-out, and a warning no longer in force is not worth a first delivery.
        """
        found = await self._fanout(identifier)
        if found is None:
            return False
        fanout, state, alert, device_ids, contact_ids = found
        if fanout.finished_at is not None:
            return False
        now = self._clock.now()
        if state != "issued":
            async with self._db.transaction() as conn:
                await store.advance_fanout(
                    conn, fanout, fanout.devices_done, fanout.contacts_done, now, state
                )
            log.warning(
                "alert fan-out stopped",
                extra={
                    "identifier": identifier,
                    "state": state,
                    "devices_left": device_ids.size - fanout.devices_done,
                },
            )
            self._frozen.pop(identifier, None)
            return False
        devices = device_ids[fanout.devices_done : fanout.devices_done + self.BATCH]
        contacts = contact_ids[fanout.contacts_done : fanout.contacts_done + self.BATCH]
        # Encoded before the write lock is taken: the lock is held only for the insert.
        messages = self._messages(alert, fanout.chain)
        rows = self._outbox.encode(await self._batch(alert, messages, devices, contacts))
        devices_done = fanout.devices_done + int(devices.size)
        contacts_done = fanout.contacts_done + int(contacts.size)
        finished = devices_done == device_ids.size and contacts_done == contact_ids.size

        async def write_batch(conn: aiosqlite.Connection) -> bool:
            moved = await store.advance_fanout(
                conn,
                fanout,
                devices_done,
                contacts_done,
                now if finished else None,
                "complete" if finished else None,
            )
            if moved:
                await self._outbox.enqueue_in(conn, rows)
            return moved

        # Whole in the writer's thread: the writers' lock is held for the insert alone, not
        # also for this (busy) process's event loop between statements, which the web
        # process's hotline writes would wait for (README, "Processes").
        moved = await self._db.transact(write_batch)
        if finished or not moved:
            self._frozen.pop(identifier, None)  # read again if it is ever continued again
        if finished and moved:
            log.info(
                "alert fan-out complete",
                extra={
                    "identifier": identifier,
                    "devices": devices_done,
                    "contacts": contacts_done,
                },
            )
        return not finished or not moved

    async def _fanout(
        self, identifier: str
    ) -> tuple[store.Fanout, store.State, Alert, IdArray, IdArray] | None:
        """The fan-out as it stands, its alert's state and document, and its frozen targets.

        The targets (800 kB for 100,000 devices) never change once frozen, and the document
        changes only with the alert's version: both are kept per fan-out while it runs, so a
        batch reads only the progress and the alert's (state, version), not the targets and
        the document's JSON again each time (400 times for 100,000 devices).
        """
        progress = await store.fanout_progress(self._db, identifier)
        current = await store.alert_version(self._db.reader, identifier)
        if progress is None or current is None:
            self._frozen.pop(identifier, None)
            return None
        state, version = current
        kept = self._frozen.get(identifier)
        if kept is None or kept.version != version:
            full = await store.get_fanout(self._db, identifier)
            stored = await store.get_alert(self._db.reader, identifier)
            if full is None or stored is None:
                return None
            kept = _Frozen(
                full,
                stored.version,
                stored.alert,
                np.frombuffer(full.device_ids, dtype="<i8"),
                np.frombuffer(full.contact_ids, dtype="<i8"),
            )
            self._frozen[identifier] = kept
            state = stored.state
            progress = (full.devices_done, full.contacts_done, full.finished_at, full.outcome)
        devices_done, contacts_done, finished_at, outcome = progress
        fanout = replace(
            kept.fanout,
            devices_done=devices_done,
            contacts_done=contacts_done,
            finished_at=finished_at,
            outcome=outcome,
        )
        return fanout, state, kept.alert, kept.device_ids, kept.contact_ids

    def _condition(self, alert: Alert, message: PushMessage, condition: str) -> OutboxItem:
        digest = hashlib.sha1(condition.encode()).hexdigest()[:16]  # noqa: S324  # a key, not security
        return OutboxItem(
            "push",
            replace(message, target_kind="condition", target=condition),
            idempotency_key=f"{alert.identifier}:condition:{digest}",
            reference=alert.identifier,
            priority=PRIORITY_TOPIC,
            not_after=alert.expires,
        )

    def _messages(self, alert: Alert, chain: str) -> dict[str, PushMessage]:
        now = self._clock.now()
        return {
            lang: self._push(alert, info, chain, now) for lang, info in _languages(alert).items()
        }

    async def _batch(
        self,
        alert: Alert,
        messages: dict[str, PushMessage],
        device_ids: IdArray,
        contact_ids: IdArray,
    ) -> list[OutboxItem]:
        """Outbox items for these devices (by token) and contacts (SMS, voice if vulnerable)."""
        identifier = alert.identifier
        by_language = _languages(alert)
        vi = by_language["vi"]
        items: list[OutboxItem] = []
        for device in await self._recipients.devices(device_ids.tolist()):
            items.append(
                OutboxItem(
                    "push",
                    replace(messages.get(device.language, messages["vi"]), target=device.token),
                    idempotency_key=f"{identifier}:push:{device.device_id}",
                    reference=identifier,
                    priority=PRIORITY_DIRECT,
                    not_after=alert.expires,
                )
            )
        for contact in await self._recipients.contacts(contact_ids.tolist()):
            info = by_language.get(contact.language, vi)
            items.append(
                OutboxItem(
                    "sms",
                    SmsMessage(to=contact.phone, body=sms_text(info), sender=self._sms_sender),
                    idempotency_key=f"{identifier}:sms:{contact.phone}",
                    reference=identifier,
                    priority=PRIORITY_DIRECT,
                    not_after=alert.expires,
                )
            )
            if self._voice and contact.vulnerable and alert.msg_type != "Cancel":
                items.append(
                    OutboxItem(
                        "voice",
                        VoiceCall(
                            to=contact.phone,
                            caller_id=self._sms_sender,
                            twiml=twiml(vi, self._speech),
                        ),
                        idempotency_key=f"{identifier}:voice:{contact.phone}",
                        reference=identifier,
                        priority=PRIORITY_DIRECT,
                        not_after=alert.expires,
                    )
                )
        return items

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


class Delivery(FanoutBatches):
    """Implements the workflow's FanOut port over a Directory and the notify outbox.

    Issuing commits the conditions and the first FIRST_DEVICES tokens and FIRST_CONTACTS
    contacts with the alert, so the first sends start at once; `continue_fanout` (or the same
    FanoutBatches in the sender's process) enqueues the rest.
    """

    FIRST_DEVICES = 2_000
    FIRST_CONTACTS = 500

    def __init__(
        self,
        directory: Directory,
        outbox: Outbox,
        db: Database,
        clock: Clock,
        *,
        sms_sender: str,
        public_base_url: str,
        voice: str,
        voice_for_vulnerable: bool = True,
    ) -> None:
        super().__init__(
            directory, outbox, db, clock, sms_sender=sms_sender,
            public_base_url=public_base_url, voice=voice,
            voice_for_vulnerable=voice_for_vulnerable,
        )  # fmt: skip
        self.directory = directory

    def geometry(self, alert: Alert) -> Geometry:
        """The alert's area as one lon/lat geometry: its polygons and its wards."""
        parts: list[Geometry] = []
        codes: list[str] = []
        for area in _areas(alert):
            parts.extend(shapely.Polygon([(lon, lat) for lat, lon in p]) for p in area.polygons)
            codes.extend(area.ward_codes)
        if codes:
            parts.append(self.directory.ward_geometry(codes))
        if not parts:
            return shapely.Polygon()
        return shapely.union_all([shapely.make_valid(p) for p in parts])

    def check_area(self, alert: Alert) -> None:
        """Raise what planning would (UnknownWards, InvalidArea for an area with no ground)
        without planning: no device index query."""
        self.directory.check_area(self.geometry(alert))

    async def report(self, identifier: str) -> dict[str, object]:
        """What the outbox did with an alert's messages: per channel and status, push by route
        (ward-topic conditions, device tokens), failures by error code."""
        by_priority = await self._outbox.counts_by_priority(identifier)
        failures = await self._outbox.failure_codes(identifier)
        return {
            "channels": await self._outbox.counts(identifier),
            "routes": {
                "condition": by_priority.get(("push", PRIORITY_TOPIC), {}),
                "token": by_priority.get(("push", PRIORITY_DIRECT), {}),
            },
            "failures": failures,
            # Tokens FCM no longer knows: the device registry drops them (PushTokenRejected).
            "removed": failures.get("push", {}).get("UNREGISTERED", 0),
        }

    def preview(self, alert: Alert) -> dict[str, Any]:
        """The plan staff see before approving (recomputed; frozen only at issue)."""
        return self.directory.plan(self.geometry(alert)).summary()

    async def prepare(self, alert: Alert, chain: str) -> Prepared:
        if alert.status in AUDIENCE_ONLY:
            return await self._prepare_test(alert, chain)
        plan = self.directory.plan(self.geometry(alert))
        device_ids = np.asarray(plan.token_device_ids, dtype="<i8")
        contact_ids = np.asarray(plan.contact_ids, dtype="<i8")
        first_devices = device_ids[: self.FIRST_DEVICES]
        first_contacts = contact_ids[: self.FIRST_CONTACTS]
        messages = self._messages(alert, chain)
        items = [
            self._condition(alert, messages[language], condition)
            for language in DEVICE_LANGUAGES
            for condition in plan.conditions_in(language)
        ]
        items += await self._batch(alert, messages, first_devices, first_contacts)
        summary = plan.summary()
        summary["messages"] = {
            "condition": sum(1 for item in items if item.priority == PRIORITY_TOPIC),
            "token": int(device_ids.size),
            "sms": int(contact_ids.size),
        }
        return Prepared(
            alert.identifier,
            chain,
            summary,
            items,
            device_ids.tobytes(),
            contact_ids.tobytes(),
            int(first_devices.size),
            int(first_contacts.size),
            self._outbox.encode(items),
        )

    async def _prepare_test(self, alert: Alert, chain: str) -> Prepared:
        """A Test or Exercise alert reaches the enrolled test audience only, marked as such: no
        ward topic, no device or contact that targeting finds (the public never gets it)."""
        members = await store.test_audience(self._db)
        alert = marked(alert)
        messages = self._messages(alert, chain)
        by_language = _languages(alert)
        items: list[OutboxItem] = []
        for member in members:
            key = f"{alert.identifier}:test:{member.id}"
            if member.kind == "device":
                message = messages.get(member.language, messages["vi"])
                items.append(
                    OutboxItem(
                        "push", replace(message, target=member.address), idempotency_key=key,
                        reference=alert.identifier, priority=PRIORITY_DIRECT,
                        not_after=alert.expires,
                    )
                )  # fmt: skip
            else:
                info = by_language.get(member.language, by_language["vi"])
                sms = SmsMessage(to=member.address, body=sms_text(info), sender=self._sms_sender)
                items.append(
                    OutboxItem(
                        "sms", sms, idempotency_key=key, reference=alert.identifier,
                        priority=PRIORITY_DIRECT, not_after=alert.expires,
                    )
                )  # fmt: skip
        plan = audience_plan(members)
        return Prepared(alert.identifier, chain, plan, items, b"", b"", 0, 0)

    async def commit(self, conn: aiosqlite.Connection, prepared: Prepared) -> dict[str, Any]:
        """Enqueue the first batch and record the frozen targets, in the issue transaction."""
        added = await self._outbox.enqueue_in(
            conn, prepared.rows if prepared.rows is not None else prepared.items
        )
        now = self._clock.now()
        finished = prepared.devices_done * 8 == len(prepared.device_ids) and (
            prepared.contacts_done * 8 == len(prepared.contact_ids)
        )
        await store.insert_fanout(
            conn,
            store.Fanout(
                identifier=prepared.identifier,
                chain=prepared.chain,
                device_ids=prepared.device_ids,
                contact_ids=prepared.contact_ids,
                devices_done=prepared.devices_done,
                contacts_done=prepared.contacts_done,
                started_at=now,
                finished_at=now if finished else None,
                outcome="complete" if finished else None,
            ),
        )
        log.info(
            "alert fan-out started",
            extra={
                "identifier": prepared.identifier,
                "messages": len(prepared.items),
                "new": added,
                "devices": len(prepared.device_ids) // 8,
                "contacts": len(prepared.contact_ids) // 8,
            },
        )
        if not finished:
            # Waking before the commit is safe: the runner reads pending fan-outs through the
            # writer, which waits for this transaction.
            self._wake()
        return prepared.plan

    async def withdraw(self, conn: aiosqlite.Connection, identifier: str, by: str) -> int:
        """In the transaction that supersedes `identifier`: its messages not yet sent are not
        sent (a cancelled warning must stop reaching people at once) and its fan-out ends.
        Returns how many messages were withdrawn."""
        await store.stop_fanout(conn, identifier, self._clock.now(), "superseded")
        return await self._outbox.withdraw_in(
            conn, identifier, "SUPERSEDED", f"superseded by {by} before it was sent"
        )


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _languages(alert: Alert) -> dict[str, Info]:
    """The info block for each device language; English falls back to Vietnamese."""
    vi = alert.info(LANGUAGE_VI)
    if vi is None:
        raise InvalidAlert(["info: a vi-VN block is required"])
    return {"vi": vi, "en": alert.info(LANGUAGE_EN) or vi}


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


def twiml(info: Info, speech: Speech) -> str:
    """A Vietnamese voice message, said twice (people answering may miss the start)."""
    return speech.message(f"{info.headline}. {info.instruction}")


def ward_area(
    directory: Directory, codes: Sequence[str], description: str, max_points: int
) -> Area:
    """A CAP area for these wards: their geocodes and an outline of ≤ max_points points
    (UnknownWards naming codes the catalogue lacks)."""
    return Area(
        description=description or ", ".join(directory.ward_names(codes)),
        polygons=directory.ward_outline(codes, max_points),
        geocodes=tuple(Geocode(GEOCODE_WARD, code) for code in codes),
    )
