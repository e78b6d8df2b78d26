"""Feed config mistakes stop start-up with the key path; the shipped stations are Huế's two."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from canhbao.app import create_app
from canhbao.config import load_config
from canhbao.errors import ConfigError
from tests.conftest import REPO, make_config
from tests.feeds.conftest import station


def river(station_id: str = "x", source: str = "vndms", **extra: Any) -> dict[str, Any]:
    return station(station_id, "river_level", source, **extra)


@pytest.mark.parametrize(
    ("feeds", "message"),
    [
        (
            {"stations": [river(bao_dong1=2.0, bao_dong2=1.0, bao_dong3=3.0)]},
            "feeds.stations[0].bao_dong2: thresholds must rise",
        ),
        ({"stations": [river(bao_dong1=1.0)]}, "feeds.stations[0].bao_dong2: give all three"),
        (
            {
                "stations": [
                    station("w", "wind", "nws", bao_dong1=1.0, bao_dong2=2.0, bao_dong3=3.0)
                ]
            },
            "feeds.stations[0].bao_dong1: only river_level stations",
        ),
        ({"stations": [river(source="telepathy")]}, "feeds.stations[0].source: one of"),
        ({"stations": [river(lat=91.0)]}, "feeds.stations[0].lat: must be within"),
        ({"stations": [river("a b")]}, "feeds.stations[0].id: 1-64 letters"),
        ({"stations": [river("a"), river("a", source_id="b")]}, "feeds.stations[1].id: 'a' is"),
        (
            {"stations": [river("a", source_id="1"), river("b", source_id="1")]},
            "feeds.stations[1].source_id: another station is already vndms 1",
        ),
        ({"openmeteo": {"enabled": True, "stations": ["nowhere"]}}, "feeds.openmeteo.stations"),
        ({"replay": {"enabled": True}}, "feeds.replay.path: required"),
        ({"ea": {"interval_s": 0.0}}, "feeds.ea.interval_s: must be greater than 0"),
    ],
)
def test_bad_feed_config_names_the_key(tmp_path: Path, feeds: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        create_app(make_config(tmp_path, {"feeds": feeds}))


def test_the_shipped_config_watches_kim_long_and_phu_oc() -> None:
    config = load_config(REPO / "config.toml")
    stations = {s.id: s for s in config.feeds.stations}
    kim_long, phu_oc = stations["71520"], stations["71518"]
    assert (kim_long.name, kim_long.river) == ("Kim Long", "Hương")
    assert (kim_long.bao_dong1, kim_long.bao_dong2, kim_long.bao_dong3) == (1.0, 2.0, 3.5)
    assert kim_long.historic == 5.81
    assert (phu_oc.name, phu_oc.river) == ("Phú Ốc", "Bồ")
    assert (phu_oc.bao_dong1, phu_oc.bao_dong2, phu_oc.bao_dong3) == (1.5, 3.0, 4.5)
    assert phu_oc.historic == 5.31
    # The embedded defaults (what tests and a config without stations get) are the same two.
    assert make_config(REPO).feeds.stations == config.feeds.stations
