"""The in-memory point index equals a point-by-point `covers` on the same data, edges included."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import Point

from geofences import index as index_module
from geofences.index import FINE_BITS, AreaCatalog, PointIndex
from geofences.models import Area

HUE = (107.58, 16.46)


def reference(
    geometry: Any, ids: Any, x: Any, y: Any, t: Any, since: float = -math.inf
) -> list[int]:
    """The slow, obviously right answer: one shapely `covers` per point."""
    return sorted(
        int(i)
        for i, px, py, pt in zip(ids, x, y, t, strict=True)
        if pt >= since and geometry.covers(Point(float(px), float(py)))
    )


def found(index: PointIndex, geometry: Any, since: float = -math.inf) -> list[int]:
    return sorted(index.query(geometry, since).ids.tolist())


def loaded(x: Any, y: Any, t: Any | None = None) -> PointIndex:
    index = PointIndex()
    n = len(x)
    index.load(
        np.arange(n),
        np.asarray(x, float),
        np.asarray(y, float),
        np.zeros(n) if t is None else np.asarray(t, float),
        np.full(n, -1, np.int32),
    )
    return index


def star(center: tuple[float, float], radii: list[float], phase: float = 0.0) -> Any:
    angles = phase + np.linspace(0.0, 2 * math.pi, len(radii), endpoint=False)
    r = np.array(radii)
    return shapely.Polygon(
        np.column_stack((center[0] + r * np.cos(angles), center[1] + r * np.sin(angles)))
    )


def adversarial_points(geometry: Any, rng: np.random.Generator, n: int) -> tuple[Any, Any]:
    """Vertices, points on edges, in and on holes, on query-grid lines, and random ones."""
    coords = shapely.get_coordinates(shapely.get_rings(shapely.get_parts(geometry)))
    minx, miny, maxx, maxy = geometry.bounds
    pad = max(maxx - minx, maxy - miny) * 0.1 + 1e-6
    # Points along each edge: exact on axis-aligned edges, within an ulp elsewhere (then the
    # reference and the index must still agree on which side the rounding put them).
    a, b = coords[:-1], coords[1:]
    fractions = rng.random((len(a), 1))
    on_edges = a + (b - a) * fractions
    # Points just either side of each vertex.
    nudge = np.array([[1e-12, 0.0], [0.0, -1e-12], [-1e-9, 1e-9]])
    near_vertices = (coords[:, None, :] + nudge[None, :, :]).reshape(-1, 2)
    # Points on the lines of the grids the index lays over this polygon.
    span = max(maxx - minx, maxy - miny, 1e-9)
    level = min(FINE_BITS, math.floor(math.log2(index_module.QUERY_GRID * 360.0 / span)))
    width = 360.0 / (1 << level)
    gx = (np.floor((rng.uniform(minx, maxx, n // 4) + 180.0) / width) * width) - 180.0
    gy = (np.floor((rng.uniform(miny, maxy, n // 4) + 90.0) / width) * width) - 90.0
    on_grid = np.column_stack((gx, rng.uniform(miny, maxy, n // 4)))
    on_grid_y = np.column_stack((rng.uniform(minx, maxx, n // 4), gy))
    uniform = np.column_stack(
        (rng.uniform(minx - pad, maxx + pad, n), rng.uniform(miny - pad, maxy + pad, n))
    )
    points = np.vstack((coords, on_edges, near_vertices, on_grid, on_grid_y, uniform))
    return points[:, 0].copy(), points[:, 1].copy()


def test_edges_vertices_and_holes_count_as_inside_or_outside_as_covers_says() -> None:
    outer = [(107.0, 16.0), (108.0, 16.0), (108.0, 17.0), (107.0, 17.0)]
    hole = [(107.25, 16.25), (107.75, 16.25), (107.75, 16.75), (107.25, 16.75)]
    polygon = shapely.Polygon(outer, [hole])
    cases = {
        (107.5, 16.0): True,  # on the outer edge
        (107.0, 17.0): True,  # an outer vertex
        (107.25, 16.5): True,  # on the hole's edge
        (107.75, 16.75): True,  # a hole vertex
        (107.5, 16.5): False,  # inside the hole
        (107.1, 16.1): True,  # inside
        (108.0000001, 16.5): False,  # just outside
        (107.2499999, 16.5): True,  # just before the hole
        (107.2500001, 16.5): False,  # just inside the hole
    }
    x = np.array([p[0] for p in cases])
    y = np.array([p[1] for p in cases])
    index = loaded(x, y)
    expected = [i for i, inside in enumerate(cases.values()) if inside]
    assert found(index, polygon) == expected == reference(polygon, range(len(x)), x, y, [0] * 9)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    radii=st.lists(st.floats(0.0005, 0.3), min_size=3, max_size=250),
    hole=st.floats(0.0, 0.9),
    seed=st.integers(0, 2**32 - 1),
)
def test_query_equals_the_point_by_point_reference(
    radii: list[float], hole: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    polygon = star(HUE, radii)
    if not polygon.is_valid:
        polygon = shapely.make_valid(polygon)
    if hole > 0.1:
        inner = star(HUE, [min(radii) * hole] * 7, phase=0.3)
        polygon = polygon.difference(inner)
    x, y = adversarial_points(polygon, rng, 600)
    t = rng.uniform(0, 100, x.size)
    ids = np.arange(x.size)
    # Half the points in the sorted main part, half in the unsorted delta (added after load).
    in_main = rng.random(x.size) < 0.5
    index = PointIndex()
    index.load(ids[in_main], x[in_main], y[in_main], t[in_main], np.zeros(in_main.sum(), np.int32))
    for i in np.flatnonzero(~in_main).tolist():
        index.upsert(i, float(x[i]), float(y[i]), float(t[i]), 0)
    assert found(index, polygon) == reference(polygon, ids, x, y, t)
    assert found(index, polygon, since=50.0) == reference(polygon, ids, x, y, t, since=50.0)


@settings(max_examples=30, deadline=None)
@given(
    width=st.floats(1e-6, 20.0),
    aspect=st.floats(0.05, 20.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_axis_aligned_boxes_of_every_size_agree_exactly(
    width: float, aspect: float, seed: int
) -> None:
    """Boxes have exact edges; from a 10 cm box (finest grid) to a 20° one (coarse grid)."""
    rng = np.random.default_rng(seed)
    box = shapely.box(HUE[0], HUE[1], HUE[0] + width, HUE[1] + width * aspect)
    x, y = adversarial_points(box, rng, 400)
    index = loaded(x, y)
    assert found(index, box) == reference(box, np.arange(x.size), x, y, np.zeros(x.size))


def test_multipolygon_parts_and_a_far_away_point() -> None:
    rng = np.random.default_rng(7)
    parts = shapely.MultiPolygon(
        [star(HUE, [0.05] * 12), star((106.0, 10.8), [0.02] * 5), star((105.8, 21.0), [0.3] * 9)]
    )
    x, y = adversarial_points(parts, rng, 3000)
    index = loaded(x, y)
    assert found(index, parts) == reference(parts, np.arange(x.size), x, y, np.zeros(x.size))


@settings(max_examples=25, deadline=None)
@given(
    operations=st.lists(
        st.tuples(
            st.sampled_from(["add", "move", "nudge", "remove", "merge"]),
            st.integers(0, 60),
            st.floats(-0.1, 0.1),
            st.floats(-0.1, 0.1),
        ),
        max_size=120,
    )
)
def test_updates_in_place_in_the_delta_and_after_merges_match_a_model(
    operations: list[tuple[str, int, float, float]],
) -> None:
    index = PointIndex()
    model: dict[int, tuple[float, float, float]] = {}
    start = np.arange(0, 60, 2)
    index.load(
        start,
        HUE[0] + start * 1e-3,
        np.full(start.size, HUE[1]),
        np.ones(start.size),
        np.zeros(start.size, np.int32),
    )
    model.update({int(i): (HUE[0] + i * 1e-3, HUE[1], 1.0) for i in start})
    for op, point_id, dx, dy in operations:
        if op in ("add", "move"):
            model[point_id] = (HUE[0] + dx, HUE[1] + dy, 2.0)
            index.upsert(point_id, HUE[0] + dx, HUE[1] + dy, 2.0, 0)
        elif op == "nudge" and point_id in model:
            # A move of a few centimetres stays in the same 38 m cell: changed in place.
            old = model[point_id]
            model[point_id] = (old[0] + 1e-7, old[1], 3.0)
            index.upsert(point_id, old[0] + 1e-7, old[1], 3.0, 0)
        elif op == "remove":
            assert index.remove(point_id) == (point_id in model)
            model.pop(point_id, None)
        elif op == "merge":
            index.merge()
    assert len(index) == len(model)
    polygon = star(HUE, [0.06, 0.09, 0.05, 0.08, 0.07])
    ids = list(model)
    x = [model[i][0] for i in ids]
    y = [model[i][1] for i in ids]
    t = [model[i][2] for i in ids]
    assert found(index, polygon) == reference(polygon, ids, x, y, t)
    assert found(index, polygon, since=2.0) == reference(polygon, ids, x, y, t, since=2.0)
    for point_id, (px, py, pt) in model.items():
        assert index.get(point_id) == (px, py, pt, 0)


def test_the_delta_is_merged_when_it_outgrows_a_sixteenth_of_main(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(index_module, "MIN_DELTA_MERGE", 10)
    rng = np.random.default_rng(3)
    x, y = rng.uniform(107.4, 107.8, 320), rng.uniform(16.3, 16.6, 320)
    index = loaded(x, y)
    for i in range(25):
        index.upsert(1000 + i, 107.6, 16.45, 0.0, -1)
    ids, px, py, pt, _ = index.points()
    polygon = star(HUE, [0.1] * 30)
    assert found(index, polygon) == reference(polygon, ids, px, py, pt)
    # 320 / 16 = 20 < 25: the delta was folded into main on the way.
    assert index._dcount < 25  # the merge itself is what is under test


def test_a_move_within_the_same_fine_cell_is_made_in_place() -> None:
    index = loaded([107.58, 107.59], [16.46, 16.46])
    index.upsert(0, 107.58 + 1e-7, 16.46, 5.0, 3)
    assert index._dcount == 0  # in place: the delta stays empty
    index.upsert(0, 107.70, 16.46, 6.0, 3)
    assert index._dcount == 1  # a real move goes to the delta
    assert index.get(0) == (107.70, 16.46, 6.0, 3)
    assert len(index) == 2


def test_tombstones_never_match_whatever_the_time_asked() -> None:
    index = loaded([107.58, 107.59], [16.46, 16.46])
    index.remove(0)
    polygon = star(HUE, [0.1] * 8)
    assert found(index, polygon, since=-math.inf) == [1]
    assert found(index, polygon, since=-1e308) == [1]


def test_catalog_locates_points_in_the_deepest_area() -> None:
    city = shapely.box(107.0, 16.0, 108.0, 17.0)
    west, east = shapely.box(107.0, 16.0, 107.5, 17.0), shapely.box(107.5, 16.0, 108.0, 17.0)
    areas = [
        Area(1, "city", "City", None, None, "area-city"),
        Area(2, "city.west", "West", 1, None, "area-city.west"),
        Area(3, "city.east", "East", 1, None, "area-city.east"),
    ]
    catalog = AreaCatalog(areas, [city, west, east])
    x = np.array([107.2, 107.8, 107.5, 109.0])
    y = np.array([16.5, 16.5, 16.5, 16.5])
    # On the shared edge the lower id wins; outside every area is -1.
    assert catalog.locate_many(x, y).tolist() == [2, 3, 2, -1]
    hits = catalog.hits(shapely.box(107.0, 16.0, 107.5, 16.9))
    # The box lies inside West and City and only touches East along an edge.
    assert hits.overlapping == (1, 2)
    assert hits.covered == frozenset()
    assert catalog.hits(shapely.box(106.9, 15.9, 107.6, 17.1)).covered == frozenset({2})
    assert catalog.ancestors == {1: (), 2: (1,), 3: (1,)}


@given(
    x=st.floats(-180, 180, allow_nan=False),
    y=st.floats(-90, 90, allow_nan=False),
)
def test_the_scalar_key_equals_the_vectorised_one(x: float, y: float) -> None:
    """The in-place update compares keys made both ways: they must never differ."""
    assert index_module.morton_key(x, y) == int(
        index_module.morton_keys(np.array([x]), np.array([y]))[0]
    )
