"""The queue to the operators: joining it, the wait loop (position, expected wait, the way out
to a callback or voicemail), leaving it, and being connected to an operator."""

from __future__ import annotations

import logging
from datetime import datetime

import aiosqlite

from hotline import store, texts
from hotline.callbacks import CallbackTasks
from hotline.events import CallMoved
from hotline.flow import Context, Form, Query, Step, int_or, opt_int, party
from hotline.models import expected_wait_minutes
from hotline.operators import OperatorDesk

log = logging.getLogger(__name__)


class Queue:
    def __init__(self, ctx: Context, tasks: CallbackTasks, desk: OperatorDesk) -> None:
        self.ctx = ctx
        self.tasks = tasks
        self.desk = desk

    async def enqueue(self, form: Form, query: Query) -> str:
        ctx = self.ctx
        via = query.get("via", "menu")

        # Nobody on duty: no "putting you through"; the wait loop's first lap offers a
        # callback or voicemail at once.
        lines = [texts.TO_OPERATOR] if await self.desk.on_duty() else []

        async def act(conn: aiosqlite.Connection, now: datetime) -> Step:
            call = await ctx.call(conn, form, now)
            await store.append_path(
                conn, call.sid, "no-input>operator" if via == "no-input" else "operator", now
            )
            if call.enqueued_at is None:
                await store.update_call(conn, call.sid, now, enqueued_at=now)
            return Step(
                ctx.twiml.enqueue(ctx.settings.queue_name, *lines),
                events=[CallMoved(call.sid, "queued", caller=call.from_number)],
                dial=True,
            )

        return await ctx.once(form["CallSid"], "queue", act)

    async def wait(self, form: Form) -> str:
        ctx = self.ctx
        position = int_or(form.get("QueuePosition"), 1)
        waited = int_or(form.get("QueueTime"), 0)
        average = int_or(form.get("AvgQueueTime"), 0)
        moved = CallMoved(form["CallSid"], "queued", position=position, waited_s=float(waited))
        await ctx.bus.publish(moved)
        on_duty = len(await self.desk.on_duty())
        if not on_duty:
            # Nobody to wait for: never "you are next"; the way out, and 114/115, at once.
            return ctx.twiml.queue_wait(texts.NO_OPERATOR_ON_DUTY, default_choice="voicemail")
        if waited >= ctx.settings.operator_answer_timeout_s:
            return ctx.twiml.queue_wait(texts.NO_OPERATOR, default_choice="voicemail")
        minutes = expected_wait_minutes(
            position, float(average), ctx.settings.average_handle_time_s, on_duty
        )
        # Each lap of the wait loop also makes sure someone is being rung for this caller.
        ctx.request_dial()
        return ctx.twiml.queue_wait(texts.queue_position(position, minutes), default_choice=None)

    async def choice(self, form: Form, query: Query) -> str:
        ctx = self.ctx
        digits = form.get("Digits", "")
        choice = {"1": "callback", "2": "voicemail"}.get(digits) or query.get("default")
        if choice not in ("callback", "voicemail"):
            return ctx.twiml.say_only(texts.NOT_UNDERSTOOD)
        now = ctx.clock.now()
        async with ctx.db.transaction() as conn:
            call = await ctx.call(conn, form, now)
            await store.update_call(conn, call.sid, now, queue_choice=choice)
        return ctx.twiml.leave()

    async def done(self, form: Form) -> str:
        """Twilio's Enqueue action: the caller left the queue (bridged, hung up, or chose)."""
        ctx = self.ctx
        result = form.get("QueueResult", "")
        waited = opt_int(form.get("QueueTime"))

        async def act(conn: aiosqlite.Connection, now: datetime) -> Step:
            call = await ctx.call(conn, form, now)
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
                await self._talked(conn, call, call.operator_id, now)
                return Step(ctx.twiml.say_and_hang_up(texts.CALL_ENDED_THANKS))
            if result == "hangup":
                await store.append_path(conn, call.sid, "hung-up-in-queue", now)
                await self.tasks.abandoned(conn, call, now)
                return Step(ctx.twiml.empty())
            if call.queue_choice == "callback":
                await store.append_path(conn, call.sid, "callback-requested", now)
                await self.tasks.ensure_task(conn, call, "requested", now)
                return Step(ctx.twiml.say_and_hang_up(texts.CALLBACK_PROMISED))
            await store.append_path(conn, call.sid, "voicemail", now)
            return Step(ctx.twiml.voicemail())

        twiml = await ctx.once(form["CallSid"], "queue-done", act)
        left = CallMoved(
            form["CallSid"],
            "left",
            waited_s=None if waited is None else float(waited),
            status=result,
        )
        await ctx.bus.publish(left)
        return twiml

    async def connect(self, form: Form) -> str:
        """Twilio runs this on the waiting caller's leg as an operator's <Dial><Queue> takes it."""
        ctx = self.ctx
        operator_leg = form.get("DequeingCallSid", "")
        waited = opt_int(form.get("QueueTime"))

        async def act(conn: aiosqlite.Connection, now: datetime) -> Step:
            call = await ctx.call(conn, form, now)
            leg = await store.get_call(conn, operator_leg) if operator_leg else None
            columns: dict[str, object] = {"outcome": "handled", "dequeued_at": now}
            if waited is not None:
                columns["queue_wait_s"] = float(waited)
            if leg is not None:
                columns["operator_id"] = leg.operator_id
                await store.update_call(conn, leg.sid, now, outcome="handled", parent_sid=call.sid)
            await store.update_call(conn, call.sid, now, **columns)
            await self._talked(conn, call, leg.operator_id if leg else None, now)
            log.info(
                "caller connected to an operator",
                extra={"call_sid": call.sid, "operator_call_sid": operator_leg},
            )
            return Step(ctx.twiml.say_only(texts.CONNECTING))

        return await ctx.once(form["CallSid"], "connect", act)

    async def _talked(
        self,
        conn: aiosqlite.Connection,
        call: store.CallRow,
        operator_id: int | None,
        now: datetime,
    ) -> None:
        """An operator is talking to this citizen: a callback still open for them is done."""
        if call.kind == "callback" and call.callback_task_id is not None:
            task = await store.get_task(conn, call.callback_task_id)
            if task is not None and task.status in ("open", "calling"):
                await store.set_task(conn, task.id, now, status="reached", next_attempt_at=None)
            return
        actor = f"operator:{operator_id}" if operator_id is not None else "system:hotline"
        await self.tasks.close_open_task(
            conn, party(call), now, "an operator talked to the caller", actor
        )
