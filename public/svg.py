"""The pictures we draw ourselves (no tile server, no script): the ward map and the 24 h charts.

Pure: geometry in, numbers and path strings out; the templates write the SVG elements, so
every name in them is escaped like the rest of the page.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import shapely

from feeds.models import Thresholds
from public.ports import PublicWard, Ring

MAP_WIDTH = 640
CHART_WIDTH, CHART_HEIGHT = 640, 260
_PAD = 6.0


@dataclass(frozen=True)
class Shape:
    code: str
    name: str
    path: str  # SVG path data, in the map's pixels
    shade: str  # CSS class: "none" or a severity


@dataclass(frozen=True)
class MapView:
    width: int
    height: int
    shapes: tuple[Shape, ...]
    extra: tuple[str, ...] = ()  # outlines drawn over the wards (a warning's own polygon)


class Projection:
    """Equirectangular, scaled by cos(latitude) at the middle: right for a province."""

    def __init__(self, rings: Iterable[Ring], width: int = MAP_WIDTH) -> None:
        lons = [lon for ring in rings for lon, _ in ring]
        lats = [lat for ring in rings for _, lat in ring]
        self.west, self.east = min(lons, default=0.0), max(lons, default=1.0)
        self.south, self.north = min(lats, default=0.0), max(lats, default=1.0)
        self.aspect = math.cos(math.radians((self.north + self.south) / 2))
        span_x = max((self.east - self.west) * self.aspect, 1e-9)
        span_y = max(self.north - self.south, 1e-9)
        self.scale = (width - 2 * _PAD) / span_x
        self.width = width
        self.height = round(span_y * self.scale + 2 * _PAD)

    def point(self, lon: float, lat: float) -> tuple[float, float]:
        return (
            _PAD + (lon - self.west) * self.aspect * self.scale,
            _PAD + (self.north - lat) * self.scale,
        )

    def path(self, rings: Iterable[Ring], tolerance: float = 0.6) -> str:
        """Path data for rings, simplified to `tolerance` pixels (nobody sees finer)."""
        parts: list[str] = []
        for ring in rings:
            projected = [self.point(lon, lat) for lon, lat in ring]
            if len(projected) >= 4:
                line = shapely.simplify(shapely.linearrings(projected), tolerance)
                projected = [tuple(p) for p in shapely.get_coordinates(line).tolist()]
            if len(projected) < 3:
                continue
            head, *rest = projected
            parts.append(
                f"M{head[0]:.1f} {head[1]:.1f}"
                + "".join(f"L{x:.1f} {y:.1f}" for x, y in rest[:-1])
                + "Z"
            )
        return "".join(parts)


def ward_map(
    wards: Sequence[PublicWard],
    shades: Mapping[str, str],
    extra: Sequence[Ring] = (),
) -> MapView:
    """Every ward (leaves only: a city is drawn by its wards), shaded by `shades[code]`."""
    leaves = [w for w in wards if w.leaf]
    projection = Projection([ring for w in leaves for ring in w.outline] or list(extra))
    shapes = tuple(
        Shape(w.code, w.name, projection.path(w.outline), shades.get(w.code, "none"))
        for w in leaves
    )
    drawn = tuple(p for p in (projection.path([ring]) for ring in extra) if p)
    return MapView(projection.width, projection.height, shapes, drawn)


@dataclass(frozen=True)
class Line:
    y: float
    label: str
    band: int


@dataclass(frozen=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True)
class ChartView:
    width: int
    height: int
    points: str  # polyline "x,y x,y ..."
    lines: tuple[Line, ...]
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    left: float
    bottom: float


def level_chart(
    points: Sequence[tuple[datetime, float]],
    thresholds: Thresholds | None,
    end: datetime,
    hour_label: Callable[[datetime], str],
    number_label: Callable[[float], str],
    band_labels: Sequence[str] = ("BĐ I", "BĐ II", "BĐ III", "lũ lịch sử"),
) -> ChartView:
    """The last 24 h of levels to `end`, with each báo động line in view."""
    start = end - timedelta(hours=24)
    left, right, top, bottom = 48.0, CHART_WIDTH - 8.0, 10.0, CHART_HEIGHT - 26.0
    values = [v for _, v in points]
    edges = list(thresholds.levels()) if thresholds is not None else []
    shown = values + edges[:3]
    low = min(shown, default=0.0)
    high = max(shown, default=1.0)
    if high - low < 0.5:
        high = low + 0.5
    margin = (high - low) * 0.08
    low, high = low - margin, high + margin

    def x(at: datetime) -> float:
        return left + (right - left) * (at - start).total_seconds() / 86400

    def y(value: float) -> float:
        return bottom - (bottom - top) * (value - low) / (high - low)

    polyline = " ".join(f"{x(at):.1f},{y(v):.1f}" for at, v in points if start <= at <= end)
    lines = tuple(
        Line(round(y(level), 1), f"{band_labels[i]} {number_label(level)} m", i + 1)
        for i, level in enumerate(edges)
        if low <= level <= high
    )
    first = start.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    x_ticks = tuple(
        Tick(round(x(first + timedelta(hours=h)), 1), hour_label(first + timedelta(hours=h)))
        for h in range(0, 24, 6)
    )
    step = _nice_step((high - low) / 5)
    y_ticks = tuple(
        Tick(round(y(v), 1), number_label(v))
        for v in (step * k for k in range(math.ceil(low / step), math.floor(high / step) + 1))
    )
    return ChartView(CHART_WIDTH, CHART_HEIGHT, polyline, lines, x_ticks, y_ticks, left, bottom)


RAIN_HEIGHT = 150


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  # the hour and its amount, for a <title> a screen reader or a finger can read


@dataclass(frozen=True)
class RainChartView:
    width: int
    height: int
    bars: tuple[Bar, ...]
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    left: float
    bottom: float


def rain_chart(
    hourly: Sequence[tuple[datetime, float]],
    hour_label: Callable[[datetime], str],
    number_label: Callable[[float], str],
) -> RainChartView:
    """One bar per hour (each hour's end and its millimetres), oldest at the left."""
    left, right, top, bottom = 48.0, CHART_WIDTH - 8.0, 10.0, RAIN_HEIGHT - 26.0
    high = max((mm for _, mm in hourly), default=0.0)
    step = _nice_step(max(high, 5.0) / 4)
    high = step * math.ceil(max(high, 5.0) / step)
    slot = (right - left) / max(len(hourly), 1)

    def y(value: float) -> float:
        return bottom - (bottom - top) * value / high

    bars = tuple(
        Bar(
            round(left + i * slot + 1, 1),
            round(y(mm), 1),
            round(slot - 2, 1),
            round(bottom - y(mm), 1),
            f"{hour_label(end)}: {number_label(mm)} mm",
        )
        for i, (end, mm) in enumerate(hourly)
    )
    x_ticks = tuple(
        Tick(round(left + (i + 1) * slot, 1), hour_label(end))
        for i, (end, _) in enumerate(hourly)
        if i % 6 == 5
    )
    y_ticks = tuple(
        Tick(round(y(v), 1), number_label(v))
        for v in (step * k for k in range(round(high / step) + 1))
    )
    return RainChartView(CHART_WIDTH, RAIN_HEIGHT, bars, x_ticks, y_ticks, left, bottom)


def _nice_step(raw: float) -> float:
    power = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    for factor in (1, 2, 5, 10):
        if raw <= factor * power:
            return float(factor * power)
    return float(10 * power)
