"""Geometry work on user input runs off the event loop, within caps and the pool's limits."""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from canhbao import keys
from canhbao.offload import PoolLimits, ProcessPool
from geofences.areas import ImportOptions, count_crossings, prepare_import
from geofences.errors import ImportTooCostly, InvalidGeometry
from geofences.work import off_loop
from tests.conftest import AppClient, StaffFactory, make_config
from tests.geofences.conftest import HUE_FILE

HUE_QUERY = (
    "?name_property=Phường xã mới&parent_property=Tỉnh thành mới&population_property=Dân số (người)"
)


def scribble(vertices: int, seed: int = 1) -> list[list[float]]:
    """A closed ring through random points: its edges cross each other about n²/10 times."""
    rng = np.random.default_rng(seed)
    points = np.column_stack(
        [107.5 + rng.random(vertices) * 0.1, 16.4 + rng.random(vertices) * 0.1]
    ).tolist()
    return [*points, points[0]]


def wavy_ring(vertices: int) -> list[list[float]]:
    """A valid ring around Huế with many vertices, like a detailed coastline."""
    angles = np.linspace(0.0, 2 * math.pi, vertices, endpoint=False)
    radius = 0.1 * (1 + 0.05 * np.sin(angles * 997))
    points = np.column_stack(
        [107.5 + radius * np.cos(angles), 16.4 + radius * np.sin(angles)]
    ).round(7)
    ring = points.tolist()
    return [*ring, ring[0]]


def polygon_feature(ring: list[list[float]], name: str) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"ten": name},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        ],
    }


def test_a_tangled_polygon_is_refused_for_repair_before_make_valid() -> None:
    # The 20,001-vertex scribble that took make_valid past 12 GB: refused after counting
    # just past the cap of crossings.
    document = polygon_feature(scribble(20_001), "Rối")
    options = ImportOptions(name_property="ten", repair=True, max_repair_crossings=5_000)
    with pytest.raises(InvalidGeometry, match=r"cross more than 5,000 times") as caught:
        prepare_import(document, options)
    assert "max_repair_crossings" in caught.value.reason
    assert caught.value.feature == 0


def test_a_lightly_tangled_polygon_is_still_repaired() -> None:
    # A bow-tie with 500 vertices along each edge: 2,000 vertices, one crossing.
    corners = np.array([[107.5, 16.4], [107.6, 16.5], [107.6, 16.4], [107.5, 16.5], [107.5, 16.4]])
    steps = np.linspace(0.0, 1.0, 500, endpoint=False)[:, None]
    edges = [a + (b - a) * steps for a, b in itertools.pairwise(corners)]
    ring = np.concatenate(edges).tolist()
    plan = prepare_import(
        polygon_feature([*ring, ring[0]], "Nơ"), ImportOptions(name_property="ten", repair=True)
    )
    assert len(plan.repairs) == 1


@pytest.mark.parametrize(
    ("ring", "crossings"),
    [
        ([[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]], 0),
        ([[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]], 1),
        ([[0, 0], [2, 0], [2, 2], [0, 2], [0, 0]], 0),
    ],
)
def test_crossings_leave_out_neighbouring_edges(ring: list[list[int]], crossings: int) -> None:
    import shapely

    assert count_crossings(shapely.Polygon(ring), 100) == crossings


async def test_an_import_past_the_time_limit_is_refused_naming_it(
    app_client: AppClient, staff: StaffFactory, tmp_path: Path
) -> None:
    client = await app_client(config=make_config(tmp_path, {"offload": {"time_limit_s": 0.001}}))
    admin = await staff(client, "admin", roles=["admin"])
    response = await admin.post("/api/v1/areas/import" + HUE_QUERY, data=HUE_FILE.read_bytes())
    assert response.status == 422, await response.text()
    error = (await response.json())["error"]
    assert error["code"] == "import_too_costly"
    assert error["limit"] == "0.001 s"
    assert "offload.time_limit_s" in error["message"]
    # The worker was replaced: with room to work, the same import goes through.
    assert client.app is not None


async def test_work_over_the_memory_limit_is_refused_naming_it() -> None:
    pool = ProcessPool(PoolLimits(workers=1, memory_limit_bytes=256 << 20))
    try:
        with pytest.raises(ImportTooCostly, match="256 MiB memory limit") as caught:
            await off_loop(pool, bytearray, 1 << 31)
        assert caught.value.limit == "256 MiB"
    finally:
        await pool.close()


async def test_the_service_keeps_answering_while_a_large_import_runs(
    app_client: AppClient, staff: StaffFactory
) -> None:
    client = await app_client()
    admin = await staff(client, "admin", roles=["admin"])
    body = json.dumps(polygon_feature(wavy_ring(100_000), "Bờ biển")).encode()
    importing = asyncio.create_task(
        admin.post("/api/v1/areas/import?name_property=ten", data=io.BytesIO(body))
    )
    assert client.app is not None
    pool = client.app[keys.OFFLOAD]
    while pool.busy == 0 and not importing.done():  # noqa: ASYNC110  # the upload and the worker's start: no event to wait on
        await asyncio.sleep(0.01)
    assert not importing.done(), await (await importing).text()
    answered = 0
    while not importing.done() and answered < 20:
        response = await client.get("/healthz")
        assert response.status in (200, 503)
        answered += 1
    # Seconds of geometry work: the loop answered twenty requests before it ended. Inline,
    # the import held the loop and not one answer came back until it was done.
    assert answered == 20
    assert not importing.done()
    response = await importing
    assert response.status == 201, await response.text()
    assert (await response.json())["vertices"] >= 100_000


async def test_the_preview_refuses_a_warning_area_over_its_vertex_cap(
    app_client: AppClient, staff: StaffFactory
) -> None:
    client = await app_client()
    issuer = await staff(client, "lan", roles=["issuer"])
    geometry = {"type": "Polygon", "coordinates": [wavy_ring(20_001)]}
    response = await issuer.post("/api/v1/targeting/preview", json={"geometry": geometry})
    assert response.status == 413, await response.text()
    assert "more than 20,000 vertices" in (await response.json())["error"]["message"]
