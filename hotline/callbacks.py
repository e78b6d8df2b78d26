"""Callback tasks: one open task per citizen's number, created when a call needs a callback,
closed by an operator (or once an operator talked to the person), started early by staff."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

import aiosqlite

from canhbao.audit import record_audit
from canhbao.clock import utc_text
from hotline import store
from hotline.errors import InvalidTransition, NotFound
from hotline.flow import Context, party
from hotline.models import CallbackReason, next_attempt_delay

log = logging.getLogger(__name__)

_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


class CallbackTasks:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def ensure_task(
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
        phone = party(call)
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
            delays = self.ctx.settings.callback_delays_min
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

    async def abandoned(
        self, conn: aiosqlite.Connection, call: store.CallRow, now: datetime
    ) -> None:
        """A call that ended with nothing satisfying done for its caller: call them back."""
        if call.outcome is None:
            await self.ensure_task(conn, call, "abandoned", now)

    async def close_open_task(
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

    async def schedule_next(
        self, conn: aiosqlite.Connection, task: store.CallbackTask, now: datetime, sid: str | None
    ) -> None:
        """After an attempt that did not reach the person: the next attempt, or exhausted."""
        delay = next_attempt_delay(self.ctx.settings.callback_delays_min, task.attempts)
        if delay is None:
            await store.set_task(conn, task.id, now, status="exhausted", next_attempt_at=None)
            # Audited with the change: the staff console's live stream reads it from the log.
            await record_audit(
                conn,
                at=now,
                actor="system:hotline",
                action="callback.exhausted",
                entity="callback_task",
                entity_id=str(task.id),
                before={"status": task.status},
                after={"status": "exhausted", "attempts": task.attempts},
            )
            log.warning(
                "callback attempts exhausted; an operator must follow up",
                extra={"task_id": task.id, "call_sid": sid},
            )
        else:
            await store.set_task(conn, task.id, now, status="open", next_attempt_at=now + delay)

    async def reopen_now(self, task_id: int, actor: str) -> None:
        """An operator starts a callback now (an open task, or one whose attempts ran out)."""
        now = self.ctx.clock.now()
        async with self.ctx.db.transaction() as conn:
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

    async def close_task(self, task_id: int, actor: str, reason: str) -> store.CallbackTask:
        now = self.ctx.clock.now()
        async with self.ctx.db.transaction() as conn:
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
        closed = await store.get_task(self.ctx.db, task_id)
        assert closed is not None  # noqa: S101  # it existed a moment ago
        return closed
