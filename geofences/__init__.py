"""Geofences: areas, the device registry and contacts, and who is inside a warning's area.

Areas come from GeoJSON; citizen devices and phone-only contacts are registered and indexed in
memory; targeting resolves a warning's polygon into topics, tokens and SMS recipients.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

from aiohttp import web
from prometheus_client import Gauge

# Aliased: the geofences.keys submodule is bound to this package's name `keys` once imported.
from canhbao import keys as shell_keys
from canhbao.config import Config, require_positive
from canhbao.db import Migration
from canhbao.errors import ConfigError
from geofences import jobs, routes, store
from geofences.devices import DeviceRegistry, RegistrySettings
from geofences.keys import DEVICE_RATE_LIMITER, GEOFENCES
from geofences.ports import TopicSender
from geofences.ratelimit import RateLimiter
from geofences.seed import seed_hue_wards
from notify.events import PUSH_TOKEN_REJECTED, PushTokenRejected

MIGRATIONS: tuple[Migration, ...] = store.MIGRATIONS


def setup(app: web.Application, config: Config, topics: Callable[[], TopicSender | None]) -> None:
    """Check the [geofences] config, add the registry's context and the routes.

    `topics` gives, once the app starts, what sends FCM topic (un)subscriptions.
    """
    settings = config.geofences
    positive = (
        "bleed_m",
        "location_max_age_h",
        "max_subscriptions",
        "max_import_bytes",
        "max_import_vertices",
        "max_repair_crossings",
        "max_warning_vertices",
        "max_contact_rows",
        "topic_flush_interval_s",
        "topic_flush_batch",
        "maintenance_interval_s",
        "areas_refresh_interval_s",
    )
    require_positive(settings, "geofences", *positive)
    if not 4 <= settings.outline_max_points <= 10_000:
        raise ConfigError("geofences.outline_max_points: must be between 4 and 10000")
    if not settings.topic_prefix or not all(
        c.isascii() and (c.isalnum() or c in "-_.~") for c in settings.topic_prefix
    ):
        raise ConfigError("geofences.topic_prefix: letters, digits and - _ . ~ only")
    limits = settings.rate_limit
    if limits.per_second <= 0 or limits.burst < 1 or limits.max_clients < 1:
        raise ConfigError("geofences.rate_limit: per_second > 0, burst and max_clients ≥ 1")
    app.cleanup_ctx.append(functools.partial(_geofences_ctx, topics=topics))
    routes.setup_routes(app)


async def _geofences_ctx(
    app: web.Application, *, topics: Callable[[], TopicSender | None]
) -> AsyncIterator[None]:
    config = app[shell_keys.CONFIG].geofences
    clock = app[shell_keys.CLOCK]
    registry = DeviceRegistry(
        app[shell_keys.DB],
        clock,
        topics(),
        RegistrySettings(
            topic_prefix=config.topic_prefix,
            location_max_age=timedelta(hours=config.location_max_age_h),
            max_subscriptions=config.max_subscriptions,
            topic_flush_batch=config.topic_flush_batch,
        ),
    )
    await registry.load()
    if config.first_start_hue_wards and len(registry.catalog) == 0:
        await seed_hue_wards(registry, app[shell_keys.OFFLOAD], config)
    app[GEOFENCES] = registry
    app[DEVICE_RATE_LIMITER] = RateLimiter(
        config.rate_limit.per_second,
        config.rate_limit.burst,
        config.rate_limit.max_clients,
        lambda: clock.now().timestamp(),
    )

    async def drop_token(event: PushTokenRejected) -> None:
        # From the durable event log, at least once: a token already dropped is left alone.
        await registry.drop_token(event.token, event.code)

    app[shell_keys.EVENTS].subscribe("geofences.drop_token", PUSH_TOKEN_REJECTED, drop_token)

    indexed = Gauge(
        "canhbao_geofences_devices_indexed",
        "Devices with a location in the in-memory index",
        registry=app[shell_keys.METRICS],
    )
    queued = Gauge(
        "canhbao_geofences_topic_changes_queued",
        "FCM topic changes waiting to be handed to the outbox",
        registry=app[shell_keys.METRICS],
    )

    async def refresh_metrics() -> None:
        indexed.set(len(registry.devices))
        queued.set(await store.queued_topic_changes(app[shell_keys.DB]))

    app[shell_keys.METRIC_REFRESHERS].append(refresh_metrics)

    scheduler = app[shell_keys.SCHEDULER]
    scheduled = [
        scheduler.add_job(
            jobs.flush_topics,
            "interval",
            seconds=config.topic_flush_interval_s,
            args=[app],
            id="geofences.flush_topics",
            max_instances=1,
            coalesce=True,
        ),
        scheduler.add_job(
            jobs.refresh_areas,
            "interval",
            seconds=config.areas_refresh_interval_s,
            args=[app],
            id="geofences.refresh_areas",
            max_instances=1,
            coalesce=True,
        ),
        scheduler.add_job(
            jobs.maintain,
            "interval",
            seconds=config.maintenance_interval_s,
            args=[app],
            id="geofences.maintain",
            max_instances=1,
            coalesce=True,
        ),
    ]
    yield
    for job in scheduled:
        job.remove()
    await registry.close()
