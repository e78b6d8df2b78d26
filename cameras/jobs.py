"""The cameras context: the registry from config, pollers, the tick and retention jobs, and
the /metrics collector."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import AsyncIterator, Callable, Iterator

from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from cameras import store
from cameras.cpu import StillDecoder
from cameras.files import ImageFiles
from cameras.images import Limits
from cameras.keys import CAMERAS
from cameras.models import FLAGS, Thresholds, build_camera
from cameras.poller import PollSettings, StoreDeps
from cameras.ports import CameraPorts
from cameras.service import Cameras
from canhbao import keys

Context = Callable[[web.Application], AsyncIterator[None]]


def cameras_context(ports: Callable[[web.Application], CameraPorts]) -> Context:
    async def cameras_ctx(app: web.Application) -> AsyncIterator[None]:
        config = app[keys.CONFIG]
        settings = config.cameras
        given = ports(app)
        decoder = StillDecoder(app[keys.OFFLOAD], settings.decode_time_limit_s)
        service = Cameras(
            settings,
            PollSettings(
                timeout_s=settings.timeout_s,
                max_bytes=settings.max_bytes,
                backoff_max_s=settings.backoff_max_s,
                unreachable_after=settings.unreachable_after_failures,
                limits=Limits(settings.max_pixels, settings.thumbnail_width),
                thresholds=Thresholds(
                    frozen_polls=settings.frozen_polls,
                    frozen_max_distance=settings.frozen_max_distance,
                    dark_max_mean=settings.dark_max_mean,
                    uniform_max_stddev=settings.uniform_max_stddev,
                    blur_min_sharpness=settings.blur_min_sharpness,
                ),
            ),
            StoreDeps(app[keys.DB], ImageFiles(config.resolve(settings.storage_dir)), decoder),
            session=app[keys.HTTP],
            clock=app[keys.CLOCK],
            health=app[keys.HEALTH],
            wards=given.wards,
            warnings=given.warnings,
            environ=os.environ,
        )
        await service.load(
            [build_camera(dataclasses.asdict(entry), "config") for entry in settings.cameras]
        )
        app[CAMERAS] = service
        collector = CamerasCollector(service)
        app[keys.METRICS].register(collector)

        async def refresh_usage() -> None:
            collector.usage = await store.usage(app[keys.DB])

        app[keys.METRIC_REFRESHERS].append(refresh_usage)
        scheduler = app[keys.SCHEDULER]
        scheduled = []
        if settings.schedule:
            scheduled = [
                scheduler.add_job(
                    service.tick,
                    "interval",
                    seconds=settings.tick_s,
                    id="cameras.tick",
                    max_instances=1,
                    coalesce=True,
                ),
                scheduler.add_job(
                    service.run_retention,
                    "interval",
                    seconds=settings.retention.interval_s,
                    id="cameras.retention",
                    max_instances=1,
                    coalesce=True,
                ),
            ]
        try:
            yield
        finally:
            for job in scheduled:
                if scheduler.get_job(job.id) is not None:
                    job.remove()
            await service.stop()
            app[keys.METRICS].unregister(collector)

    return cameras_ctx


class CamerasCollector(Collector):
    """Camera state, fetch outcomes, storage and retention for /metrics."""

    def __init__(self, service: Cameras) -> None:
        self._service = service
        self.usage = (0, 0)

    def collect(self) -> Iterator[Metric]:
        service = self._service
        cameras = GaugeMetricFamily(
            "canhbao_cameras", "Cameras polled, by poll status", labels=["status"]
        )
        statuses: dict[str, int] = {"idle": 0, "ok": 0, "failing": 0}
        flags = GaugeMetricFamily(
            "canhbao_cameras_flagged", "Cameras holding each quality flag", labels=["flag"]
        )
        flagged = dict.fromkeys(FLAGS, 0)
        for poller in service.pollers.values():
            statuses[poller.state.status] += 1
            for name in poller.state.flags:
                flagged[name] += 1
        for status, count in statuses.items():
            cameras.add_metric([status], count)
        for name, count in flagged.items():
            flags.add_metric([name], count)
        fetches = CounterMetricFamily(
            "canhbao_cameras_fetches", "Camera fetches since start, by outcome", labels=["outcome"]
        )
        for outcome, count in sorted(service.counters.fetches.items()):
            fetches.add_metric([outcome], count)
        covered = GaugeMetricFamily(
            "canhbao_cameras_under_warning", "Cameras an issued warning covers now"
        )
        covered.add_metric([], len(service.covered))
        files, size = self.usage
        stored_files = GaugeMetricFamily(
            "canhbao_cameras_stored_files", "Stored image and thumbnail files"
        )
        stored_files.add_metric([], files)
        stored_bytes = GaugeMetricFamily(
            "canhbao_cameras_stored_bytes", "Bytes of stored images and thumbnails"
        )
        stored_bytes.add_metric([], size)
        deleted = CounterMetricFamily(
            "canhbao_cameras_retention_deleted",
            "Stills and files deleted by retention since start",
            labels=["what"],
        )
        deleted.add_metric(["stills"], service.counters.deleted_stills)
        deleted.add_metric(["files"], service.counters.deleted_files)
        over = GaugeMetricFamily(
            "canhbao_cameras_over_cap_bytes",
            "Bytes over the disk cap kept because they were taken under warnings",
        )
        over.add_metric([], service.counters.over_cap_bytes)
        yield from (cameras, flags, fetches, covered, stored_files, stored_bytes, deleted, over)
