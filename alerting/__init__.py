"""Alerting: CAP 1.2 warnings, their two-person workflow, auto-drafts, fan-out and CAP feeds."""

from __future__ import annotations

import functools
import re
from collections.abc import AsyncIterator

from aiohttp import web

from alerting import evidence, imports, jobs, routes, store
from alerting import keys as alerting_keys
from alerting.auto import AutoDrafter
from alerting.delivery import Delivery
from alerting.fanout import FanoutRunner
from alerting.ports import PortsFactory
from alerting.settings import Settings
from alerting.workflow import Workflow
from canhbao import keys
from canhbao.config import Config, require_positive
from canhbao.db import Migration
from canhbao.errors import ConfigError

MIGRATIONS: tuple[Migration, ...] = store.MIGRATIONS

_OID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


def setup(
    app: web.Application, config: Config, *, ports: PortsFactory, run_fanout: bool = True
) -> None:
    """Check the [alerting] config; add the workflow's context and the routes. `ports` builds
    what alerting needs from other domains once their contexts have started. Without
    `run_fanout`, another process runs the fan-out runner (alerting.fanout.fanout_ctx)."""
    settings = config.alerting
    if not _OID.match(settings.identifier_prefix):
        raise ConfigError("alerting.identifier_prefix: digits separated by dots (an OID)")
    if not settings.sender or re.search(r"[\s,<&]", settings.sender):
        raise ConfigError("alerting.sender: required, without spaces, commas, < or &")
    if not 0 < settings.default_expiry_h <= min(24.0, settings.max_expiry_h):
        raise ConfigError(
            "alerting.default_expiry_h: more than 0, at most 24 and at most max_expiry_h"
        )
    require_positive(settings, "alerting", "expiry_interval_s", "feed_max_entries")
    unknown = set(settings.two_person_statuses) - {"Actual", "Exercise", "Test"}
    if unknown:
        raise ConfigError(f"alerting.two_person_statuses: unknown status {sorted(unknown)[0]!r}")
    imports.check_config(settings)
    app.cleanup_ctx.append(functools.partial(_alerting_ctx, ports=ports, run_fanout=run_fanout))
    routes.setup_routes(app)
    evidence.setup_routes(app)


async def _alerting_ctx(
    app: web.Application, *, ports: PortsFactory, run_fanout: bool
) -> AsyncIterator[None]:
    config = app[keys.CONFIG]
    connected = ports(app)
    delivery = Delivery(
        connected.directory,
        connected.outbox,
        app[keys.DB],
        app[keys.CLOCK],
        sms_sender=config.telephony.hotline_number,
        public_base_url=config.server.public_base_url,
        voice=config.hotline.voice,
        voice_for_vulnerable=config.alerting.voice_for_vulnerable,
    )
    workflow = Workflow(
        app[keys.DB],
        app[keys.CLOCK],
        Settings.from_config(config.alerting, config.server.public_base_url),
        delivery,
        connected.sponsors,
    )
    app[alerting_keys.ALERTING] = workflow
    app[alerting_keys.ALERTING_DELIVERY] = delivery
    app[alerting_keys.ALERTING_EVIDENCE] = connected.evidence
    drafter = AutoDrafter(
        workflow, delivery.directory, config.alerting, config.geofences.outline_max_points
    )
    # Subscribed to threshold events by the composition root (canhbao.app).
    app[alerting_keys.AUTO_DRAFTER] = drafter
    # Alerts that ran out while we were down expire now, not at the first scheduled run.
    await jobs.expire_alerts(app)
    job = app[keys.SCHEDULER].add_job(
        jobs.expire_alerts,
        "interval",
        seconds=config.alerting.expiry_interval_s,
        args=[app],
        id="alerting.expire",
        max_instances=1,
        coalesce=True,
    )
    runner = None
    if run_fanout:
        runner = FanoutRunner(
            delivery, app[keys.DB], app[keys.CLOCK], app[keys.HEALTH], app[keys.METRICS]
        )
        app[keys.METRIC_REFRESHERS].append(runner.refresh_metrics)
        app[alerting_keys.ALERTING_FANOUT] = runner
        runner.start()
    importer = imports.build_importer(app, workflow)
    app[alerting_keys.ALERTING_IMPORTS] = importer
    # Imports that ran out while we were down are marked now, as alerts are.
    await importer.expire_due()
    import_jobs = imports.schedule_jobs(app[keys.SCHEDULER], importer, config.alerting)
    yield
    for import_job in import_jobs:
        import_job.remove()
    if runner is not None:
        await runner.stop()
    job.remove()
