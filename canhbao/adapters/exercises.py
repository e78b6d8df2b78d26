"""What a scenario is checked against (exercises.scenario.ScenarioContext): the configured
stations (feeds), Huế's wards as shipped (geofences), and feeds' replay parser for its files."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path

import shapely

from canhbao.config import Config
from exercises.errors import ExerciseError
from exercises.models import ExerciseWard, ReplayPoint
from exercises.scenario import ScenarioContext
from feeds.errors import FeedError
from feeds.sources.replay import parse as parse_replay
from geofences.areas import prepare_import, read_document
from geofences.errors import GeofenceError
from geofences.seed import HUE_OPTIONS, HUE_WARDS

MAX_REPLAY_BYTES = 50_000_000


def scenario_context(config: Config) -> ScenarioContext:
    return ScenarioContext(
        stations=frozenset(station.id for station in config.feeds.stations),
        wards=hue_wards(),
        read_replay=read_replay,
    )


@cache
def hue_wards() -> dict[str, ExerciseWard]:
    """The shipped wards (leaves only: the city holds them), with population and outline."""
    raw = HUE_WARDS.read_bytes()
    try:
        plan = prepare_import(read_document(raw, len(raw)), HUE_OPTIONS)
    except GeofenceError as err:
        raise ExerciseError(f"the shipped wards: {err}") from err
    return {
        area.code: ExerciseWard(
            area.code,
            area.name,
            area.population or 0,
            tuple(
                tuple((x, y) for x, y in polygon.exterior.coords)
                for polygon in shapely.get_parts(area.geometry)
            ),
        )
        for area in plan.areas
        if area.parent_code is not None
    }


def read_replay(path: Path) -> Sequence[ReplayPoint]:
    """A replay CSV's readings, through feeds' own parser."""
    try:
        size = path.stat().st_size
        if size > MAX_REPLAY_BYTES:
            raise ExerciseError(f"{size:,} bytes, over {MAX_REPLAY_BYTES:,}")
        text = path.read_text(encoding="utf-8-sig")
    except OSError as err:
        raise ExerciseError(f"cannot read: {err.strerror or err}") from err
    except UnicodeDecodeError as err:
        raise ExerciseError("not UTF-8 text") from err
    try:
        observations, _ = parse_replay(text)
    except FeedError as err:
        raise ExerciseError(str(err)) from err
    return [
        ReplayPoint(o.source_id, o.observed_at, o.value, str(o.parameter)) for o in observations
    ]
