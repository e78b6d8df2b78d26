"""The fan-out runner: enqueues issued alerts' remaining recipients in the background.

Woken when an issue leaves recipients to enqueue, and at start, when it resumes whatever a
stopped or killed process left half done. Pending fan-outs take turns a batch at a time, so an
Update issued during a large warning's fan-out does not wait for it to finish.

Under `canhbao serve` it runs in the outbox sender's process (`fanout_ctx`, woken by the web
process's kick over the link); with `create_app` alone, in the app's own process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge

from alerting import store
from alerting.delivery import FanoutBatches
from alerting.ports import Outbox, Recipients
from canhbao import keys
from canhbao.clock import Clock
from canhbao.config import Config
from canhbao.db import Database
from canhbao.health import HealthRegistry

log = logging.getLogger(__name__)

RETRY_S = 5.0  # after a failed batch (the database busy or full), and as a safety poll
HEALTH = "alerting.fanout"


class FanoutRunner:
    def __init__(
        self,
        delivery: FanoutBatches,
        db: Database,
        clock: Clock,
        health: HealthRegistry,
        metrics: CollectorRegistry,
    ) -> None:
        self._delivery = delivery
        self._db = db
        self._clock = clock
        self._health = health
        self._kick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._failing = False
        delivery.on_fanout(self.kick)
        self._enqueueing = Gauge(
            "alerting_fanouts_enqueueing",
            "Issued alerts whose recipients are still being written to the outbox",
            registry=metrics,
        )
        self._left = Gauge(
            "alerting_fanout_recipients_left",
            "Devices and contacts those fan-outs have still to write to the outbox",
            registry=metrics,
        )
        health.report(HEALTH, "ok", "", at=clock.now(), critical=False)

    async def refresh_metrics(self) -> None:
        """Before a /metrics scrape: the fan-out backlog, from the database."""
        enqueueing, left = await store.fanout_backlog(self._db)
        self._enqueueing.set(enqueueing)
        self._left.set(left)

    def kick(self) -> None:
        """Look for work now rather than at the next safety poll."""
        self._kick.set()

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
            except Exception as err:
                if not self._failing:
                    log.exception("alert fan-out failing; retrying every %.0f s", RETRY_S)
                    # Not critical to the service, but a warning is not reaching everyone.
                    self._health.report(
                        HEALTH, "failing", f"enqueueing failed: {err!r}", at=self._clock.now(),
                        critical=False,
                    )  # fmt: skip
                self._failing = True
            else:
                if self._failing:
                    log.info("alert fan-out recovered")
                    self._health.report(HEALTH, "ok", "", at=self._clock.now(), critical=False)
                self._failing = False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RETRY_S):
                    await self._kick.wait()


def fanout_ctx(
    config: Config,
    recipients: Callable[[web.Application], Recipients],
    outbox: Callable[[web.Application], Outbox],
    wake: Callable[[web.Application, Callable[[], None]], None],
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context running the fan-out runner alone, for the outbox sender's process:
    `wake(app, kick)` registers what wakes it (rows enqueued by the web process)."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        batches = FanoutBatches(
            recipients(app),
            outbox(app),
            app[keys.DB],
            app[keys.CLOCK],
            sms_sender=config.telephony.hotline_number,
            public_base_url=config.server.public_base_url,
            voice=config.hotline.voice,
            voice_for_vulnerable=config.alerting.voice_for_vulnerable,
        )
        runner = FanoutRunner(
            batches, app[keys.DB], app[keys.CLOCK], app[keys.HEALTH], app[keys.METRICS]
        )
        app[keys.METRIC_REFRESHERS].append(runner.refresh_metrics)
        wake(app, runner.kick)
        runner.start()
        try:
            yield
        finally:
            await runner.stop()

    return ctx
