"""The acknowledgement deadlines' timer: an offer times out at its deadline, not at the next poll.

One task sleeps until the earliest pending offer's deadline (read from the database, where the
deadlines live), times out what is due (dispatch.offers.expire_due: the next team, or the
escalation), refreshes the escalations' health, and sleeps again. It is re-armed at once when
requests or offers change (Offers.changed: a new offer, an answer, a withdrawal), and looks at
least every `look_every` anyway (the health, and anything another process changed). A restart
needs nothing more: the first round times out what fell due while no process ran and arms for
the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from canhbao.clock import Clock
from canhbao.db import Database
from dispatch.escalation import Escalations
from dispatch.offers import Offers
from dispatch.store import offers as store

log = logging.getLogger(__name__)

# Never wait less than this: an event loop may wake a hair before the deadline it was armed
# for, which is then a short wait again, not a busy loop.
MIN_WAIT_S = 0.001
# After a failed round (the database busy or failing): look again this soon, not a whole look.
RETRY_S = 5.0


class DeadlineTimer:
    """The one task that times offers out (see the module's docstring); started and stopped
    by the teams' context."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        offers: Offers,
        escalations: Escalations,
        *,
        look_every: timedelta,
    ) -> None:
        self._db = db
        self._clock = clock
        self._offers = offers
        self._escalations = escalations
        self._look_every = look_every.total_seconds()
        self._task: asyncio.Task[None] | None = None
        self._started = 0  # rounds begun
        self._expired: dict[int, int] = {}  # round → offers it timed out (the last few)
        self._round_done = asyncio.Condition()
        self.armed_for: datetime | None = None  # the deadline the timer sleeps until, if any

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="dispatch-offer-deadlines")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def next_round(self) -> int:
        """Wait for a round begun after this call (one that reads the clock as it is now);
        returns how many offers it timed out. For whoever watches the timer work (tests)."""
        async with self._round_done:
            wanted = self._started + 1
            await self._round_done.wait_for(lambda: wanted in self._expired)
            return self._expired[wanted]

    async def look_now(self) -> int:
        """Wake the timer as a change would, and wait for that round (see next_round)."""
        self._offers.changed.set()
        return await self.next_round()

    async def _run(self) -> None:
        changed = self._offers.changed
        loop = asyncio.get_running_loop()
        while True:
            changed.clear()
            self._started += 1
            round_number = self._started
            # The clock is read once, as the round begins (expire_due reads it before its first
            # await too): the wait is counted from this reading, less the time the round took.
            # So a clock moved by hand meanwhile (a test's) is seen by the next round only.
            now, began = self._clock.now(), loop.time()
            wait = self._look_every
            expired = 0
            self.armed_for = None
            try:
                expired = await self._offers.expire_due()
                # Teams changed outside this process (a roster imported by the command line).
                await self._offers.withdraw_off_duty()
                await self._escalations.refresh()
                deadline = await store.next_deadline(self._db)
                if deadline is not None:
                    left = (deadline - now).total_seconds() - (loop.time() - began)
                    if left < wait:
                        wait, self.armed_for = max(MIN_WAIT_S, left), deadline
            except Exception:
                log.exception("offer deadlines round failed")
                wait = min(wait, RETRY_S)
            async with self._round_done:
                self._expired[round_number] = expired
                self._expired.pop(round_number - 8, None)
                self._round_done.notify_all()
            # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancel that
            # lands as `changed` is set, and this loop would then outlive stop().
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await changed.wait()
