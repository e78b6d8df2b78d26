"""Callback calls: placing due attempts through Twilio, what a person (or a machine) who answers
hears, attempts whose status never came, and attempts a restart interrupted."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import aiosqlite

from canhbao.clock import parse_utc
from hotline import store, texts
from hotline.callbacks import CallbackTasks
from hotline.errors import NotFound
from hotline.flow import Context, Form, Query, Step, int_or
from hotline.models import is_machine
from hotline.operators import OperatorDesk
from notify.errors import NotifyError
from notify.models import VoiceCall
from notify.ports import VoiceCaller

log = logging.getLogger(__name__)

# A Twilio refusal to place a callback does not use up an attempt; we try again this soon.
PLACE_RETRY = timedelta(minutes=1)
CALLBACK_RING_S = 30
# A callback a person answered, with no final status for this long, no longer holds its task.
ANSWERED_SILENT = timedelta(hours=4)


class CallbackCalls:
    def __init__(
        self, ctx: Context, tasks: CallbackTasks, desk: OperatorDesk, voice: VoiceCaller
    ) -> None:
        self.ctx = ctx
        self.tasks = tasks
        self.desk = desk
        self.voice = voice

    async def run_due(self, limit: int = 50) -> int:
        """Place every callback attempt that is due; returns how many calls were placed."""
        await self.settle_silent_attempts()
        placed = 0
        for task in await store.due_tasks(self.ctx.db, self.ctx.clock.now(), limit):
            if await self.attempt(task.id, manual=False):
                placed += 1
        return placed

    async def attempt(self, task_id: int, *, manual: bool) -> bool:
        ctx = self.ctx
        now = ctx.clock.now()
        async with ctx.db.transaction() as conn:
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
        now = ctx.clock.now()
        async with ctx.db.transaction() as conn:
            await self._placed(conn, task.id, attempt_id, number, sid, task.phone, now)
        log.info(
            "callback attempt placed",
            extra={"task_id": task.id, "attempt": number, "call_sid": sid},
        )
        return True

    def _callback_call(self, phone: str, task_id: int, attempt_id: int) -> VoiceCall:
        twiml = self.ctx.twiml
        return VoiceCall(
            to=phone,
            caller_id=self.ctx.hotline_number,
            url=twiml.url("/twilio/voice/callback", task=task_id, attempt=attempt_id),
            status_callback=twiml.url(
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
        await store.raise_attempts(conn, task_id, number)
        await store.ensure_call(
            conn,
            sid,
            kind="callback",
            at=now,
            direction="outbound-api",
            from_number=self.ctx.hotline_number,
            to_number=phone,
            callback_task_id=task_id,
            callback_attempt_id=attempt_id,
            status="queued",
        )

    async def _not_placed(self, task_id: int, attempt_id: int, error: str) -> None:
        now = self.ctx.clock.now()
        async with self.ctx.db.transaction() as conn:
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
        for attempt in await store.placing_attempts(self.ctx.db):
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
                now = self.ctx.clock.now()
                async with self.ctx.db.transaction() as conn:
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

    async def settle_silent_attempts(self) -> int:
        """A callback whose final status never came (a lost status callback) counts as not
        reached after `callback_silent_after_min` (hours, if a person answered: they may still
        be waiting for an operator), so the person is still called again."""
        ctx = self.ctx
        now = ctx.clock.now()
        cutoff = now - timedelta(minutes=ctx.settings.callback_silent_after_min)
        settled = 0
        for attempt in await store.silent_attempts(ctx.db, cutoff, now - ANSWERED_SILENT):
            async with ctx.db.transaction() as conn:
                task = await store.get_task(conn, attempt["task_id"])
                current = await store.get_attempt(conn, attempt["id"])
                if task is None or task.status != "calling" or current is None:
                    continue
                if current["outcome"] != attempt["outcome"] or current["ended_at"] is not None:
                    continue  # the status arrived meanwhile
                outcome = "no-status" if current["outcome"] == "ringing" else current["outcome"]
                await store.set_attempt(conn, attempt["id"], outcome=outcome, ended_at=now)
                await self.tasks.schedule_next(conn, task, now, attempt["call_sid"])
            settled += 1
            log.warning(
                "callback status never arrived; counted as not reached",
                extra={"task_id": attempt["task_id"], "call_sid": attempt["call_sid"]},
            )
        return settled

    async def answer(self, form: Form, query: Query) -> str:
        """Twilio's answer URL of a callback call: a person waits for the next operator, first
        in line; a machine hears that we will try again."""
        ctx = self.ctx
        task_id = int_or(query.get("task"), 0)
        attempt_id = int_or(query.get("attempt"), 0)
        answered_by = form.get("AnsweredBy")
        # With nobody on duty, no "first in line": the wait loop offers the way out at once.
        lines = [texts.CALLBACK_HELLO]
        if await self.desk.on_duty():
            lines.append(texts.CALLBACK_FIRST_IN_LINE)

        async def act(conn: aiosqlite.Connection, now: datetime) -> Step:
            attempt = await store.get_attempt(conn, attempt_id)
            if attempt is None or attempt["task_id"] != task_id:
                raise NotFound(f"no attempt {attempt_id} of callback task {task_id}")
            await store.ensure_call(
                conn,
                form["CallSid"],
                kind="callback",
                at=now,
                direction="outbound-api",
                from_number=form.get("From", ctx.hotline_number),
                to_number=form.get("To", ""),
                callback_task_id=task_id,
                callback_attempt_id=attempt_id,
            )
            await store.update_call(conn, form["CallSid"], now, answered_by=answered_by)
            await store.set_attempt(conn, attempt_id, answered_by=answered_by)
            if is_machine(answered_by):
                return Step(ctx.twiml.say_and_hang_up(texts.CALLBACK_MACHINE))
            # A person answered; the task is reached once an operator talks to them
            # (Queue.connect), not before: hanging up in the queue earns another attempt.
            await store.set_attempt(conn, attempt_id, outcome="reached")
            await store.update_call(conn, form["CallSid"], now, enqueued_at=now)
            log.info(
                "callback reached a person", extra={"task_id": task_id, "call_sid": form["CallSid"]}
            )
            return Step(
                ctx.twiml.enqueue(ctx.settings.callback_queue_name, *lines),
                dial=True,
            )

        return await ctx.once(form["CallSid"], "callback-answer", act)
