"""The feeds context: stations from config, the pipeline, and one scheduled poller per source."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from canhbao import keys
from canhbao.polling import schedule_polls
from feeds import store
from feeds.keys import FEEDS
from feeds.pipeline import Pipeline
from feeds.poller import SourcePoller
from feeds.runtime import FeedsCollector, FeedsRuntime
from feeds.sources import SOURCE_NAMES, SOURCES
from feeds.stations import from_config
from feeds.thresholds import ThresholdEvent

log = logging.getLogger(__name__)


async def feeds_ctx(app: web.Application) -> AsyncIterator[None]:
    """Set up the feeds domain; on the way down, unschedule its pollers first."""
    config = app[keys.CONFIG]
    db, clock = app[keys.DB], app[keys.CLOCK]
    stations = [from_config(station, SOURCE_NAMES) for station in config.feeds.stations]
    await store.sync_config_stations(db, stations, clock.now())
    pipeline = Pipeline(db, app[keys.BUS], clock, app[keys.EVENTS])
    await pipeline.start()
    runtime = FeedsRuntime(config, pipeline)
    app[keys.BUS].subscribe(ThresholdEvent, runtime.count_event)
    known = list(pipeline.stations.values())
    for spec in SOURCES:
        settings = spec.settings(config)
        if not settings.enabled:
            continue
        runtime.pollers[spec.name] = SourcePoller(
            spec.build(config, known),
            settings,
            session=app[keys.HTTP],
            pipeline=pipeline,
            clock=clock,
            health=app[keys.HEALTH],
            by_station_id=spec.by_station_id,
        )
    app[FEEDS] = runtime
    collector = FeedsCollector(runtime)
    app[keys.METRICS].register(collector)

    scheduler = app[keys.SCHEDULER]
    job_ids: list[str] = []
    if config.feeds.schedule:
        polls = {
            f"feeds.{name}": (poller.run, poller.settings.interval_s, poller.settings.jitter_s)
            for name, poller in runtime.pollers.items()
        }
        job_ids = [job.id for job in schedule_polls(scheduler, polls)]
        log.info("feed pollers scheduled", extra={"sources": sorted(runtime.pollers)})
    try:
        yield
    finally:
        for job_id in job_ids:
            if scheduler.get_job(job_id) is not None:
                scheduler.remove_job(job_id)
        app[keys.METRICS].unregister(collector)
