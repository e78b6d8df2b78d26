"""The running feeds domain as the app holds it (app[FEEDS]): pipeline, pollers, metrics."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from canhbao.config import Config
from feeds.models import Station
from feeds.pipeline import Pipeline
from feeds.poller import SourcePoller
from feeds.sources import SOURCES, SourceSpec
from feeds.thresholds import ThresholdEvent


@dataclass
class FeedsRuntime:
    config: Config
    pipeline: Pipeline
    pollers: dict[str, SourcePoller] = field(default_factory=dict)
    events_total: dict[str, int] = field(default_factory=dict)

    def stations_changed(self, stations: Sequence[Station]) -> None:
        """Adopt a new station registry: the pipeline, and sources that poll per station."""
        self.pipeline.set_stations(stations)
        specs: dict[str, SourceSpec] = {spec.name: spec for spec in SOURCES}
        for name, poller in self.pollers.items():
            spec = specs[name]
            if spec.per_station:
                poller.source = spec.build(self.config, stations)

    async def count_event(self, event: ThresholdEvent) -> None:
        self.events_total[event.kind.value] = self.events_total.get(event.kind.value, 0) + 1


class FeedsCollector(Collector):
    """Per-source state for /metrics, read from the pollers at scrape time."""

    def __init__(self, runtime: FeedsRuntime) -> None:
        self._runtime = runtime

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "canhbao_feeds_source_up", "1 when the source's last poll succeeded", labels=["source"]
        )
        failures = GaugeMetricFamily(
            "canhbao_feeds_source_consecutive_failures",
            "Failed polls in a row",
            labels=["source"],
        )
        last_success = GaugeMetricFamily(
            "canhbao_feeds_source_last_success_timestamp_seconds",
            "When the source last polled successfully (Unix time)",
            labels=["source"],
        )
        accepted = CounterMetricFamily(
            "canhbao_feeds_readings_accepted",
            "Readings stored (new or revised) since start",
            labels=["source"],
        )
        for name, poller in sorted(self._runtime.pollers.items()):
            state = poller.state
            up.add_metric([name], 1.0 if state.status == "ok" else 0.0)
            failures.add_metric([name], state.consecutive_failures)
            if state.last_success_at is not None:
                last_success.add_metric([name], state.last_success_at.timestamp())
            accepted.add_metric([name], state.readings_accepted)
        events = CounterMetricFamily(
            "canhbao_feeds_threshold_events", "Threshold events raised since start", labels=["kind"]
        )
        for kind, count in sorted(self._runtime.events_total.items()):
            events.add_metric([kind], count)
        yield from (up, failures, last_success, accepted, events)
