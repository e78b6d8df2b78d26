"""What every call flow shares: the webhook-step runner (each side-effecting step runs once per
CallSid), the background tasks it starts, and the small form readers.

Webhook steps that change state run once per (CallSid, step): the step's answer is stored in the
same transaction as its effects, and a retried webhook is answered from the store. Slow work
(ringing operators) runs in background tasks kept here and awaited on shutdown. Ringing
operators belongs to hotline.operators; a step only asks for it (Step.dial), and the runner calls
the `request_dial` it was given, so no flow imports another.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import aiosqlite

from canhbao.clock import Clock
from canhbao.config import Config, HotlineConfig
from canhbao.db import Database
from canhbao.events import EventBus
from hotline import store
from hotline.errors import SourceUnavailable
from hotline.models import KnownLocation, location_is_fresh
from hotline.ports import HotlinePorts
from hotline.twiml import Twiml

log = logging.getLogger(__name__)

Form = Mapping[str, str]
Query = Mapping[str, str]


@dataclass
class Step:
    """What a step answers, and what it set in motion."""

    twiml: str
    events: list[object] = field(default_factory=list)
    dial: bool = False
    # It created or changed a rescue request: dispatch's event log subscribers and watchers
    # look once it has committed (and only then: a wake per webhook step cost a read each).
    rescue: bool = False


class _AlreadyTaken(Exception):
    """A retry committed this step first; roll back ours and answer as it did."""


class Background:
    """The hotline's background tasks: each one kept until done, all awaited on shutdown."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

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


@dataclass(frozen=True)
class Context:
    """The hotline's shared objects, handed to every flow."""

    config: Config
    db: Database
    clock: Clock
    bus: EventBus
    twiml: Twiml
    ports: HotlinePorts
    background: Background
    # Ring idle operators for whoever waits (hotline.operators), in the background.
    request_dial: Callable[[], None]

    @property
    def settings(self) -> HotlineConfig:
        return self.config.hotline

    @property
    def hotline_number(self) -> str:
        return self.config.telephony.hotline_number

    async def once(
        self,
        sid: str,
        step: str,
        act: Callable[[aiosqlite.Connection, datetime], Awaitable[Step]],
        *,
        sql_only: bool = False,
    ) -> str:
        """Run a side-effecting step once per (sid, step); a repeat gets the first answer.

        `sql_only`: `act` awaits nothing but its connection (the hotline's store), so its
        transaction runs whole in the writer's thread (Database.transact), holding the writers'
        lock for its SQL alone: for the steps every call takes, on a loop a flood night keeps
        busy. Steps that ask another domain (a rescue request) keep the ordinary transaction.
        """
        stored = await store.step_response(self.db, sid, step)
        if stored is not None:
            log.info(
                "webhook step repeated; answered from the log", extra={"sid": sid, "step": step}
            )
            return stored
        now = self.clock.now()

        async def body(conn: aiosqlite.Connection) -> Step:
            result = await act(conn, now)
            if not await store.claim_step(conn, sid, step, result.twiml, now):
                raise _AlreadyTaken
            return result

        try:
            if sql_only:
                result = await self.db.transact(body)
            else:
                async with self.db.transaction() as conn:
                    result = await body(conn)
        except _AlreadyTaken:
            again = await store.step_response(self.db, sid, step)
            return again or self.twiml.empty()
        if result.rescue:
            self.ports.rescue.committed()
        for event in result.events:
            await self.bus.publish(event)
        if result.dial:
            self.request_dial()
        return result.twiml

    async def call(self, conn: aiosqlite.Connection, form: Form, now: datetime) -> store.CallRow:
        """The call this webhook is about, logged now if its first webhook never reached us."""
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


async def fresh_location(ctx: Context, phone: str) -> KnownLocation | None:
    """The caller's registered location, if it is recent enough to offer (models rule)."""
    if not phone:
        return None
    try:
        location = await ctx.ports.locations.locate(phone)
    except SourceUnavailable as err:
        log.warning("caller's location not known", extra={"error": str(err)})
        return None  # the caller is asked for the address instead
    max_age = timedelta(minutes=ctx.settings.location_max_age_min)
    if location is None or not location_is_fresh(location, ctx.clock.now(), max_age):
        return None
    return location


def party(call: store.CallRow) -> str:
    """The citizen's number on a call: the caller, or whom we called back."""
    return call.to_number if call.kind == "callback" else call.from_number


# A whole number as Twilio writes one (QueueTime, CallDuration, SequenceNumber, our own ids in
# URLs): at most nine digits, so nothing odd (1e400, nan, 10,000 digits) reaches int().
_WHOLE = re.compile(r"-?[0-9]{1,9}(?:\.[0-9]{1,6})?")


def opt_int(value: str | None) -> int | None:
    if value is None or not _WHOLE.fullmatch(value.strip()):
        return None
    return int(float(value))


def int_or(value: str | None, default: int) -> int:
    found = opt_int(value)
    return default if found is None else found
