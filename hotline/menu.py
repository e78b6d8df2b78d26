"""The greeting and the voice menu (rescue, flood information, an operator), flood information
itself, and the fallback URL Twilio calls when a webhook fails."""

from __future__ import annotations

import logging
from datetime import datetime

import aiosqlite

from hotline import store, texts
from hotline.errors import SourceUnavailable
from hotline.events import CallMoved
from hotline.flow import Context, Form, Query, Step, fresh_location, int_or
from hotline.models import KnownLocation
from hotline.ports import WarningInForce
from hotline.texts import Text
from hotline.twiml import sms_reply

log = logging.getLogger(__name__)


class Menu:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def _warnings(self, location: KnownLocation | None) -> list[WarningInForce] | None:
        """Warnings in force, or None when alerting cannot say (never a failed call)."""
        try:
            return await self.ctx.ports.warnings.in_force(location)
        except SourceUnavailable as err:
            log.warning("warnings in force not known", extra={"error": str(err)})
            return None

    async def _severe_headline(self) -> str | None:
        warnings = await self._warnings(None)
        severe = [w.headline for w in warnings or () if w.severe]
        return severe[0] if severe else None

    async def incoming(self, form: Form) -> str:
        ctx = self.ctx
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
            # A callback promised earlier stays open: only an operator talking to the caller
            # closes it (Queue.connect), not a new call that may end in the menu again.
            return Step(
                ctx.twiml.greeting(1, headline),
                events=[CallMoved(form["CallSid"], "menu", caller=caller)],
            )

        sid = form["CallSid"]
        log.info("incoming call", extra={"call_sid": sid, "severe_warning": bool(headline)})
        return await ctx.once(sid, "voice", act, sql_only=True)

    async def choose(self, form: Form, query: Query) -> str:
        twiml = self.ctx.twiml
        digits = form.get("Digits", "")
        attempt = int_or(query.get("attempt"), 1)
        if digits == "1":
            return twiml.redirect("/twilio/voice/rescue")
        if digits == "2":
            return twiml.redirect("/twilio/voice/flood")
        if digits == "3":
            return twiml.redirect("/twilio/voice/queue", via="menu")
        if digits == "9":
            return twiml.greeting(1, await self._severe_headline())
        if attempt >= 2:
            # No usable input twice: a person who cannot choose still reaches a person.
            return twiml.redirect("/twilio/voice/queue", via="no-input")
        return twiml.greeting(
            attempt + 1, await self._severe_headline(), prefix=texts.NOT_UNDERSTOOD
        )

    async def flood_info(self, form: Form) -> str:
        ctx = self.ctx
        try:
            levels = await ctx.ports.flood.levels(ctx.settings.key_stations)
        except SourceUnavailable as err:
            log.warning("river levels not known", extra={"error": str(err)})
            levels = []  # heard as "no recent river levels"
        location = await fresh_location(ctx, form.get("From", ""))
        warnings = await self._warnings(location)
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
        # A caller with a request still being handled hears where it stands.
        caller = form.get("From", "")
        tickets = await ctx.ports.rescue.tickets_for(caller) if caller else []
        lines.extend(
            texts.request_status_spoken(t.number, t.state_words, t.state_words_en)
            for t in tickets
            if t.is_open
        )
        now = ctx.clock.now()

        async def informed(conn: aiosqlite.Connection) -> None:
            call = await ctx.call(conn, form, now)
            await store.append_path(conn, call.sid, "flood", now)
            if call.outcome is None:
                await store.update_call(conn, call.sid, now, outcome="informed")

        await ctx.db.transact(informed)  # the hotline's store alone: see Context.once
        return ctx.twiml.flood_info(lines)

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
        return self.ctx.twiml.fallback()
