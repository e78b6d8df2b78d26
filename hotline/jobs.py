"""The hotline's scheduled work: due callback attempts, polled from the database."""

from __future__ import annotations

import logging

from apscheduler.job import Job
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from hotline.service import Hotline

log = logging.getLogger(__name__)


def schedule(scheduler: AsyncIOScheduler, hotline: Hotline, interval_s: float) -> Job:
    """Due times live in the database, so a restarted process picks up where the last one
    stopped; this job only looks for what is due."""

    async def run() -> None:
        try:
            await hotline.run_due_callbacks()
        except Exception:
            log.exception("callback round failed")

    job: Job = scheduler.add_job(
        run,
        "interval",
        seconds=interval_s,
        id="hotline-callbacks",
        replace_existing=True,
        max_instances=1,
        coalesce=True,
    )
    return job
