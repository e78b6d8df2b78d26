"""In-memory indexes: device and contact coordinates (numpy), and the areas (shapely STRtree).

PointIndex keeps every located point in two parts:

- main: arrays sorted by a Morton (Z-order) key of a fixed world grid of 2^20 by 2^20 cells
  (≈ 38 m), so any coarser grid cell is one contiguous slice found by binary search;
- delta: an unsorted, append-only tail for points added or moved since the last merge.

A query lays a grid of at most 192 by 192 cells over the polygon's bounding box and sorts the
cells three ways: the points of cells the polygon's boundary passes through are tested one by
one with shapely's vectorised `intersects_xy`; every other cell lies wholly inside or wholly
outside, which one centre test per run of such cells along a row decides. Points of inside
cells are taken as whole slices, without a per-point geometric test. The delta is scanned and
tested point by point.

"Inside" means inside or on the boundary (GEOS `covers` for a point), the same for every part,
so the result equals a point-by-point `polygon.covers(Point(x, y))` on the same data.

Updates are O(1) amortised: a point that moves within its 38 m cell is changed in place; any
other change tombstones the main slot and appends to the delta, which is merged (re-sorted)
into main when it outgrows both 65,536 points and 1/16 of main. For 1 M points a merge holds
the event loop for a few tenths of a second, once per 65,536 or more moves.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely

from geofences.models import Area

FINE_BITS = 20
_FINE_CELLS = 1 << FINE_BITS
_FINE_SCALE = _FINE_CELLS / 360.0
# A query grid of at most this many cells per axis: fine enough that few points need the
# exact test, coarse enough that classifying the cells costs little.
QUERY_GRID = 192
MIN_DELTA_MERGE = 65_536
# Degrees (≈ 0.1 mm) by which boundary pieces are widened before their cells are marked.
EDGE_EPSILON = 1e-9
_ABSENT = -1

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Keys = npt.NDArray[np.uint64]
AreaIds = npt.NDArray[np.int32]


def _fine(values: Floats, offset: float) -> Ints:
    """Fine grid index of each coordinate (longitude offset 180, latitude offset 90)."""
    cells = np.floor((values + offset) * _FINE_SCALE).astype(np.int64)
    return np.clip(cells, 0, _FINE_CELLS - 1)


def _spread(values: Ints) -> Keys:
    """Interleave zero bits between the low 32 bits of each value (Morton code half)."""
    v = values.astype(np.uint64)
    for shift, mask in (
        (16, 0x0000FFFF0000FFFF),
        (8, 0x00FF00FF00FF00FF),
        (4, 0x0F0F0F0F0F0F0F0F),
        (2, 0x3333333333333333),
        (1, 0x5555555555555555),
    ):
        v = (v | (v << np.uint64(shift))) & np.uint64(mask)
    return v


def morton_keys(x: Floats, y: Floats) -> Keys:
    return _spread(_fine(x, 180.0)) | (_spread(_fine(y, 90.0)) << np.uint64(1))


# Each byte with a zero bit put between its bits: the scalar twin of _spread, by table.
_SPREAD_BYTE = [int(_spread(np.array([b], np.int64))[0]) for b in range(256)]


def morton_key(x: float, y: float) -> int:
    """morton_keys for one point, in plain Python (an update's hot path; no numpy overhead).

    The arithmetic is the same IEEE double arithmetic numpy does, so the keys are equal.
    """
    kx = min(max(math.floor((x + 180.0) * _FINE_SCALE), 0), _FINE_CELLS - 1)
    ky = min(max(math.floor((y + 90.0) * _FINE_SCALE), 0), _FINE_CELLS - 1)
    return _spread_int(kx) | (_spread_int(ky) << 1)


def _spread_int(value: int) -> int:
    return (
        _SPREAD_BYTE[value & 0xFF]
        | (_SPREAD_BYTE[(value >> 8) & 0xFF] << 16)
        | (_SPREAD_BYTE[(value >> 16) & 0xFF] << 32)
    )


def _ranges(starts: Ints, ends: Ints) -> Ints:
    """The concatenation of arange(s, e) for each pair, without a Python loop."""
    lengths = ends - starts
    total = int(lengths.sum())
    if total == 0:
        return np.empty(0, np.int64)
    keep = lengths > 0
    starts, lengths = starts[keep], lengths[keep]
    firsts = np.cumsum(lengths) - lengths
    return np.repeat(starts - firsts, lengths) + np.arange(total, dtype=np.int64)


@dataclass(frozen=True)
class PointHits:
    """Ids of the points a query found, with each point's area id (-1: in no area)."""

    ids: Ints
    areas: AreaIds


class PointIndex:
    """Points keyed by a non-negative integer id, each with a time and an area id."""

    def __init__(self) -> None:
        self._key: Keys = np.empty(0, np.uint64)
        self._x: Floats = np.empty(0, np.float64)
        self._y: Floats = np.empty(0, np.float64)
        self._id: Ints = np.empty(0, np.int64)
        # Time of each point (seconds since the epoch); -inf marks a tombstone.
        self._t: Floats = np.empty(0, np.float64)
        self._area: AreaIds = np.empty(0, np.int32)
        self._dx: Floats = np.empty(1024, np.float64)
        self._dy: Floats = np.empty(1024, np.float64)
        self._did: Ints = np.empty(1024, np.int64)
        self._dt: Floats = np.empty(1024, np.float64)
        self._darea: AreaIds = np.empty(1024, np.int32)
        self._dcount = 0
        # id → slot: s ≥ 0 is main slot s, -(d + 2) is delta slot d, -1 is absent.
        self._where: Ints = np.full(1024, _ABSENT, np.int64)
        self._live = 0
        self._tombstones = 0

    def __len__(self) -> int:
        return self._live

    def __contains__(self, point_id: int) -> bool:
        return 0 <= point_id < self._where.size and self._where[point_id] != _ABSENT

    # -- building and changing ------------------------------------------------------------------

    def load(self, ids: Ints, x: Floats, y: Floats, t: Floats, areas: AreaIds) -> None:
        """Replace everything with these points (ids unique and non-negative)."""
        ids = np.asarray(ids, np.int64)
        if ids.size and ids.min() < 0:
            raise ValueError("point ids are non-negative")
        self._dcount = 0
        self._build_main(
            ids,
            np.asarray(x, np.float64),
            np.asarray(y, np.float64),
            np.asarray(t, np.float64),
            np.asarray(areas, np.int32),
        )

    def upsert(self, point_id: int, x: float, y: float, t: float, area: int) -> None:
        """Add a point or move it; O(1) amortised."""
        if point_id < 0:
            raise ValueError("point ids are non-negative")
        self._grow_where(point_id)
        where = int(self._where[point_id])
        if where >= 0:
            if morton_key(x, y) == int(self._key[where]):
                # Same fine cell: the main arrays stay sorted, so change the slot in place.
                self._x[where], self._y[where] = x, y
                self._t[where], self._area[where] = t, area
                return
            self._t[where] = -math.inf
            self._tombstones += 1
            self._live -= 1
        elif where <= -2:
            slot = -where - 2
            self._dx[slot], self._dy[slot], self._dt[slot], self._darea[slot] = x, y, t, area
            return
        self._append_delta(point_id, x, y, t, area)
        self._live += 1
        if self._dcount > max(MIN_DELTA_MERGE, self._key.size // 16):
            self.merge()

    def remove(self, point_id: int) -> bool:
        if point_id not in self:
            return False
        where = int(self._where[point_id])
        if where >= 0:
            self._t[where] = -math.inf
            self._tombstones += 1
        else:
            slot = -where - 2
            last = self._dcount - 1
            if slot != last:
                moved = int(self._did[last])
                for array in (self._dx, self._dy, self._did, self._dt, self._darea):
                    array[slot] = array[last]
                self._where[moved] = -(slot + 2)
            self._dcount -= 1
        self._where[point_id] = _ABSENT
        self._live -= 1
        return True

    def set_areas(self, ids: Ints, areas: AreaIds) -> None:
        """Change the area id of existing points (after the areas were re-imported)."""
        for point_id, area in zip(ids.tolist(), areas.tolist(), strict=True):
            where = int(self._where[point_id]) if point_id in self else _ABSENT
            if where >= 0:
                self._area[where] = area
            elif where <= -2:
                self._darea[-where - 2] = area

    def merge(self) -> None:
        """Fold the delta into the sorted main arrays and drop tombstones."""
        ids, x, y, t, areas = self.points()
        self._dcount = 0
        self._build_main(ids, x, y, t, areas)

    def points(self) -> tuple[Ints, Floats, Floats, Floats, AreaIds]:
        """Every live point: ids, x, y, t, area ids (copies)."""
        alive = ~np.isneginf(self._t)
        d = self._dcount
        return (
            np.concatenate((self._id[alive], self._did[:d])),
            np.concatenate((self._x[alive], self._dx[:d])),
            np.concatenate((self._y[alive], self._dy[:d])),
            np.concatenate((self._t[alive], self._dt[:d])),
            np.concatenate((self._area[alive], self._darea[:d])),
        )

    def get(self, point_id: int) -> tuple[float, float, float, int] | None:
        """(x, y, t, area) of one point."""
        if point_id not in self:
            return None
        where = int(self._where[point_id])
        if where >= 0:
            return (
                float(self._x[where]),
                float(self._y[where]),
                float(self._t[where]),
                int(self._area[where]),
            )
        slot = -where - 2
        return (
            float(self._dx[slot]),
            float(self._dy[slot]),
            float(self._dt[slot]),
            int(self._darea[slot]),
        )

    def nbytes(self) -> int:
        arrays = (self._key, self._x, self._y, self._id, self._t, self._area)
        delta = (self._dx, self._dy, self._did, self._dt, self._darea)
        return sum(a.nbytes for a in (*arrays, *delta, self._where))

    # -- querying -------------------------------------------------------------------------------

    def query(self, geometry: Any, since: float = -math.inf) -> PointHits:
        """Points covered by `geometry` (inside or on its boundary) with t ≥ since."""
        if shapely.is_empty(geometry) or self._live == 0:
            return PointHits(np.empty(0, np.int64), np.empty(0, np.int32))
        shapely.prepare(geometry)
        # A tombstone's -inf must never pass, whatever `since` the caller gives.
        since = max(since, -sys.float_info.max)
        main_slots = self._query_main(geometry, since)
        delta_slots = self._query_delta(geometry, since)
        return PointHits(
            np.concatenate((self._id[main_slots], self._did[delta_slots])),
            np.concatenate((self._area[main_slots], self._darea[delta_slots])),
        )

    def _query_main(self, geometry: Any, since: float) -> Ints:
        if self._key.size == 0:
            return np.empty(0, np.int64)
        minx, miny, maxx, maxy = (float(v) for v in shapely.bounds(geometry))
        span = max(maxx - minx, maxy - miny, 1e-9)
        level = int(np.clip(math.floor(math.log2(QUERY_GRID * 360.0 / span)), 0, FINE_BITS))
        shift = FINE_BITS - level
        cx0, cx1 = (int(v) >> shift for v in _fine(np.array([minx, maxx]), 180.0))
        cy0, cy1 = (int(v) >> shift for v in _fine(np.array([miny, maxy]), 90.0))
        nx, ny = cx1 - cx0 + 1, cy1 - cy0 + 1
        near = self._near_boundary(geometry, level, cx0, cy0, nx, ny)
        inside = self._inside_cells(geometry, level, cx0, cy0, near)
        wanted = np.flatnonzero((inside | near).ravel())
        # A cell at `level` is the fine-key range [code << 2·shift, (code + 1) << 2·shift).
        code = _spread(cx0 + wanted % nx) | (_spread(cy0 + wanted // nx) << np.uint64(1))
        starts = np.searchsorted(self._key, code << np.uint64(2 * shift)).astype(np.int64)
        ends = np.searchsorted(self._key, (code + np.uint64(1)) << np.uint64(2 * shift))
        ends = ends.astype(np.int64)
        is_near = near.ravel()[wanted]
        whole = _ranges(starts[~is_near], ends[~is_near])
        whole = whole[self._t[whole] >= since]
        edge = _ranges(starts[is_near], ends[is_near])
        edge = edge[self._t[edge] >= since]
        edge = edge[shapely.intersects_xy(geometry, self._x[edge], self._y[edge])]
        return np.concatenate((whole, edge))

    def _near_boundary(
        self, geometry: Any, level: int, cx0: int, cy0: int, nx: int, ny: int
    ) -> npt.NDArray[np.bool_]:
        """Cells the geometry's boundary (every ring, holes included) passes through.

        Cells are found with the same formula as the points' keys, from each boundary piece's
        bounding box widened by EDGE_EPSILON (which covers the rounding of segmentize's new
        vertices). A cell left unmarked holds no boundary point, so its points are all inside
        or all outside.
        """
        shift = FINE_BITS - level
        width = 360.0 / (1 << level)
        near = np.zeros((ny, nx), dtype=bool)
        # Pieces no longer than half a cell span at most two cells on each axis (three with the
        # epsilon), so a 3-by-3 stamp from the lower corner covers each piece's cells.
        rings = shapely.segmentize(shapely.get_rings(_polygons(geometry)), width / 2.0)
        for ring in rings:
            coords = shapely.get_coordinates(ring)
            x0, x1 = coords[:-1, 0], coords[1:, 0]
            y0, y1 = coords[:-1, 1], coords[1:, 1]
            low_x = (_fine(np.minimum(x0, x1) - EDGE_EPSILON, 180.0) >> shift) - cx0
            high_x = (_fine(np.maximum(x0, x1) + EDGE_EPSILON, 180.0) >> shift) - cx0
            low_y = (_fine(np.minimum(y0, y1) - EDGE_EPSILON, 90.0) >> shift) - cy0
            high_y = (_fine(np.maximum(y0, y1) + EDGE_EPSILON, 90.0) >> shift) - cy0
            for dx in range(3):
                for dy in range(3):
                    px, py = low_x + dx, low_y + dy
                    keep = (px <= high_x) & (py <= high_y)
                    keep &= (px >= 0) & (px < nx) & (py >= 0) & (py < ny)
                    near[py[keep], px[keep]] = True
        return near

    def _inside_cells(
        self, geometry: Any, level: int, cx0: int, cy0: int, near: npt.NDArray[np.bool_]
    ) -> npt.NDArray[np.bool_]:
        """Which cells away from the boundary lie inside: one centre test per run of them.

        Along a row, consecutive unmarked cells are joined without crossing the boundary, so
        they share one answer; the first cell of each run is tested for all of them.
        """
        ny, nx = near.shape
        width = 360.0 / (1 << level)
        flat = near.ravel()
        starts = np.ones(flat.size, dtype=bool)
        starts[1:] = flat[1:] != flat[:-1]
        # Every row begins a run (the edge columns are outside anyway; this keeps it obvious).
        starts[::nx] = True
        run_id = np.cumsum(starts) - 1
        firsts = np.flatnonzero(starts)
        tested = firsts[~flat[firsts]]
        answer = np.zeros(firsts.size, dtype=bool)
        centre_x = (cx0 + tested % nx + 0.5) * width - 180.0
        centre_y = (cy0 + tested // nx + 0.5) * width - 90.0
        answer[run_id[tested]] = shapely.intersects_xy(geometry, centre_x, centre_y)
        inside: npt.NDArray[np.bool_] = (answer[run_id] & ~flat).reshape(ny, nx)
        return inside

    def _query_delta(self, geometry: Any, since: float) -> Ints:
        d = self._dcount
        if d == 0:
            return np.empty(0, np.int64)
        minx, miny, maxx, maxy = shapely.bounds(geometry)
        x, y = self._dx[:d], self._dy[:d]
        mask = (x >= minx) & (x <= maxx) & (y >= miny) & (y <= maxy) & (self._dt[:d] >= since)
        slots: Ints = np.flatnonzero(mask)
        found: Ints = slots[shapely.intersects_xy(geometry, x[slots], y[slots])]
        return found

    # -- internals ------------------------------------------------------------------------------

    def _build_main(self, ids: Ints, x: Floats, y: Floats, t: Floats, areas: AreaIds) -> None:
        keys = morton_keys(x, y)
        order = np.argsort(keys, kind="stable")
        self._key, self._x, self._y = keys[order], x[order], y[order]
        self._id, self._t, self._area = ids[order], t[order], areas[order]
        size = int(ids.max()) + 1 if ids.size else 0
        self._where = np.full(max(1024, size), _ABSENT, np.int64)
        self._where[self._id] = np.arange(self._id.size, dtype=np.int64)
        # A repeated id would leave fewer slots than points (cheaper than np.unique).
        if np.count_nonzero(self._where != _ABSENT) != ids.size:
            raise ValueError("point ids must be unique")
        self._live = int(ids.size)
        self._tombstones = 0

    def _append_delta(self, point_id: int, x: float, y: float, t: float, area: int) -> None:
        if self._dcount == self._dx.size:
            grown = self._dx.size * 2
            self._dx = np.resize(self._dx, grown)
            self._dy = np.resize(self._dy, grown)
            self._did = np.resize(self._did, grown)
            self._dt = np.resize(self._dt, grown)
            self._darea = np.resize(self._darea, grown)
        slot = self._dcount
        self._dx[slot], self._dy[slot], self._did[slot] = x, y, point_id
        self._dt[slot], self._darea[slot] = t, area
        self._where[point_id] = -(slot + 2)
        self._dcount += 1

    def _grow_where(self, point_id: int) -> None:
        if point_id >= self._where.size:
            grown = np.full(max(point_id + 1, self._where.size * 2), _ABSENT, np.int64)
            grown[: self._where.size] = self._where
            self._where = grown


def _polygons(geometry: Any) -> Any:
    """The polygonal parts of a geometry as an array (for their rings)."""
    parts = shapely.get_parts(geometry)
    return parts[shapely.get_type_id(parts) == 3]


@dataclass(frozen=True)
class AreaHits:
    """Areas a polygon reaches: `overlapping` share interior with it, `covered` lie inside it."""

    overlapping: tuple[int, ...]
    covered: frozenset[int]


class AreaCatalog:
    """Every area with its geometry, its place in the hierarchy and an STRtree over them."""

    def __init__(self, areas: Sequence[Area], geometries: Sequence[Any]) -> None:
        if len(areas) != len(geometries):
            raise ValueError("one geometry per area")
        self.areas: dict[int, Area] = {area.id: area for area in areas}
        self.by_code: dict[str, Area] = {area.code: area for area in areas}
        self._ids = np.array([area.id for area in areas], dtype=np.int64)
        self._geometries = np.array(geometries, dtype=object)
        self.geometry: dict[int, Any] = dict(zip(self._ids.tolist(), geometries, strict=True))
        self.ancestors: dict[int, tuple[int, ...]] = {area.id: self._chain(area) for area in areas}
        self._depth = np.array([len(self.ancestors[i]) for i in self._ids.tolist()], np.int64)
        self.children: dict[int, list[int]] = {}
        for area in areas:
            if area.parent_id is not None:
                self.children.setdefault(area.parent_id, []).append(area.id)
        shapely.prepare(self._geometries)
        self._tree = shapely.STRtree(self._geometries)
        self._bounds = shapely.bounds(self._geometries).reshape(-1, 4)

    @classmethod
    def empty(cls) -> AreaCatalog:
        return cls([], [])

    def __len__(self) -> int:
        return len(self.areas)

    def _chain(self, area: Area) -> tuple[int, ...]:
        chain: list[int] = []
        parent = area.parent_id
        while parent is not None and parent in self.areas and parent not in chain:
            chain.append(parent)
            parent = self.areas[parent].parent_id
        return tuple(chain)

    def descendants(self, area_id: int) -> list[int]:
        found: list[int] = []
        pending = list(self.children.get(area_id, ()))
        while pending:
            child = pending.pop()
            found.append(child)
            pending.extend(self.children.get(child, ()))
        return found

    def topics(self) -> Mapping[int, str]:
        return {area_id: area.topic for area_id, area in self.areas.items()}

    def locate(self, x: float, y: float) -> int:
        """The deepest area covering the point (ties: the lowest id), or -1."""
        # One point, once per registration or location update: a bounding-box test over the
        # areas' bounds in numpy, then intersects_xy on the few candidates; no Point object.
        b = self._bounds
        candidates = np.flatnonzero(
            (b[:, 0] <= x) & (b[:, 2] >= x) & (b[:, 1] <= y) & (b[:, 3] >= y)
        )
        if candidates.size == 0:
            return -1
        inside = candidates[shapely.intersects_xy(self._geometries[candidates], x, y)]
        if inside.size == 0:
            return -1
        best = min(inside.tolist(), key=lambda i: (-self._depth[i], self._ids[i]))
        return int(self._ids[best])

    def locate_many(self, x: Floats, y: Floats) -> AreaIds:
        result = np.full(x.size, -1, np.int32)
        if not self.areas or x.size == 0:
            return result
        points, tree_index = self._tree.query(shapely.points(x, y), predicate="intersects")
        if points.size == 0:
            return result
        # Order candidates by point, then deepest first, then lowest id; take each point's first.
        order = np.lexsort((self._ids[tree_index], -self._depth[tree_index], points))
        points, tree_index = points[order], tree_index[order]
        first = np.ones(points.size, dtype=bool)
        first[1:] = points[1:] != points[:-1]
        result[points[first]] = self._ids[tree_index[first]]
        return result

    def hits(self, geometry: Any) -> AreaHits:
        """Areas sharing interior with the polygon (touching only at an edge does not count)."""
        if not self.areas:
            return AreaHits((), frozenset())
        candidates = self._tree.query(geometry, predicate="intersects")
        geometries = self._geometries[candidates]
        shapely.prepare(geometry)
        overlapping = ~shapely.touches(geometries, geometry)
        covered = shapely.covers(geometry, geometries) & overlapping
        ids = self._ids[candidates]
        order = np.argsort(ids[overlapping])
        return AreaHits(
            overlapping=tuple(ids[overlapping][order].tolist()),
            covered=frozenset(ids[covered].tolist()),
        )

    def codes(self, area_ids: Iterable[int]) -> list[str]:
        return [self.areas[area_id].code for area_id in area_ids]
