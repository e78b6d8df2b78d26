"""Operator dialling: who is on duty, ringing idle operators for waiting callers, and the
operator's own leg (offer, accept, bridge to the front of the queue, done)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

import aiosqlite

from hotline import store, texts
from hotline.errors import NotFound
from hotline.flow import Context, Form, Query, Step, int_or
from hotline.models import Operator, on_shift
from hotline.texts import Text
from notify.errors import NotifyError
from notify.models import VoiceCall
from notify.ports import VoiceCaller

log = logging.getLogger(__name__)

# An operator leg with no news for this long no longer counts as ringing (lost callback).
RINGING_STALE_EXTRA = timedelta(minutes=2)
# ... nor as holding its operator on a call.
BUSY_STALE = timedelta(hours=4)


class OperatorDesk:
    def __init__(self, ctx: Context, voice: VoiceCaller) -> None:
        self.ctx = ctx
        self.voice = voice
        self._dial_lock = asyncio.Lock()

    async def on_duty(self) -> list[Operator]:
        now = self.ctx.clock.now()
        return [op for op in await store.list_operators(self.ctx.db) if on_shift(op, now)]

    async def idle(self) -> list[Operator]:
        now = self.ctx.clock.now()
        idle = await store.idle_operators(self.ctx.db, now - BUSY_STALE)
        return [op for op in idle if on_shift(op, now)]

    async def dial(self) -> int:
        """Ring one idle on-duty operator for each waiting caller not yet covered by a ringing
        operator; returns how many were rung."""
        ctx = self.ctx
        async with self._dial_lock:
            now = ctx.clock.now()
            ring_stale = (
                now - timedelta(seconds=ctx.settings.operator_ring_timeout_s) - RINGING_STALE_EXTRA
            )
            waiting = len(await store.waiting_calls(ctx.db))
            pending = await store.pending_operator_legs(ctx.db, ring_stale)
            needed = waiting - pending
            if needed <= 0:
                return 0
            rung = 0
            for operator in (await self.idle())[:needed]:
                if await self._ring(operator):
                    rung += 1
            return rung

    async def _ring(self, operator: Operator) -> bool:
        ctx = self.ctx
        call = VoiceCall(
            to=operator.phone,
            caller_id=ctx.hotline_number,
            url=ctx.twiml.url("/twilio/voice/operator", operator=operator.id),
            status_callback=ctx.twiml.url("/twilio/status", kind="operator", operator=operator.id),
            timeout_s=ctx.settings.operator_ring_timeout_s,
        )
        try:
            sid = await self.voice.place_call(call)
        except NotifyError as err:
            log.warning(
                "could not ring an operator",
                extra={"operator_id": operator.id, "error": str(err)},
            )
            return False
        now = ctx.clock.now()
        async with ctx.db.transaction() as conn:
            await store.ensure_call(
                conn,
                sid,
                kind="operator",
                at=now,
                direction="outbound-api",
                from_number=ctx.hotline_number,
                to_number=operator.phone,
                operator_id=operator.id,
                status="queued",
            )
            await store.mark_offered(conn, operator.id, now)
        log.info("ringing operator", extra={"operator_id": operator.id, "call_sid": sid})
        return True

    async def _known(self, query: Query) -> int:
        """The operator a leg's URL names; NotFound if we never rang them."""
        operator_id = int_or(query.get("operator"), 0)
        if await store.get_operator(self.ctx.db.reader, operator_id) is None:
            raise NotFound(f"no operator {operator_id}")
        return operator_id

    async def answer(self, form: Form, query: Query) -> str:
        """The operator picked up: offer the waiting caller."""
        return self.ctx.twiml.operator_offer(await self._known(query))

    async def accept(self, form: Form, query: Query) -> str:
        ctx = self.ctx
        operator_id = await self._known(query)
        accepted = form.get("Digits") == "1"

        async def act(conn: aiosqlite.Connection, now: datetime) -> Step:
            if not accepted:
                return Step(ctx.twiml.say_and_hang_up())
            waiting = await store.waiting_calls(conn)
            if not waiting:
                return Step(ctx.twiml.say_and_hang_up(await self._why_nobody(conn, form)))
            # People we called back wait in their own queue, taken first: the front of the line.
            callbacks = [c for c in waiting if c.kind == "callback"]
            queue = ctx.settings.callback_queue_name if callbacks else ctx.settings.queue_name
            return Step(ctx.twiml.bridge(queue, operator_id))

        return await ctx.once(form["CallSid"], "operator-accept", act)

    def done(self) -> str:
        """The operator's call with a caller ended: ring again for whoever still waits."""
        self.ctx.request_dial()
        return self.ctx.twiml.say_and_hang_up()

    async def _why_nobody(self, conn: aiosqlite.Connection, form: Form) -> Text:
        """What became of the callers who left the queue since this operator was rung: all
        taken by other operators, or some hung up (or chose a callback or voicemail)."""
        leg = await store.get_call(conn, form["CallSid"])
        left = await store.queue_departures(conn, leg.received_at) if leg is not None else []
        if not left:
            return texts.OPERATOR_NOBODY_WAITING
        if all(call.outcome == "handled" for call in left):
            return texts.OPERATOR_CALLER_TAKEN
        return texts.OPERATOR_CALLER_LEFT
