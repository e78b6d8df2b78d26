"""A CAP outline: a polygon of at most N points that covers an area (CAP carries no holes)."""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely

from geofences.errors import InvalidGeometry
from geofences.geometry import num_points, polygons_of

# Outline coordinates are rounded to 6 decimals (≈ 0.1 m), the precision CAP polygons carry.
OUTLINE_DECIMALS = 6


def make_outline(geometry: Any, max_points: int) -> Any:
    """A polygon of at most `max_points` points (all parts together) that covers `geometry`.

    Holes are dropped (CAP polygons have none; dropping one only makes the outline larger),
    the shells are grown by 1.5 times the tolerance and simplified by the tolerance, so the
    simplified edge never comes back inside the original; the loop grows the tolerance until
    the outline is small enough, and checks containment rather than trusting the argument.
    """
    shells = [shapely.Polygon(part.exterior) for part in polygons_of(geometry)]
    if not shells:
        raise InvalidGeometry("no polygon to outline")
    shape = shells[0] if len(shells) == 1 else shapely.union_all(shells)
    minx, miny, maxx, maxy = shapely.bounds(geometry)
    # Start just above the rounding step so the margin always outweighs the rounding.
    tolerance = max(max(maxx - minx, maxy - miny) / 5000.0, 10.0**-OUTLINE_DECIMALS * 4)
    for _ in range(80):
        grown = shapely.buffer(shape, tolerance * 1.5, quad_segs=2)
        candidate = _without_holes(shapely.simplify(grown, tolerance, preserve_topology=True))
        candidate = shapely.transform(candidate, lambda xy: np.round(xy, OUTLINE_DECIMALS))
        if (
            num_points(candidate) <= max_points
            and shapely.is_valid(candidate)
            and shapely.covers(candidate, geometry)
        ):
            return candidate
        tolerance *= 1.35
    raise InvalidGeometry(
        f"cannot outline the area in {max_points} points"
    )  # pragma: no cover  # the tolerance grows until one convex blob remains, which always fits


def _without_holes(geometry: Any) -> Any:
    shells = [shapely.Polygon(part.exterior) for part in polygons_of(geometry)]
    return shells[0] if len(shells) == 1 else shapely.MultiPolygon(shells)
