"""Where cameras are: within a CAP polygon, near a point (pure)."""

from __future__ import annotations

import math

import shapely

from cameras.errors import CameraError

EARTH_RADIUS_M = 6_371_008.8
MAX_POLYGON_POINTS = 1000


class PlaceInvalid(CameraError):
    """A polygon or point from a query that cannot be used; says why."""


def parse_point(text: str) -> tuple[float, float]:
    """ "lat,lon" → (lat, lon)."""
    parts = text.split(",")
    if len(parts) != 2:
        raise PlaceInvalid("a point is lat,lon")
    lat, lon = (_number(part) for part in parts)
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise PlaceInvalid("lat from -90 to 90, lon from -180 to 180")
    return lat, lon


def parse_polygon(text: str) -> shapely.Polygon:
    """A CAP polygon ("lat,lon lat,lon ...", closed, at least 4 pairs) as a lon/lat Polygon."""
    pairs = text.split()
    if not 4 <= len(pairs) <= MAX_POLYGON_POINTS:
        raise PlaceInvalid(f"a polygon has 4 to {MAX_POLYGON_POINTS} lat,lon pairs")
    points = [parse_point(pair) for pair in pairs]
    if points[0] != points[-1]:
        raise PlaceInvalid("a polygon ends where it starts")
    polygon = shapely.Polygon([(lon, lat) for lat, lon in points])
    if not polygon.is_valid or polygon.area == 0:
        raise PlaceInvalid("the polygon crosses itself or has no area")
    return polygon


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise PlaceInvalid(f"not a number: {text[:40]!r}") from None
    if not math.isfinite(value):
        raise PlaceInvalid("coordinates must be finite")
    return value
