"""The registry of feed sources: one explicit tuple, one entry per upstream module.

A test fails if a source registered here has no recorded-payload test.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from canhbao.config import Config, FeedPollConfig
from feeds.models import Station
from feeds.ports import FeedSource
from feeds.sources import ea, nws, openmeteo, replay, sensorthings, vndms


@dataclass(frozen=True)
class SourceSpec:
    """How to find a source's config section and build it for the stations it feeds."""

    name: str
    settings: Callable[[Config], FeedPollConfig]
    build: Callable[[Config, Sequence[Station]], FeedSource]
    # Rebuilt when stations change: it polls one request per station.
    per_station: bool = False
    # Its observations name our station ids rather than the upstream's (a replay does).
    by_station_id: bool = False


def _stations_of(name: str, stations: Sequence[Station]) -> list[str]:
    return [station.source_id for station in stations if station.source == name]


def _in_order(ids: Sequence[str], stations: Sequence[Station]) -> list[Station]:
    """The stations named in `ids`, in that order (a forecast answer follows the asked order)."""
    by_id = {station.id: station for station in stations}
    return [by_id[station_id] for station_id in ids if station_id in by_id]


SOURCES: tuple[SourceSpec, ...] = (
    SourceSpec(
        vndms.NAME,
        lambda c: c.feeds.vndms,
        lambda c, s: vndms.VndmsSource(c.feeds.vndms, _stations_of(vndms.NAME, s)),
        per_station=True,
    ),
    SourceSpec(
        sensorthings.NAME,
        lambda c: c.feeds.sensorthings,
        lambda c, s: sensorthings.SensorThingsSource(c.feeds.sensorthings),
    ),
    SourceSpec(ea.NAME, lambda c: c.feeds.ea, lambda c, s: ea.EaSource(c.feeds.ea)),
    SourceSpec(
        openmeteo.NAME,
        lambda c: c.feeds.openmeteo,
        lambda c, s: openmeteo.OpenMeteoSource(
            c.feeds.openmeteo,
            _in_order(c.feeds.openmeteo.stations, s),
        ),
        per_station=True,
    ),
    SourceSpec(
        nws.NAME,
        lambda c: c.feeds.nws,
        lambda c, s: nws.NwsSource(c.feeds.nws, _stations_of(nws.NAME, s)),
        per_station=True,
    ),
    SourceSpec(
        replay.NAME,
        lambda c: c.feeds.replay,
        lambda c, s: replay.ReplaySource(c.feeds.replay, c.resolve(c.feeds.replay.path)),
        by_station_id=True,
    ),
)

# Readings pushed by loggers arrive through POST /api/v1/ingest/readings under this source name.
INGEST = "ingest"
SOURCE_NAMES = frozenset({spec.name for spec in SOURCES} | {INGEST})
