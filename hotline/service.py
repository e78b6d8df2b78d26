"""The hotline at work: one method per webhook step, the operator dialer and callback attempts.

Webhook steps that change state run once per (CallSid, step): the step's answer is stored in the
same transaction as its effects, and a retried webhook is answered from the store. Slow work
(placing calls to operators) runs in background tasks the Hotline keeps and awaits on shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import aiosqlite

from canhbao.audit import record_audit
from canhbao.clock import Clock, parse_utc, to_local, utc_text
from canhbao.config import Config
from canhbao.db import Database
from canhbao.events import EventBus
from hotline import rescue, store, texts
from hotline.errors import InvalidTransition, NotFound
from hotline.models import (
    CallbackReason,
    CallStatus,
    KnownLocation,
    Operator,
    attempt_outcome,
    expected_wait_minutes,
    is_machine,
    location_is_fresh,
    next_attempt_delay,
    on_shift,
    parse_people,
    parse_sos,
    parse_vulnerabilities,
)
from hotline.sources import FloodInfoSource, LocationSource, WarningSource
from hotline.texts import Text
from hotline.twiml import Twiml, sms_reply
from notify.errors import NotifyError
from notify.models import VoiceCall
from notify.ports import VoiceCaller

log = logging.getLogger(__name__)

Form = Mapping[str, str]
SYSTEM_ACTOR = "system:hotline"
# A Twilio refusal to place a callback does not use up an attempt; we try again this soon.
PLACE_RETRY = timedelta(minutes=1)
# An operator leg with no news for this long no longer counts as ringing (lost callback).
RINGING_STALE_EXTRA = timedelta(minutes=2)
# ... nor as holding its operator on a call.
BUSY_STALE = timedelta(hours=4)
CALLBACK_RING_S = 30
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


@dataclass
class Step:
    """What a step answers, and what it set in motion."""

    twiml: str
    events: list[object] = field(default_factory=list)
    dial: bool = False


class _AlreadyTaken(Exception):
    """A retry committed this step first; roll back ours and answer as it did."""


class Hotline:
    def __init__(
        self,
        *,
        config: Config,
        db: Database,
        clock: Clock,
        bus: EventBus,
        voice: VoiceCaller,
        flood: FloodInfoSource,
        warnings: WarningSource,
        locations: LocationSource,
    ) -> None:
        self.config = config
        self.settings = config.hotline
        self.db = db
        self.clock = clock
        self.bus = bus
        self.voice = voice
        self.flood = flood
        self.warnings = warnings
        self.locations = locations
        self.twiml = Twiml(config)
        self.hotline_number = config.telephony.hotline_number
        self._tasks: set[asyncio.Task[None]] = set()
        self._dial_lock = asyncio.Lock()

    # --- plumbing --------------------------------------------------------------------------

    def spawn(self, work: Awaitable[object], what: str) -> None:
        async def run() -> None:
            try:
                await work
            except Exception:
                log.exception("hotline background work failed", extra={"work": what})

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait until every background task (and what they started) has finished."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def once(
        self, sid: str, step: str, act: Callable[[aiosqlite.Connection, datetime], Awaitable[Step]]
    ) -> str:
        """Run a side-effecting step once per (sid, step); a repeat gets the first answer."""
        stored = await store.step_response(self.db, sid, step)
        if stored is not None:
            log.info(
                "webhook step repeated; answered from the log", extra={"sid": sid, "step": step}
            )
            return stored
        now = self.clock.now()
        try:
            async with self.db.transaction() as conn:
                result = await act(conn, now)
                if not await store.claim_step(conn, sid, step, result.twiml, now):
                    raise _AlreadyTaken
        except _AlreadyTaken:
            again = await store.step_response(self.db, sid, step)
            return again or self.twiml.empty()
        await self._after(result)
        return result.twiml

    async def _after(self, result: Step) -> None:
        for event in result.events:
            await self.bus.publish(event)
        if result.dial:
            self.spawn(self.dial_operators(), "dial operators")

    def _party(self, call: store.CallRow) -> str:
        """The citizen's number on a call: the caller, or whom we called back."""
        return call.to_number if call.kind == "callback" else call.from_number

    async def _call(self, conn: aiosqlite.Connection, form: Form, now: datetime) -> store.CallRow:
        sid = form["CallSid"]
        call = await store.get_call(conn, sid)
        if call is None:
            # The first webhook of this call was lost or went to the fallback URL.
            await store.ensure_call(
                conn,
                sid,
                kind="inbound",
                at=now,
                direction=form.get("Direction", "inbound"),
                from_number=form.get("From", ""),
                to_number=form.get("To", ""),
            )
            call = await store.get_call(conn, sid)
            assert call is not None  # noqa: S101  # just written
        return call

    # --- greeting and menu -----------------------------------------------------------------

    async def _severe_headline(self) -> str | None:
        warnings = await self.warnings.in_force(None)
        severe = [w.headline for w in warnings or () if w.severe]
        return severe[0] if severe else None

    async def incoming(self, form: Form) -> str:
        headline = await self._severe_headline()
        caller = form.get("From", "")

        async def act(conn: aiosqlite.Connection, now: datetime) -> Step:
            await store.ensure_call(
                conn,
                form["CallSid"],
                kind="inbound",
                at=now,
                direction=form.get("Direction", "inbound"),
                from_number=caller,
                to_number=form.get("To", ""),
            )
            await self._close_open_task(
                conn, caller, now, "caller called again", f"caller:{caller}"
            )
            return Step(self.twiml.greeting(1, headline))

        sid = form["CallSid"]
        log.info("incoming call", extra={"call_sid": sid, "severe_warning": bool(headline)})
        return await self.once(sid, "voice", act)

    async def menu(self, form: Form, query: Mapping[str, str]) -> str:
        digits = form.get("Digits", "")
        attempt = _int(query.get("attempt"), 1)
        if digits == "1":
            return self.twiml.redirect("/twilio/voice/rescue")
        if digits == "2":
            return self.twiml.redirect("/twilio/voice/flood")
        if digits == "3":
            return self.twiml.redirect("/twilio/voice/queue", via="menu")
        if digits == "9":
            return self.twiml.greeting(1, await self._severe_headline())
        if attempt >= 2:
            # No usable input twice: a person who cannot choose still reaches a person.
            return self.twiml.redirect("/twilio/voice/queue", via="no-input")
        return self.twiml.greeting(
            attempt + 1, await self._severe_headline(), prefix=texts.NOT_UNDERSTOOD
        )

    # --- rescue ----------------------------------------------------------------------------

    async def _fresh_location(self, phone: str) -> KnownLocation | None:
        if not phone:
            return None
        location = await self.locations.locate(phone)
        max_age = timedelta(minutes=self.settings.location_max_age_min)
        if location is None or not location_is_fresh(location, self.clock.now(), max_age):
            return None
        return location

    async def rescue_start(self, form: Form) -> str:
        location = await self._fresh_location(form.get("From", ""))

        async def act(conn: aiosqlite.Connection, now: datetime) -> Step:
            call = await self._call(conn, form, now)
            await store.append_path(conn, call.sid, "rescue", now)
            if location is None:
                return Step(self.twiml.ask_address(intro=True))
            description = location.description
            if not description:
                local = to_local(location.located_at)
                description = texts.location_reported_at(local.hour, local.minute).vi
            return Step(self.twiml.known_location(description))

        return await self.once(form["CallSid"], "rescue", act)

    async def rescue_location(self, form: Form) -> str:
        location = await self._fresh_location(form.get("From", ""))
        confirmed = form.get("Digits") == "1" and location is not None

        async def act(conn: aiosqlite.Connection, now: datetime) -> Step:
            call = await self._call(conn, form, now)
            if not confirmed or location is None:
                await store.append_path(conn, call.sid, "other-address", now)
                return Step(self.twiml.ask_address(intro=False))
            await store.append_path(conn, call.sid, "known-location", now)
            draft = rescue.NewRescueRequest(
                source="call",
                caller=call.from_number,
                source_sid=call.sid,
                lat=location.lat,
                lon=location.lon,
                accuracy_m=location.accuracy_m,
                location_source=location.source,
                address=location.description,
            )
            request = await self._create_request(conn, call, draft, now)
            return Step(self.twiml.ask_people(), events=[rescue.event_for(request)])

        return await self.once(form["CallSid"], "rescue-location", act)

    async def _create_request(
        self,
        conn: aiosqlite.Connection,
        call: store.CallRow,
        draft: rescue.NewRescueRequest,
        now: datetime,
    ) -> rescue.RescueRequest:
        request = await rescue.create_request(
            conn, draft, at=now, actor=f"caller:{call.from_number}"
        )
        await store.update_call(conn, call.sid, now, rescue_request_id=request.id)
        log.info(
            "rescue request created",
            extra={"call_sid": call.sid, "request": request.number, "source": "call"},
        )
        return request

    async def rescue_address(self, form: Form) -> str:
        speech = form.get("SpeechResult", "").strip()

        async def act(conn: aiosqlite.Connection, now: datetime) -> Step:
            call = await self._call(conn, form, now)
            await store.append_path(conn, call.sid, "address", now)
            draft = rescue.NewRescueRequest(
                source="call", caller=call.from_number, source_sid=call.sid, address=speech
            )
            request = await self._create_request(conn, call, draft, now)
            return Step(self.twiml.record_address(), events=[rescue.event_for(request)])

        return await self.once(form["CallSid"], "rescue-address", act)

    async def rescue_recorded(self, form: Form) -> str:
        async def act(conn: aiosqlite.Connection, now: datetime) -> Step:
            call = await self._call(conn, form, now)
            url = form.get("RecordingUrl", "")
            if url and form.get("RecordingSid"):
                await store.save_recording(
                    conn,
                    call_sid=call.sid,
                    recording_sid=form["RecordingSid"],
                    kind="address",
                    url=url,
                    duration_s=_opt_int(form.get("RecordingDuration")),
                    status=form.get("RecordingStatus", "completed"),
                    at=now,
                )
                if call.rescue_request_id is not None:
                    await rescue.update_details(
                        conn,
                        call.rescue_request_id,
                        at=now,
                        actor=f"caller:{call.from_number}",
                        recording_url=url,
                    )
            return Step(self.twiml.ask_people())

        return await self.once(form["CallSid"], "rescue-recorded", act)

    def ask_people(self) -> str:
        return self.twiml.ask_people()

    async def rescue_people(self, form: Form) -> str:
        people = parse_people(form.get("Digits", ""))

        async def act(conn: aiosqlite.Connection, now: datetime) -> Step:
            call = await self._call(conn, form, now)
            if people is not None and call.rescue_request_id is not None:
                await rescue.update_details(
                    conn,
                    call.rescue_request_id,
                    at=now,
                    actor=f"caller:{call.from_number}",
                    people=people,
                )
            return Step(self.twiml.ask_vulnerabilities())

        return await self.once(form["CallSid"], "rescue-people", act)

    async def rescue_needs(self, form: Form) -> str:
        needs = parse_vulnerabilities(form.get("Digits", ""))
        free = await self._idle_operators()

        async def act(conn: aiosqlite.Connection, now: datetime) -> Step:
            call = await self._call(conn, form, now)
            events: list[object] = []
            if call.rescue_request_id is None:
                # The address step never ran (its webhook was lost): keep what we know.
                draft = rescue.NewRescueRequest(
                    source="call", caller=call.from_number, source_sid=call.sid
                )
                request = await self._create_request(conn, call, draft, now)
                events.append(rescue.event_for(request))
            else:
                request = await rescue.update_details(
                    conn,
                    call.rescue_request_id,
                    at=now,
                    actor=f"caller:{call.from_number}",
                    vulnerabilities=needs,
                )
            created = texts.request_created(request.number)
            if free:
                return Step(
                    self.twiml.redirect("/twilio/voice/queue", created, via="rescue"),
                    events=events,
                )
            await self._ensure_task(conn, call, "rescue", now, request_id=request.id)
            delay = self.settings.callback_delays_min[0] if self.settings.callback_delays_min else 0
            return Step(
                self.twiml.say_and_hang_up(
                    created, texts.help_will_call(delay), texts.CALL_ENDED_THANKS
                ),
                events=events,
            )

        return await self.once(form["CallSid"], "rescue-needs", act)

    # --- flood information ------------------------------------------------------------------

    async def flood_info(self, form: Form) -> str:
        levels = await self.flood.levels(self.settings.key_stations)
        location = await self._fresh_location(form.get("From", ""))
        warnings = await self.warnings.in_force(location)
        lines: list[Text] = []
        for level in levels:
            if level.level_m is None:
                lines.append(texts.station_unavailable(level.name))
            else:
                lines.append(
                    texts.station_level(
                        level.name,
                        level.river,
                        level.level_m,
                        level.band,
                        level.trend,
                        level.rate_m_per_h,
                    )
                )
        if not levels:
            lines.append(texts.NO_STATION_DATA)
        if warnings is None:
            lines.append(texts.WARNINGS_UNKNOWN)
        else:
            lines.append(texts.warnings_in_force([w.headline for w in warnings]))
        now = self.clock.now()
        async with self.db.transaction() as conn:
            call = await self._call(conn, form, now)
            await store.append_path(conn, call.sid, "flood", now)
            if call.outcome is None:
                await store.update_call(conn, call.sid, now, outcome="informed")
        return self.twiml.flood_info(lines)

    # --- queue -----------------------------------------------------------------------------

    async def enqueue(self, form: Form, query: Mapping[str, str]) -> str:
        via = query.get("via", "menu")

        async def act(conn: aiosqlite.Connection, now: datetime) -> Step:
            call = await self._call(conn, form, now)
            await store.append_path(
                conn, call.sid, "no-input>operator" if via == "no-input" else "operator", now
            )
            if call.enqueued_at is None:
                await store.update_call(conn, call.sid, now, enqueued_at=now)
            return Step(self.twiml.enqueue(self.settings.queue_name, texts.TO_OPERATOR), dial=True)

        return await self.once(form["CallSid"], "queue", act)

    async def queue_wait(self, form: Form) -> str:
        position = _int(form.get("QueuePosition"), 1)
        waited = _int(form.get("QueueTime"), 0)
        average = _int(form.get("AvgQueueTime"), 0)
        if waited >= self.settings.operator_answer_timeout_s:
            return self.twiml.queue_wait(texts.NO_OPERATOR, default_choice="voicemail")
        on_duty = await self._on_duty_count()
        minutes = expected_wait_minutes(
            position, float(average), self.settings.average_handle_time_s, on_duty
        )
        # Each lap of the wait loop also makes sure someone is being rung for this caller.
        self.spawn(self.dial_operators(), "dial operators")
        return self.twiml.queue_wait(texts.queue_position(position, minutes), default_choice=None)

    async def queue_choice(self, form: Form, query: Mapping[str, str]) -> str:
        digits = form.get("Digits", "")
        choice = {"1": "callback", "2": "voicemail"}.get(digits) or query.get("default")
        if choice not in ("callback", "voicemail"):
            return self.twiml.say_only(texts.NOT_UNDERSTOOD)
        now = self.clock.now()
        async with self.db.transaction() as conn:
            call = await self._call(conn, form, now)
            await store.update_call(conn, call.sid, now, queue_choice=choice)
        return self.twiml.leave()

    async def queue_done(self, form: Form) -> str:
        result = form.get("QueueResult", "")
        waited = _opt_int(form.get("QueueTime"))

        async def act(conn: aiosqlite.Connection, now: datetime) -> Step:
            call = await self._call(conn, form, now)
            columns: dict[str, object] = {}
            if call.dequeued_at is None:
                columns["dequeued_at"] = now
            if waited is not None:
                columns["queue_wait_s"] = float(waited)
            if columns:
                await store.update_call(conn, call.sid, now, **columns)
            if result == "bridged":
                if call.outcome is None:
                    await store.update_call(conn, call.sid, now, outcome="handled")
                return Step(self.twiml.say_and_hang_up(texts.CALL_ENDED_THANKS))
            if result == "hangup":
                await store.append_path(conn, call.sid, "hung-up-in-queue", now)
                await self._abandoned(conn, call, now)
                return Step(self.twiml.empty())
            if call.queue_choice == "callback":
                await store.append_path(conn, call.sid, "callback-requested", now)
                await self._ensure_task(conn, call, "requested", now)
                return Step(self.twiml.say_and_hang_up(texts.CALLBACK_PROMISED))
            await store.append_path(conn, call.sid, "voicemail", now)
            return Step(self.twiml.voicemail())

        return await self.once(form["CallSid"], "queue-done", act)

    async def voicemail(self, form: Form) -> str:
        async def act(conn: aiosqlite.Connection, now: datetime) -> Step:
            call = await self._call(conn, form, now)
            if form.get("RecordingSid") and form.get("RecordingUrl"):
                await store.save_recording(
                    conn,
                    call_sid=call.sid,
                    recording_sid=form["RecordingSid"],
                    kind="voicemail",
                    url=form["RecordingUrl"],
                    duration_s=_opt_int(form.get("RecordingDuration")),
                    status=form.get("RecordingStatus", "completed"),
                    at=now,
                )
            await store.update_call(conn, call.sid, now, outcome="voicemail")
            await self._ensure_task(conn, call, "voicemail", now, set_outcome=False)
            return Step(self.twiml.say_and_hang_up(texts.VOICEMAIL_SAVED))

        return await self.once(form["CallSid"], "voicemail", act)

    async def voicemail_none(self, form: Form) -> str:
        async def act(conn: aiosqlite.Connection, now: datetime) -> Step:
            call = await self._call(conn, form, now)
            await self._ensure_task(conn, call, "no_operator", now)
            return Step(self.twiml.say_and_hang_up(texts.CALLBACK_PROMISED))

        return await self.once(form["CallSid"], "voicemail-none", act)

    async def recording_status(self, form: Form, query: Mapping[str, str]) -> None:
        kind = query.get("kind", "voicemail")
        if kind not in ("address", "voicemail") or not form.get("RecordingSid"):
            return
        now = self.clock.now()
        async with self.db.transaction() as conn:
            await store.save_recording(
                conn,
                call_sid=form.get("CallSid", ""),
                recording_sid=form["RecordingSid"],
                kind=kind,
                url=form.get("RecordingUrl", ""),
                duration_s=_opt_int(form.get("RecordingDuration")),
                status=form.get("RecordingStatus", "completed"),
                at=now,
            )
        log.info(
            "recording reported",
            extra={"call_sid": form.get("CallSid"), "status": form.get("RecordingStatus")},
        )

    # --- operators -------------------------------------------------------------------------

    async def _on_duty(self) -> list[Operator]:
        now = self.clock.now()
        return [op for op in await store.list_operators(self.db) if on_shift(op, now)]

    async def _on_duty_count(self) -> int:
        return len(await self._on_duty())

    async def _idle_operators(self) -> list[Operator]:
        now = self.clock.now()
        idle = await store.idle_operators(self.db, now - BUSY_STALE)
        return [op for op in idle if on_shift(op, now)]

    async def dial_operators(self) -> int:
        """Ring one idle on-duty operator for each waiting caller not yet covered by a ringing
        operator; returns how many were rung."""
        async with self._dial_lock:
            now = self.clock.now()
            ring_stale = (
                now - timedelta(seconds=self.settings.operator_ring_timeout_s) - RINGING_STALE_EXTRA
            )
            waiting = len(await store.waiting_calls(self.db))
            pending = await store.pending_operator_legs(self.db, ring_stale)
            needed = waiting - pending
            if needed <= 0:
                return 0
            rung = 0
            for operator in (await self._idle_operators())[:needed]:
                call = VoiceCall(
                    to=operator.phone,
                    caller_id=self.hotline_number,
                    url=self.twiml.url("/twilio/voice/operator", operator=operator.id),
                    status_callback=self.twiml.url(
                        "/twilio/status", kind="operator", operator=operator.id
                    ),
                    timeout_s=self.settings.operator_ring_timeout_s,
                )
                try:
                    sid = await self.voice.place_call(call)
                except NotifyError as err:
                    log.warning(
                        "could not ring an operator",
                        extra={"operator_id": operator.id, "error": str(err)},
                    )
                    continue
                now = self.clock.now()
                async with self.db.transaction() as conn:
                    await store.ensure_call(
                        conn,
                        sid,
                        kind="operator",
                        at=now,
                        direction="outbound-api",
                        from_number=self.hotline_number,
                        to_number=operator.phone,
                        operator_id=operator.id,
                        status="queued",
                    )
                    await conn.execute(
                        "UPDATE hotline_operators SET last_offered_at = ? WHERE id = ?",
                        (utc_text(now), operator.id),
                    )
                log.info("ringing operator", extra={"operator_id": operator.id, "call_sid": sid})
                rung += 1
            return rung

    async def operator_answer(self, form: Form, query: Mapping[str, str]) -> str:
        operator_id = _int(query.get("operator"), 0)
        return self.twiml.operator_offer(operator_id)

    async def operator_accept(self, form: Form, query: Mapping[str, str]) -> str:
        operator_id = _int(query.get("operator"), 0)
        accepted = form.get("Digits") == "1"

        async def act(conn: aiosqlite.Connection, now: datetime) -> Step:
            if not accepted:
                return Step(self.twiml.say_and_hang_up())
            waiting = await store.waiting_calls(conn)
            if not waiting:
                return Step(self.twiml.say_and_hang_up(texts.OPERATOR_NOBODY_WAITING))
            # People we called back wait in their own queue, taken first: the front of the line.
            callbacks = [c for c in waiting if c.kind == "callback"]
            queue = self.settings.callback_queue_name if callbacks else self.settings.queue_name
            return Step(self.twiml.bridge(queue, operator_id))

        return await self.once(form["CallSid"], "operator-accept", act)

    async def queue_connect(self, form: Form) -> str:
        """Twilio runs this on the waiting caller's leg as an operator's <Dial><Queue> takes it."""
        operator_leg = form.get("DequeingCallSid", "")
        waited = _opt_int(form.get("QueueTime"))

        async def act(conn: aiosqlite.Connection, now: datetime) -> Step:
            call = await self._call(conn, form, now)
            leg = await store.get_call(conn, operator_leg) if operator_leg else None
            columns: dict[str, object] = {"outcome": "handled", "dequeued_at": now}
            if waited is not None:
                columns["queue_wait_s"] = float(waited)
            if leg is not None:
                columns["operator_id"] = leg.operator_id
                await store.update_call(conn, leg.sid, now, outcome="handled", parent_sid=call.sid)
            await store.update_call(conn, call.sid, now, **columns)
            log.info(
                "caller connected to an operator",
                extra={"call_sid": call.sid, "operator_call_sid": operator_leg},
            )
            return Step(self.twiml.say_only(texts.CONNECTING))

        return await self.once(form["CallSid"], "connect", act)

    def operator_done(self) -> str:
        self.spawn(self.dial_operators(), "dial operators")
        return self.twiml.say_and_hang_up()

    # --- callbacks -------------------------------------------------------------------------

    async def _ensure_task(
        self,
        conn: aiosqlite.Connection,
        call: store.CallRow,
        reason: CallbackReason,
        now: datetime,
        *,
        request_id: int | None = None,
        set_outcome: bool = True,
    ) -> store.CallbackTask | None:
        """The open callback task for this call's citizen: the one already open, or a new one."""
        phone = self._party(call)
        if set_outcome:
            await store.update_call(
                conn, call.sid, now, outcome="abandoned" if reason == "abandoned" else "callback"
            )
        if not _E164.match(phone):
            log.warning(
                "no number to call back (withheld or malformed)",
                extra={"call_sid": call.sid, "reason": reason},
            )
            return None
        task = await store.open_task_for(conn, phone)
        if task is None:
            delays = self.settings.callback_delays_min
            due = now + timedelta(minutes=delays[0] if delays else 0)
            task = await store.insert_task(
                conn,
                phone=phone,
                reason=reason,
                source_call_sid=call.sid,
                rescue_request_id=request_id or call.rescue_request_id,
                due=due,
                at=now,
            )
            log.info(
                "callback task created",
                extra={"call_sid": call.sid, "task_id": task.id, "reason": reason},
            )
        await store.update_call(conn, call.sid, now, callback_task_id=task.id)
        return task

    async def _abandoned(
        self, conn: aiosqlite.Connection, call: store.CallRow, now: datetime
    ) -> None:
        if call.outcome is None:
            await self._ensure_task(conn, call, "abandoned", now)

    async def _close_open_task(
        self, conn: aiosqlite.Connection, phone: str, now: datetime, reason: str, actor: str
    ) -> store.CallbackTask | None:
        task = await store.open_task_for(conn, phone) if phone else None
        if task is None:
            return None
        await store.set_task(
            conn, task.id, now, status="closed", closed_at=now, closed_by=actor, close_reason=reason
        )
        await record_audit(
            conn,
            at=now,
            actor=actor,
            action="callback.close",
            entity="callback_task",
            entity_id=str(task.id),
            before={"status": task.status},
            after={"status": "closed", "reason": reason},
        )
        log.info("callback task closed", extra={"task_id": task.id, "reason": reason})
        return task

    async def callback_answer(self, form: Form, query: Mapping[str, str]) -> str:
        task_id = _int(query.get("task"), 0)
        attempt_id = _int(query.get("attempt"), 0)
        answered_by = form.get("AnsweredBy")

        async def act(conn: aiosqlite.Connection, now: datetime) -> Step:
            await store.ensure_call(
                conn,
                form["CallSid"],
                kind="callback",
                at=now,
                direction="outbound-api",
                from_number=form.get("From", self.hotline_number),
                to_number=form.get("To", ""),
                callback_task_id=task_id,
                callback_attempt_id=attempt_id,
            )
            await store.update_call(conn, form["CallSid"], now, answered_by=answered_by)
            await store.set_attempt(conn, attempt_id, answered_by=answered_by)
            if is_machine(answered_by):
                return Step(self.twiml.say_and_hang_up(texts.CALLBACK_MACHINE))
            await store.set_attempt(conn, attempt_id, outcome="reached")
            task = await store.get_task(conn, task_id)
            if task is not None and task.status in ("open", "calling"):
                await store.set_task(conn, task_id, now, status="reached", next_attempt_at=None)
            await store.update_call(conn, form["CallSid"], now, enqueued_at=now)
            log.info(
                "callback reached a person", extra={"task_id": task_id, "call_sid": form["CallSid"]}
            )
            return Step(
                self.twiml.enqueue(self.settings.callback_queue_name, texts.CALLBACK_HUMAN),
                dial=True,
            )

        return await self.once(form["CallSid"], "callback-answer", act)

    async def run_due_callbacks(self, limit: int = 50) -> int:
        """Place every callback attempt that is due; returns how many calls were placed."""
        await self.settle_silent_attempts()
        placed = 0
        for task in await store.due_tasks(self.db, self.clock.now(), limit):
            if await self._attempt(task.id, manual=False):
                placed += 1
        return placed

    async def _attempt(self, task_id: int, *, manual: bool) -> bool:
        now = self.clock.now()
        async with self.db.transaction() as conn:
            task = await store.get_task(conn, task_id)
            if task is None or task.status != "open":
                return False
            if not manual and (task.next_attempt_at is None or task.next_attempt_at > now):
                return False
            number = task.attempts + 1
            attempt_id = await store.insert_attempt(conn, task.id, number, now)
            await store.set_task(conn, task.id, now, status="calling")
        call = self._callback_call(task.phone, task.id, attempt_id)
        try:
            sid = await self.voice.place_call(call)
        except NotifyError as err:
            await self._not_placed(task.id, attempt_id, str(err))
            return False
        now = self.clock.now()
        async with self.db.transaction() as conn:
            await self._placed(conn, task.id, attempt_id, number, sid, task.phone, now)
        log.info(
            "callback attempt placed",
            extra={"task_id": task.id, "attempt": number, "call_sid": sid},
        )
        return True

    def _callback_call(self, phone: str, task_id: int, attempt_id: int) -> VoiceCall:
        return VoiceCall(
            to=phone,
            caller_id=self.hotline_number,
            url=self.twiml.url("/twilio/voice/callback", task=task_id, attempt=attempt_id),
            status_callback=self.twiml.url(
                "/twilio/status", kind="callback", task=task_id, attempt=attempt_id
            ),
            machine_detection=True,
            timeout_s=CALLBACK_RING_S,
        )

    async def _placed(
        self,
        conn: aiosqlite.Connection,
        task_id: int,
        attempt_id: int,
        number: int,
        sid: str,
        phone: str,
        now: datetime,
    ) -> None:
        attempt = await store.get_attempt(conn, attempt_id)
        if attempt is not None and attempt["outcome"] == "placing":
            await store.set_attempt(conn, attempt_id, call_sid=sid, outcome="ringing")
        else:
            await store.set_attempt(conn, attempt_id, call_sid=sid)
        await conn.execute(
            "UPDATE hotline_callbacks SET attempts = MAX(attempts, ?) WHERE id = ?",
            (number, task_id),
        )
        await store.ensure_call(
            conn,
            sid,
            kind="callback",
            at=now,
            direction="outbound-api",
            from_number=self.hotline_number,
            to_number=phone,
            callback_task_id=task_id,
            callback_attempt_id=attempt_id,
            status="queued",
        )

    async def _not_placed(self, task_id: int, attempt_id: int, error: str) -> None:
        now = self.clock.now()
        async with self.db.transaction() as conn:
            await store.set_attempt(
                conn, attempt_id, outcome="not-placed", error=error[:500], ended_at=now
            )
            task = await store.get_task(conn, task_id)
            if task is not None and task.status == "calling":
                await store.set_task(
                    conn, task_id, now, status="open", next_attempt_at=now + PLACE_RETRY
                )
        log.warning(
            "callback could not be placed; retrying soon",
            extra={"task_id": task_id, "error": error},
        )

    async def recover(self) -> int:
        """After a restart: settle attempts a previous process began placing and never recorded
        (asking Twilio whether the call exists), so none is lost or placed twice."""
        settled = 0
        for attempt in await store.placing_attempts(self.db):
            call = self._callback_call(attempt["phone"], attempt["task_id"], attempt["id"])
            try:
                sid = await self.voice.find_call(call, parse_utc(attempt["started_at"]))
            except NotifyError as err:
                log.warning("cannot reconcile a callback attempt yet", extra={"error": str(err)})
                continue
            if sid is None:
                await self._not_placed(
                    attempt["task_id"], attempt["id"], "interrupted by a restart"
                )
            else:
                now = self.clock.now()
                async with self.db.transaction() as conn:
                    await self._placed(
                        conn,
                        attempt["task_id"],
                        attempt["id"],
                        attempt["number"],
                        sid,
                        attempt["phone"],
                        now,
                    )
            settled += 1
        return settled

    async def start_task(self, task_id: int, actor: str) -> store.CallbackTask:
        """An operator starts a callback now (an open task, or one whose attempts ran out)."""
        now = self.clock.now()
        async with self.db.transaction() as conn:
            task = await store.get_task(conn, task_id)
            if task is None:
                raise NotFound(f"no callback task {task_id}")
            if task.status not in ("open", "exhausted"):
                raise InvalidTransition(f"callback task {task_id} is {task.status}")
            await store.set_task(conn, task_id, now, status="open", next_attempt_at=now)
            await record_audit(
                conn,
                at=now,
                actor=actor,
                action="callback.start",
                entity="callback_task",
                entity_id=str(task_id),
                before={"status": task.status},
                after={"status": "open", "next_attempt_at": utc_text(now)},
            )
        await self._attempt(task_id, manual=True)
        started = await store.get_task(self.db, task_id)
        assert started is not None  # noqa: S101  # it existed a moment ago
        return started

    async def close_task(self, task_id: int, actor: str, reason: str) -> store.CallbackTask:
        now = self.clock.now()
        async with self.db.transaction() as conn:
            task = await store.get_task(conn, task_id)
            if task is None:
                raise NotFound(f"no callback task {task_id}")
            if task.status in ("closed", "reached"):
                raise InvalidTransition(f"callback task {task_id} is already {task.status}")
            await store.set_task(
                conn,
                task_id,
                now,
                status="closed",
                closed_at=now,
                closed_by=actor,
                close_reason=reason,
                next_attempt_at=None,
            )
            await record_audit(
                conn,
                at=now,
                actor=actor,
                action="callback.close",
                entity="callback_task",
                entity_id=str(task_id),
                before={"status": task.status},
                after={"status": "closed", "reason": reason},
            )
        closed = await store.get_task(self.db, task_id)
        assert closed is not None  # noqa: S101  # it existed a moment ago
        return closed

    # --- status callbacks ------------------------------------------------------------------

    async def call_status(self, form: Form, query: Mapping[str, str]) -> None:
        sid = form["CallSid"]
        try:
            status = CallStatus(form.get("CallStatus", ""))
        except ValueError:
            log.warning(
                "unknown call status", extra={"call_sid": sid, "status": form.get("CallStatus")}
            )
            return
        kind_query = query.get("kind")
        kind = kind_query if kind_query in ("callback", "operator") else "inbound"
        now = self.clock.now()
        update = store.StatusUpdate(
            status=status,
            sequence=_opt_int(form.get("SequenceNumber")),
            duration_s=_opt_int(form.get("CallDuration")),
            answered_by=form.get("AnsweredBy"),
            at=now,
        )
        dial = False
        async with self.db.transaction() as conn:
            extra: dict[str, object] = {}
            if kind == "operator":
                extra["operator_id"] = _opt_int(query.get("operator"))
            if kind == "callback":
                extra["callback_task_id"] = _opt_int(query.get("task"))
                extra["callback_attempt_id"] = _opt_int(query.get("attempt"))
            await store.ensure_call(
                conn,
                sid,
                kind=kind,  # type: ignore[arg-type]  # narrowed to the three kinds above
                at=now,
                direction=form.get("Direction", ""),
                from_number=form.get("From", ""),
                to_number=form.get("To", ""),
                parent_sid=form.get("ParentCallSid") or None,
                **extra,
            )
            call = await store.get_call(conn, sid)
            assert call is not None  # noqa: S101  # just ensured
            updated = await store.apply_status(conn, call, update)
            if updated is None:
                log.info(
                    "stale or repeated status callback ignored",
                    extra={"call_sid": sid, "status": status.value, "kept": call.status},
                )
                return
            log.info("call status", extra={"call_sid": sid, "status": status.value, "kind": kind})
            if not updated.final:
                return
            if updated.kind == "operator":
                dial = True
            elif updated.kind == "callback":
                await self._attempt_ended(conn, updated, now)
                if updated.enqueued_at is not None and updated.dequeued_at is None:
                    await self._abandoned(conn, updated, now)
            elif updated.outcome is None:
                await self._abandoned(conn, updated, now)
        if dial:
            self.spawn(self.dial_operators(), "dial operators")

    async def _attempt_ended(
        self, conn: aiosqlite.Connection, call: store.CallRow, now: datetime
    ) -> None:
        if call.callback_attempt_id is None or call.callback_task_id is None:
            return
        attempt = await store.get_attempt(conn, call.callback_attempt_id)
        if attempt is None:
            return
        assert call.status is not None  # noqa: S101  # a final status was just applied
        outcome = (
            "reached"
            if attempt["outcome"] == "reached"
            else attempt_outcome(call.status, call.answered_by)
        )
        await store.set_attempt(
            conn, call.callback_attempt_id, outcome=outcome, ended_at=now, call_sid=call.sid
        )
        task = await store.get_task(conn, call.callback_task_id)
        if task is None or task.status != "calling":
            return  # closed by an operator, or the caller rang in meanwhile
        if outcome == "reached":
            await store.set_task(conn, task.id, now, status="reached", next_attempt_at=None)
            return
        await self._schedule_next(conn, task, now, call.sid)
        log.info(
            "callback attempt ended",
            extra={"task_id": task.id, "call_sid": call.sid, "outcome": outcome},
        )

    async def _schedule_next(
        self, conn: aiosqlite.Connection, task: store.CallbackTask, now: datetime, sid: str | None
    ) -> None:
        """After an attempt that did not reach the person: the next attempt, or exhausted."""
        delay = next_attempt_delay(self.settings.callback_delays_min, task.attempts)
        if delay is None:
            await store.set_task(conn, task.id, now, status="exhausted", next_attempt_at=None)
            log.warning(
                "callback attempts exhausted; an operator must follow up",
                extra={"task_id": task.id, "call_sid": sid},
            )
        else:
            await store.set_task(conn, task.id, now, status="open", next_attempt_at=now + delay)

    async def settle_silent_attempts(self) -> int:
        """A ringing callback whose final status never came (a lost status callback) counts as
        not reached after `callback_silent_after_min`, so the person is still called again."""
        now = self.clock.now()
        cutoff = now - timedelta(minutes=self.settings.callback_silent_after_min)
        settled = 0
        for attempt in await store.silent_attempts(self.db, cutoff):
            async with self.db.transaction() as conn:
                task = await store.get_task(conn, attempt["task_id"])
                current = await store.get_attempt(conn, attempt["id"])
                if task is None or task.status != "calling" or current is None:
                    continue
                if current["outcome"] != "ringing":
                    continue  # the status arrived meanwhile
                await store.set_attempt(conn, attempt["id"], outcome="no-status", ended_at=now)
                await self._schedule_next(conn, task, now, attempt["call_sid"])
            settled += 1
            log.warning(
                "callback status never arrived; counted as not reached",
                extra={"task_id": attempt["task_id"], "call_sid": attempt["call_sid"]},
            )
        return settled

    # --- SMS and fallback ------------------------------------------------------------------

    async def sms(self, form: Form) -> str:
        text = parse_sos(form.get("Body", ""))
        sender = form.get("From", "")
        sid = form.get("MessageSid") or form.get("SmsSid", "")
        if text is None:
            return sms_reply(texts.SMS_HELP)

        async def act(conn: aiosqlite.Connection, now: datetime) -> Step:
            draft = rescue.NewRescueRequest(
                source="sms", caller=sender, source_sid=sid, address=text
            )
            request = await rescue.create_request(conn, draft, at=now, actor=f"caller:{sender}")
            log.info(
                "rescue request created",
                extra={"message_sid": sid, "request": request.number, "source": "sms"},
            )
            return Step(
                sms_reply(texts.sms_request_created(request.number, bool(text))),
                events=[rescue.event_for(request)],
            )

        return await self.once(sid, "sms", act)

    def fallback(self, form: Form) -> str:
        log.error(
            "Twilio used the fallback URL",
            extra={
                "call_sid": form.get("CallSid"),
                "message_sid": form.get("MessageSid"),
                "error_code": form.get("ErrorCode"),
                "error_url": form.get("ErrorUrl"),
            },
        )
        if form.get("MessageSid") and not form.get("CallSid"):
            return sms_reply(texts.SMS_HELP)
        return self.twiml.fallback()


def _opt_int(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(float(value))
    except ValueError:
        return None


def _int(value: str | None, default: int) -> int:
    found = _opt_int(value)
    return default if found is None else found
