"""First start loads Huế's wards; areas the CLI imports are served by a running app in seconds."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from canhbao import keys
from canhbao.cli import main as cli_main
from canhbao.config import load_config
from geofences import jobs
from tests.conftest import REPO, AppClient, make_config
from tests.geofences.conftest import eventually, registry

SQUARE = [[107.5, 16.4], [107.6, 16.4], [107.6, 16.5], [107.5, 16.5], [107.5, 16.4]]


def write_zone(tmp_path: Path) -> Path:
    zone = tmp_path / "zone.geojson"
    feature = {
        "type": "Feature",
        "properties": {"ten": "Vùng trũng"},
        "geometry": {"type": "Polygon", "coordinates": [SQUARE]},
    }
    zone.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}), "utf-8")
    return zone


def write_config(tmp_path: Path) -> Path:
    # The same database file as make_config(tmp_path): the CLI writes what the app serves.
    path = tmp_path / "config.toml"
    path.write_text('[database]\n# test\npath = "canhbao.sqlite3"\n', encoding="utf-8")
    return path


def test_the_shipped_config_loads_hue_on_first_start() -> None:
    assert load_config(REPO / "config.toml").geofences.first_start_hue_wards


async def test_a_first_start_loads_hues_40_wards_once(
    app_client: AppClient, tmp_path: Path
) -> None:
    config = make_config(tmp_path, {"geofences": {"first_start_hue_wards": True}})
    client = await app_client(config=config)
    catalog = registry(client).catalog
    assert len(catalog) == 41
    assert len(catalog.children[catalog.by_code["hue"].id]) == 40
    await client.close()
    # A second start finds the areas there and imports nothing.
    again = await app_client(config=config)
    assert len(registry(again).catalog) == 41
    assert again.app is not None
    audit = await again.app[keys.DB].fetch_all(
        "SELECT actor FROM audit_log WHERE action = 'areas.import'"
    )
    assert [row["actor"] for row in audit] == ["system:first-start"]


async def test_a_first_start_leaves_areas_someone_imported_alone(
    app_client: AppClient, tmp_path: Path
) -> None:
    zone = write_zone(tmp_path)
    args = ["--config", str(write_config(tmp_path)), "areas", "import", str(zone)]
    assert await asyncio.to_thread(cli_main, [*args, "--name-property", "ten"]) == 0
    config = make_config(tmp_path, {"geofences": {"first_start_hue_wards": True}})
    client = await app_client(config=config)
    assert list(registry(client).catalog.by_code) == ["vung-trung"]


async def test_an_area_imported_by_the_cli_is_served_at_the_next_refresh(
    app_client: AppClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config(tmp_path, {"geofences": {"areas_refresh_interval_s": 3600.0}})
    client = await app_client(config=config)
    assert client.app is not None
    assert not await jobs.refresh_areas(client.app)  # nothing new: one small read
    zone = write_zone(tmp_path)
    args = ["--config", str(write_config(tmp_path)), "areas", "import", str(zone)]
    assert await asyncio.to_thread(cli_main, [*args, "--name-property", "ten"]) == 0
    out = capsys.readouterr().out
    assert "a running service serves them within 2 s" in out
    assert "vung-trung" not in registry(client).catalog.by_code
    assert await jobs.refresh_areas(client.app)
    assert "vung-trung" in registry(client).catalog.by_code
    assert (await client.get("/api/v1/areas/vung-trung")).status == 200


async def test_the_refresh_runs_on_its_own_schedule(app_client: AppClient, tmp_path: Path) -> None:
    # The real scheduler, with a short interval; the default is seconds, not a minute.
    config = make_config(tmp_path, {"geofences": {"areas_refresh_interval_s": 0.05}})
    client = await app_client(config=config)
    assert client.app is not None
    job = client.app[keys.SCHEDULER].get_job("geofences.refresh_areas")
    assert job is not None
    zone = write_zone(tmp_path)
    args = ["--config", str(write_config(tmp_path)), "areas", "import", str(zone)]
    assert await asyncio.to_thread(cli_main, [*args, "--name-property", "ten"]) == 0

    async def served() -> bool:
        return "vung-trung" in registry(client).catalog.by_code

    await eventually(served)
    assert make_config(tmp_path).geofences.areas_refresh_interval_s <= 5
