"""The imports' wiring: their config checks, the Importer with one source per upstream, and
their scheduled jobs."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from alerting.imports.importer import Importer
from alerting.imports.source import ImportSource
from alerting.models import STATUSES
from alerting.workflow import Workflow
from canhbao import keys
from canhbao.config import AlertingConfig, require_positive
from canhbao.errors import ConfigError
from canhbao.polling import schedule_polls

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def check_config(config: AlertingConfig) -> None:
    """The [[alerting.imports]] rules the type checks cannot express; ConfigError names the key."""
    names: set[str] = set()
    for index, source in enumerate(config.imports):
        where = f"alerting.imports[{index}]"
        if not _NAME.match(source.name) or source.name in names:
            raise ConfigError(f"{where}.name: unique, letters, digits, _ . - only")
        names.add(source.name)
        if not source.url.startswith(("http://", "https://")):
            raise ConfigError(f"{where}.url: must start with http:// or https://")
        require_positive(
            source, where, "interval_s", "timeout_s", "max_bytes", "backoff_max_s", "max_entries"
        )
        if source.jitter_s < 0:
            raise ConfigError(f"{where}.jitter_s: must not be negative")
    unknown = set(config.import_statuses) - set(STATUSES)
    if unknown:
        raise ConfigError(f"alerting.import_statuses: unknown status {sorted(unknown)[0]!r}")


def build_importer(app: web.Application, workflow: Workflow) -> Importer:
    """The Importer and one ImportSource per enabled [[alerting.imports]] entry."""
    config = app[keys.CONFIG].alerting
    importer = Importer(
        app[keys.DB],
        app[keys.CLOCK],
        workflow,
        statuses=config.import_statuses,
        include_expired=config.import_expired,
        default_life=timedelta(hours=config.max_expiry_h),
    )
    for settings in config.imports:
        if settings.enabled:
            importer.sources[settings.name] = ImportSource(
                settings,
                importer,
                session=app[keys.HTTP],
                clock=app[keys.CLOCK],
                health=app[keys.HEALTH],
            )
    return importer


def schedule_jobs(
    scheduler: AsyncIOScheduler, importer: Importer, config: AlertingConfig
) -> list[Any]:
    """The imports' expiry job, and one polling job per source (unless import_schedule is off);
    each source has its own job, so a slow or failing one never holds up another."""
    jobs = [
        scheduler.add_job(
            importer.expire_due,
            "interval",
            seconds=config.expiry_interval_s,
            id="alerting.imports.expire",
            max_instances=1,
            coalesce=True,
        )
    ]
    if not config.import_schedule:
        return jobs
    jobs += schedule_polls(
        scheduler,
        {
            f"alerting.import.{name}": (
                source.run,
                source.settings.interval_s,
                source.settings.jitter_s,
            )
            for name, source in importer.sources.items()
        },
    )
    if importer.sources:
        log.info("import sources scheduled", extra={"sources": sorted(importer.sources)})
    return jobs
