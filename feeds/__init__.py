"""Hydro-met feeds: stations, source adapters, polling, QC, alarm levels and threshold events."""

from __future__ import annotations

from aiohttp import web

from canhbao.config import Config, require_positive
from canhbao.db import Migration
from canhbao.errors import ConfigError
from feeds import jobs, routes, schema
from feeds.errors import StationInvalid
from feeds.sources import SOURCE_NAMES
from feeds.stations import from_config

MIGRATIONS: tuple[Migration, ...] = schema.MIGRATIONS


def setup(app: web.Application, config: Config) -> None:
    """Check the stations and sources in the config now, and add the feeds context and routes."""
    check_config(config)
    app.cleanup_ctx.append(jobs.feeds_ctx)
    routes.setup_routes(app)


def check_config(config: Config) -> None:
    """Station rules the type checks cannot express; ConfigError names the key path."""
    feeds = config.feeds
    ids: set[str] = set()
    upstream: set[tuple[str, str]] = set()
    for index, entry in enumerate(feeds.stations):
        where = f"feeds.stations[{index}]"
        try:
            station = from_config(entry, SOURCE_NAMES)
        except StationInvalid as err:
            # StationInvalid says "field: problem".
            raise ConfigError(f"{where}.{err}") from None
        if station.id in ids:
            raise ConfigError(f"{where}.id: {station.id!r} is listed twice")
        if (station.source, station.source_id) in upstream:
            raise ConfigError(
                f"{where}.source_id: another station is already {station.source} "
                f"{station.source_id}"
            )
        ids.add(station.id)
        upstream.add((station.source, station.source_id))
    for name in feeds.openmeteo.stations:
        if name not in ids and feeds.openmeteo.enabled:
            raise ConfigError(f"feeds.openmeteo.stations: no station {name!r}")
    if feeds.replay.enabled and not feeds.replay.path:
        raise ConfigError("feeds.replay.path: required when feeds.replay.enabled = true")
    require_positive(feeds.replay, "feeds.replay", "speed")
    if feeds.sensorthings.enabled and not feeds.sensorthings.base_url:
        raise ConfigError("feeds.sensorthings.base_url: required when it is enabled")
    for name in ("vndms", "sensorthings", "ea", "openmeteo", "nws", "replay"):
        settings = getattr(feeds, name)
        require_positive(
            settings, f"feeds.{name}", "interval_s", "timeout_s", "max_bytes", "backoff_max_s"
        )
        if settings.jitter_s < 0:
            raise ConfigError(f"feeds.{name}.jitter_s: must not be negative")
    if feeds.ingest_max_rows < 1 or feeds.series_max_points < 2:
        raise ConfigError("feeds.ingest_max_rows / series_max_points: too small")
