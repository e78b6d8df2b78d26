"""Voicemail: the message a caller leaves (and the callback task it earns), a Record that heard
nothing, and Twilio's recording status callbacks."""

from __future__ import annotations

import logging
from datetime import datetime

import aiosqlite

from hotline import store, texts
from hotline.callbacks import CallbackTasks
from hotline.flow import Context, Form, Query, Step, opt_int

log = logging.getLogger(__name__)


class Voicemail:
    def __init__(self, ctx: Context, tasks: CallbackTasks) -> None:
        self.ctx = ctx
        self.tasks = tasks

    async def saved(self, form: Form) -> str:
        ctx = self.ctx

        async def act(conn: aiosqlite.Connection, now: datetime) -> Step:
            call = await ctx.call(conn, form, now)
            if form.get("RecordingSid") and form.get("RecordingUrl"):
                await store.save_recording(
                    conn,
                    call_sid=call.sid,
                    recording_sid=form["RecordingSid"],
                    kind="voicemail",
                    url=form["RecordingUrl"],
                    duration_s=opt_int(form.get("RecordingDuration")),
                    status=form.get("RecordingStatus", "completed"),
                    at=now,
                )
            await store.update_call(conn, call.sid, now, outcome="voicemail")
            await self.tasks.ensure_task(conn, call, "voicemail", now, set_outcome=False)
            return Step(ctx.twiml.say_and_hang_up(texts.VOICEMAIL_SAVED))

        return await ctx.once(form["CallSid"], "voicemail", act)

    async def nothing_recorded(self, form: Form) -> str:
        ctx = self.ctx

        async def act(conn: aiosqlite.Connection, now: datetime) -> Step:
            call = await ctx.call(conn, form, now)
            await self.tasks.ensure_task(conn, call, "no_operator", now)
            return Step(ctx.twiml.say_and_hang_up(texts.CALLBACK_PROMISED))

        return await ctx.once(form["CallSid"], "voicemail-none", act)

    async def recording_status(self, form: Form, query: Query) -> None:
        kind = query.get("kind", "voicemail")
        if kind not in ("address", "voicemail") or not form.get("RecordingSid"):
            return
        now = self.ctx.clock.now()
        async with self.ctx.db.transaction() as conn:
            await store.save_recording(
                conn,
                call_sid=form.get("CallSid", ""),
                recording_sid=form["RecordingSid"],
                kind=kind,
                url=form.get("RecordingUrl", ""),
                duration_s=opt_int(form.get("RecordingDuration")),
                status=form.get("RecordingStatus", "completed"),
                at=now,
            )
        log.info(
            "recording reported",
            extra={"call_sid": form.get("CallSid"), "status": form.get("RecordingStatus")},
        )
