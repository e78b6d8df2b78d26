"""The hotline's ports: the flood-information adapter over the real feeds domain, each adapter
translating its domain's errors, and a caller who still gets through when a port cannot say."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest

from alerting.errors import AlertingError
from canhbao.app import AlertingWarnings, FeedsFloodInfo, GeofencesLocations
from canhbao.clock import ManualClock
from feeds.errors import FeedError
from feeds.keys import FEEDS
from feeds.models import FetchResult, Observation, Parameter
from geofences.errors import GeofenceError
from hotline.errors import SourceUnavailable
from hotline.models import KnownLocation
from hotline.ports import StationLevel, WarningInForce
from tests.hotline.conftest import CALLER, Line, StartLine


async def _real_flood(start_line: StartLine) -> Line:
    line = await start_line()
    line.hotline.ports.flood = line.real_ports.flood
    return line


async def _readings(line: Line, *points: tuple[timedelta, float]) -> None:
    pipeline = line.app[FEEDS].pipeline
    now = line.clock.now()
    observations = tuple(
        Observation("71520", Parameter.water_level, now + offset, value) for offset, value in points
    )
    await pipeline.ingest("ingest", FetchResult(observations=observations), by_station_id=True)


async def test_river_levels_come_from_the_feeds_domain(start_line: StartLine) -> None:
    line = await _real_flood(start_line)
    await _readings(
        line, (-timedelta(hours=2), 2.1), (-timedelta(hours=1), 2.2), (timedelta(), 2.3)
    )
    call = await line.sim.incoming(CALLER)
    await call.press("2")
    assert "Mực nước sông Hương tại Kim Long là hai mét ba mươi, ở mức báo động hai" in (
        call.transcript
    )
    assert "Hiện chưa có số liệu mới của trạm Phú Ốc." in call.transcript


async def test_a_reading_from_the_future_is_not_read_out(start_line: StartLine) -> None:
    line = await _real_flood(start_line)
    await _readings(line, (-timedelta(minutes=30), 1.2), (timedelta(hours=2), 4.8))
    levels = await line.real_ports.flood.levels(["71520"])
    assert [(level.level_m, level.band) for level in levels] == [(1.2, 1)]


class _Failing:
    """Stands in for another domain's object whose public method fails with its own error."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.stations: dict[str, Any] = {}

    async def in_force_at(self, *args: object) -> list[Any]:
        raise self.error

    async def location_for_phone(self, phone: str) -> None:
        raise self.error

    async def recent_water_levels(self, *args: object) -> list[Any]:
        raise self.error


async def test_each_adapter_translates_its_domains_errors(clock: ManualClock) -> None:
    with pytest.raises(SourceUnavailable):
        await AlertingWarnings(_Failing(AlertingError("down"))).in_force(None)  # type: ignore[arg-type]  # a stand-in
    with pytest.raises(SourceUnavailable):
        await GeofencesLocations(_Failing(GeofenceError("down"))).locate(CALLER)  # type: ignore[arg-type]  # a stand-in
    failing = _Failing(FeedError("down"))
    failing.stations = {"71520": object()}
    with pytest.raises(SourceUnavailable):
        await FeedsFloodInfo(failing, clock).levels(["71520"])  # type: ignore[arg-type]  # a stand-in


class _Unavailable:
    async def levels(self, station_ids: Sequence[str]) -> list[StationLevel]:
        raise SourceUnavailable("feeds down")

    async def in_force(self, location: KnownLocation | None) -> list[WarningInForce] | None:
        raise SourceUnavailable("alerting down")

    async def locate(self, phone: str) -> KnownLocation | None:
        raise SourceUnavailable("geofences down")


async def test_a_caller_gets_through_when_no_port_can_answer(start_line: StartLine) -> None:
    line = await start_line()
    ports = line.hotline.ports
    ports.flood = ports.warnings = ports.locations = _Unavailable()
    call = await line.sim.incoming(CALLER)
    assert call.transcript.startswith("Xin chào")
    await call.press("2")
    assert "Hiện hệ thống chưa có số liệu mực nước mới" in call.transcript
    assert "chưa có thông tin cảnh báo" in call.transcript
    await call.press("1")
    assert "Xin nói rõ địa chỉ" in call.transcript
