"""The configured stations as the ingest pipeline reads them: each series' route (its station,
QC limits, band edges, river peers and the level kinds it drives), worked out once per station
registry and per way a batch names its series, not once per reading."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from feeds import levels, quality
from feeds.models import RANGE_GUARDED, Parameter, Station
from feeds.series import Route
from feeds.thresholds import EventKind

# How a batch names a series: the upstream's id (or our station id), and the parameter.
SeriesName = tuple[str, Parameter]


class Routing:
    """Routes by source and series name, rebuilt when the station registry changes."""

    def __init__(self) -> None:
        self._stations: dict[str, Station] = {}
        self._by_source: dict[tuple[str, str], Station] = {}
        self._edges: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {}
        self._peers: dict[str, tuple[tuple[str, timedelta], ...]] = {}
        self._limits: dict[tuple[str, Parameter], quality.QcLimits] = {}
        # (source, by station id) → series name → route; None for no configured station.
        self._routes: dict[tuple[str, bool], dict[SeriesName, Route | None]] = {}

    @property
    def stations(self) -> dict[str, Station]:
        return dict(self._stations)

    def set_stations(self, stations: Iterable[Station]) -> None:
        """Adopt a changed station registry; cached QC limits and routes follow it."""
        self._stations = {s.id: s for s in stations}
        self._by_source = {(s.source, s.source_id): s for s in self._stations.values()}
        # Each river station's band edges, and the same lowered by its hysteresis.
        self._edges = {
            s.id: (
                s.thresholds.levels(),
                levels.lowered(s.thresholds, s.hysteresis_m),
            )
            for s in self._stations.values()
            if s.thresholds is not None
        }
        by_river: dict[str, list[Station]] = {}
        for s in self._stations.values():
            if s.river and s.thresholds is not None:
                by_river.setdefault(s.river, []).append(s)
        # Each river gauge's peers: the others on its river, each with how long its latest
        # reading may corroborate a rise.
        self._peers = {
            s.id: tuple(
                (other.id, timedelta(seconds=other.reporting_period_s * quality.STALE_PERIODS))
                for other in gauges
                if other.id != s.id
            )
            for gauges in by_river.values()
            for s in gauges
        }
        self._limits = {
            (s.id, p): quality.limits_for(s, p)
            for s in self._stations.values()
            for p in s.parameters
        }
        self._routes = {}

    def routes(self, source: str, by_station_id: bool) -> dict[SeriesName, Route | None]:
        """The routes known so far for how `source` names its series (filled by `route`)."""
        routes = self._routes.get((source, by_station_id))
        if routes is None:
            routes = self._routes[(source, by_station_id)] = {}
        return routes

    def route(self, source: str, key: SeriesName, by_station_id: bool) -> Route | None:
        """Work out a series' route (None: no configured station measures it)."""
        source_id, parameter = key
        station = (
            self._stations.get(source_id)
            if by_station_id
            else self._by_source.get((source, source_id))
        )
        if station is None or parameter not in station.parameters:
            return None
        edges = self._edges.get(station.id)
        kinds: tuple[EventKind, ...] = ()
        if parameter is Parameter.water_level and edges is not None:
            kinds = (EventKind.river_band,)
        elif parameter is Parameter.rainfall:
            kinds = (EventKind.rain, EventKind.intense_rain)
        elif parameter is Parameter.wind_speed:
            kinds = (EventKind.wind,)
        elif parameter is Parameter.wind_gust:
            kinds = (EventKind.gust,)
        return Route(
            station_id=station.id,
            parameter=parameter,
            parameter_text=parameter.value,
            limits=self._limits[(station.id, parameter)],
            evaluates=kinds[0] if kinds else None,
            level_keys=tuple((station.id, kind) for kind in kinds),
            edges=edges or ((), ()),
            peers=self._peers.get(station.id, ()),
            range_guarded=parameter in RANGE_GUARDED,
            station_name=station.name,
            river=station.river,
            thresholds=station.thresholds,
        )
