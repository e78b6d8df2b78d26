"""Twilio's call status callbacks: the call log moves forward only, an ended operator leg frees
its operator, an ended callback settles its attempt, and an abandoned call earns a callback."""

from __future__ import annotations

import logging
from datetime import datetime

import aiosqlite

from hotline import store
from hotline.callbacks import CallbackTasks
from hotline.errors import NotFound
from hotline.events import CallMoved
from hotline.flow import Context, Form, Query, opt_int
from hotline.models import CallStatus, attempt_outcome

log = logging.getLogger(__name__)


class StatusCallbacks:
    def __init__(self, ctx: Context, tasks: CallbackTasks) -> None:
        self.ctx = ctx
        self.tasks = tasks

    async def call_status(self, form: Form, query: Query) -> None:
        ctx = self.ctx
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
        now = ctx.clock.now()
        update = store.StatusUpdate(
            status=status,
            sequence=opt_int(form.get("SequenceNumber")),
            duration_s=opt_int(form.get("CallDuration")),
            answered_by=form.get("AnsweredBy"),
            at=now,
        )

        # The hotline's store alone, so its transaction runs whole in the writer's thread
        # (Database.transact; see flow.Context.once): every call ends with one of these.
        async def settle(conn: aiosqlite.Connection) -> tuple[bool, bool]:
            """Whether an operator was freed, and whether a citizen's call ended."""
            extra = await _known_ids(conn, kind, query)
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
                return False, False
            log.info("call status", extra={"call_sid": sid, "status": status.value, "kind": kind})
            if not updated.final:
                return False, False
            if updated.kind == "operator":
                return True, False  # its operator is free again: ring them for whoever waits
            if updated.kind == "callback":
                await self._attempt_ended(conn, updated, now)
                if updated.enqueued_at is not None and updated.dequeued_at is None:
                    await self.tasks.abandoned(conn, updated, now)
            elif updated.outcome is None:
                await self.tasks.abandoned(conn, updated, now)
            return False, updated.kind == "inbound"

        dial, ended = await ctx.db.transact(settle)
        if ended:
            await ctx.bus.publish(CallMoved(sid, "left", status=status.value))
        if dial:
            ctx.request_dial()

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
            return  # reached (an operator talked to the person), or closed by staff
        # Still calling: nobody answered, or the person hung up before an operator took them.
        await self.tasks.schedule_next(conn, task, now, call.sid)
        log.info(
            "callback attempt ended",
            extra={"task_id": task.id, "call_sid": call.sid, "outcome": outcome},
        )


async def _known_ids(conn: aiosqlite.Connection, kind: str, query: Query) -> dict[str, object]:
    """The operator, or callback task and attempt, a status callback's URL names; NotFound if
    we never made them (a forged or stale URL must not reach the foreign keys)."""
    extra: dict[str, object] = {}
    if kind == "operator":
        operator_id = opt_int(query.get("operator"))
        if operator_id is not None and await store.get_operator(conn, operator_id) is None:
            raise NotFound(f"no operator {operator_id}")
        extra["operator_id"] = operator_id
    if kind == "callback":
        task_id = opt_int(query.get("task"))
        attempt_id = opt_int(query.get("attempt"))
        if task_id is not None and await store.get_task(conn, task_id) is None:
            raise NotFound(f"no callback task {task_id}")
        if attempt_id is not None:
            attempt = await store.get_attempt(conn, attempt_id)
            if attempt is None or (task_id is not None and attempt["task_id"] != task_id):
                raise NotFound(f"no attempt {attempt_id} of callback task {task_id}")
        extra["callback_task_id"] = task_id
        extra["callback_attempt_id"] = attempt_id
    return extra
