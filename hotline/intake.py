"""Rescue intake by voice: where the caller is (a registered location, or spoken and recorded),
how many people, who is vulnerable; then an operator, or a callback promise."""

from __future__ import annotations

import logging
from datetime import datetime

import aiosqlite

from canhbao.clock import to_local
from hotline import store, texts
from hotline.callbacks import CallbackTasks
from hotline.flow import Context, Form, Step, fresh_location, opt_int
from hotline.models import (
    NewRescueRequest,
    RescueAddition,
    RescueRequestCreated,
    parse_people,
    parse_vulnerabilities,
)
from hotline.operators import OperatorDesk
from hotline.ports import RescueTicket

log = logging.getLogger(__name__)


class RescueIntake:
    def __init__(self, ctx: Context, tasks: CallbackTasks, desk: OperatorDesk) -> None:
        self.ctx = ctx
        self.tasks = tasks
        self.desk = desk

    async def start(self, form: Form) -> str:
        ctx = self.ctx
        location = await fresh_location(ctx, form.get("From", ""))

        async def act(conn: aiosqlite.Connection, now: datetime) -> Step:
            call = await ctx.call(conn, form, now)
            await store.append_path(conn, call.sid, "rescue", now)
            if location is None:
                return Step(ctx.twiml.ask_address(intro=True))
            description = location.description
            if not description:
                local = to_local(location.located_at)
                description = texts.location_reported_at(local.hour, local.minute).vi
            return Step(ctx.twiml.known_location(description))

        return await ctx.once(form["CallSid"], "rescue", act)

    async def location(self, form: Form) -> str:
        ctx = self.ctx
        location = await fresh_location(ctx, form.get("From", ""))
        confirmed = form.get("Digits") == "1" and location is not None

        async def act(conn: aiosqlite.Connection, now: datetime) -> Step:
            call = await ctx.call(conn, form, now)
            if not confirmed or location is None:
                await store.append_path(conn, call.sid, "other-address", now)
                return Step(ctx.twiml.ask_address(intro=False))
            await store.append_path(conn, call.sid, "known-location", now)
            draft = NewRescueRequest(
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
            return Step(ctx.twiml.ask_people(), events=[_created(request, draft)], rescue=True)

        return await ctx.once(form["CallSid"], "rescue-location", act)

    async def _create_request(
        self,
        conn: aiosqlite.Connection,
        call: store.CallRow,
        draft: NewRescueRequest,
        now: datetime,
    ) -> RescueTicket:
        request = await self.ctx.ports.rescue.create(
            conn, draft, actor=f"caller:{call.from_number}"
        )
        await store.update_call(conn, call.sid, now, rescue_request_id=request.id)
        log.info(
            "rescue request created",
            extra={"call_sid": call.sid, "request": request.number, "source": "call"},
        )
        return request

    async def address(self, form: Form) -> str:
        ctx = self.ctx
        speech = form.get("SpeechResult", "").strip()

        async def act(conn: aiosqlite.Connection, now: datetime) -> Step:
            call = await ctx.call(conn, form, now)
            await store.append_path(conn, call.sid, "address", now)
            draft = NewRescueRequest(
                source="call", caller=call.from_number, source_sid=call.sid, address=speech
            )
            request = await self._create_request(conn, call, draft, now)
            return Step(ctx.twiml.record_address(), events=[_created(request, draft)], rescue=True)

        return await ctx.once(form["CallSid"], "rescue-address", act)

    async def recorded(self, form: Form) -> str:
        ctx = self.ctx

        async def act(conn: aiosqlite.Connection, now: datetime) -> Step:
            call = await ctx.call(conn, form, now)
            url = form.get("RecordingUrl", "")
            if url and form.get("RecordingSid"):
                await store.save_recording(
                    conn,
                    call_sid=call.sid,
                    recording_sid=form["RecordingSid"],
                    kind="address",
                    url=url,
                    duration_s=opt_int(form.get("RecordingDuration")),
                    status=form.get("RecordingStatus", "completed"),
                    at=now,
                )
                if call.rescue_request_id is not None:
                    await ctx.ports.rescue.add(
                        conn,
                        call.rescue_request_id,
                        RescueAddition(recording_url=url),
                        actor=f"caller:{call.from_number}",
                    )
                    return Step(ctx.twiml.ask_people(), rescue=True)
            return Step(ctx.twiml.ask_people())

        return await ctx.once(form["CallSid"], "rescue-recorded", act)

    def ask_people(self) -> str:
        return self.ctx.twiml.ask_people()

    async def people(self, form: Form) -> str:
        ctx = self.ctx
        people = parse_people(form.get("Digits", ""))

        async def act(conn: aiosqlite.Connection, now: datetime) -> Step:
            call = await ctx.call(conn, form, now)
            if people is not None and call.rescue_request_id is not None:
                await ctx.ports.rescue.add(
                    conn,
                    call.rescue_request_id,
                    RescueAddition(people=people),
                    actor=f"caller:{call.from_number}",
                )
                return Step(ctx.twiml.ask_vulnerabilities(), rescue=True)
            return Step(ctx.twiml.ask_vulnerabilities())

        return await ctx.once(form["CallSid"], "rescue-people", act)

    async def needs(self, form: Form) -> str:
        ctx = self.ctx
        needs = parse_vulnerabilities(form.get("Digits", ""))
        free = await self.desk.idle()

        async def act(conn: aiosqlite.Connection, now: datetime) -> Step:
            call = await ctx.call(conn, form, now)
            events: list[object] = []
            if call.rescue_request_id is None:
                # The address step never ran (its webhook was lost): keep what we know.
                draft = NewRescueRequest(
                    source="call", caller=call.from_number, source_sid=call.sid
                )
                request = await self._create_request(conn, call, draft, now)
                events.append(_created(request, draft))
            else:
                request = await ctx.ports.rescue.add(
                    conn,
                    call.rescue_request_id,
                    RescueAddition(vulnerabilities=needs),
                    actor=f"caller:{call.from_number}",
                )
            created = texts.request_created(request.number)
            if free:
                return Step(
                    ctx.twiml.redirect("/twilio/voice/queue", created, via="rescue"),
                    events=events,
                    rescue=True,
                )
            await self.tasks.ensure_task(conn, call, "rescue", now, request_id=request.id)
            delays = ctx.settings.callback_delays_min
            delay = delays[0] if delays else 0
            return Step(
                ctx.twiml.say_and_hang_up(
                    created, texts.help_will_call(delay), texts.CALL_ENDED_THANKS
                ),
                events=events,
                rescue=True,
            )

        return await ctx.once(form["CallSid"], "rescue-needs", act)


def _created(request: RescueTicket, draft: NewRescueRequest) -> RescueRequestCreated:
    return RescueRequestCreated.of(request.id, request.number, draft)
