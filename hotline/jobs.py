"""The hotline's scheduled work: due callback attempts, polled from the database."""

from __future__ import annotations

import logging

from aiohttp import web
from apscheduler.job import Job

from canhbao import keys
from hotline.service import Hotline
from hotline.sources import AlertingWarnings, FeedsFloodInfo, GeofencesLocations

log = logging.getLogger(__name__)


def build_hotline(app: web.Application) -> Hotline:
    return Hotline(
        config=app[keys.CONFIG],
        db=app[keys.DB],
        clock=app[keys.CLOCK],
        bus=app[keys.BUS],
        voice=app[keys.VOICE],
        flood=FeedsFloodInfo(app),
        warnings=AlertingWarnings(app),
        locations=GeofencesLocations(app),
    )


def schedule(app: web.Application, hotline: Hotline) -> Job:
    """Due times live in the database, so a restarted process picks up where the last one
    stopped; this job only looks for what is due."""
    interval = app[keys.CONFIG].hotline.callback_poll_interval_s

    async def run() -> None:
        try:
            await hotline.run_due_callbacks()
        except Exception:
            log.exception("callback round failed")

    job: Job = app[keys.SCHEDULER].add_job(
        run,
        "interval",
        seconds=interval,
        id="hotline-callbacks",
        replace_existing=True,
        max_instances=1,
        coalesce=True,
    )
    return job
