"""The fan-out runner: enqueues issued alerts' remaining recipients in the background.

Woken when an issue leaves recipients to enqueue, and at start, when it resumes whatever a
stopped or killed process left half done. Pending fan-outs take turns a batch at a time, so an
Update issued during a large warning's fan-out does not wait for it to finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from alerting.delivery import Delivery

log = logging.getLogger(__name__)

RETRY_S = 5.0  # after a failed batch (the database busy or full), and as a safety poll


class FanoutRunner:
    def __init__(self, delivery: Delivery) -> None:
        self._delivery = delivery
        self._kick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._failing = False
        delivery.on_fanout(self._kick.set)

    def start(self) -> asyncio.Task[None]:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="alerting-fanout")
        return self._task

    async def stop(self) -> None:
        """Stop between batches; what is left resumes at the next start."""
        self._stopping = True
        self._kick.set()
        if self._task is not None:
            await self._task

    async def run_pending(self) -> int:
        """Enqueue every pending fan-out to the end (at start, and for tests); returns batches."""
        batches = 0
        pending = await self._delivery.pending()
        while pending and not self._stopping:
            still = []
            for identifier in pending:
                batches += 1
                if await self._delivery.continue_fanout(identifier):
                    still.append(identifier)
            pending = still
        return batches

    async def _run(self) -> None:
        resumed = await self._delivery.pending()
        if resumed:
            log.warning("alert fan-outs resumed after a restart", extra={"identifiers": resumed})
        while not self._stopping:
            self._kick.clear()
            try:
                await self.run_pending()
            except Exception:
                if not self._failing:
                    log.exception("alert fan-out failing; retrying every %.0f s", RETRY_S)
                self._failing = True
            else:
                if self._failing:
                    log.info("alert fan-out recovered")
                self._failing = False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RETRY_S):
                    await self._kick.wait()
