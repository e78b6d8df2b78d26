"""GeoJSON area import: parse, validate (or repair on request), and outline for CAP.

Nothing here touches the database: `prepare_import` turns a document into checked drafts, or
raises InvalidGeometry with the reason and the feature it is about.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely

from geofences.errors import ImportTooLarge, InvalidGeometry
from geofences.geometry import area_km2, count_crossings, num_points, polygonal
from geofences.outline import OUTLINE_DECIMALS, make_outline

# Re-exported: other modules (and domains) take them from here.
__all__ = ["OUTLINE_DECIMALS", "count_crossings", "make_outline"]
from geofences.models import check_code, slugify

# Administrative prefixes dropped from a parent's code: "TP Huế" → "hue", "Thủ đô Hà Nội" →
# "ha-noi", "tỉnh Quảng Trị" → "quang-tri"; the name keeps them. Matched on the slug.
_PARENT_PREFIXES = ("thanh pho ", "thu do ", "tp ", "tinh ")


@dataclass(frozen=True)
class ImportOptions:
    """How to read one document; property names refer to each feature's `properties`."""

    name_property: str | None = None
    code_property: str | None = None
    population_property: str | None = None
    # Group features under parent areas named by this property (e.g. the province), created as
    # the union of their children.
    parent_property: str | None = None
    # An existing area every top-level imported area goes under.
    parent_code: str | None = None
    # For a bare geometry or a single feature without properties.
    name: str | None = None
    code: str | None = None
    repair: bool = False
    max_vertices: int = 500_000
    outline_max_points: int = 250
    # A repair is refused past this many crossing edges in one feature (see count_crossings).
    max_repair_crossings: int = 5_000


@dataclass(frozen=True)
class Repair:
    """What make_valid changed in one feature, for the operator to read."""

    feature: int
    name: str
    reason: str
    area_km2_before: float
    area_km2_after: float
    vertices_before: int
    vertices_after: int
    type_before: str
    type_after: str

    def describe(self) -> str:
        return (
            f"feature {self.feature} ({self.name}): {self.reason}; repaired with make_valid:"
            f" {self.type_before} → {self.type_after}, vertices {self.vertices_before} →"
            f" {self.vertices_after}, area {self.area_km2_before:.3f} → {self.area_km2_after:.3f}"
            " km²"
        )


@dataclass(frozen=True, eq=False)
class AreaDraft:
    """One area ready to store: its geometry as imported (or repaired) and its CAP outline."""

    code: str
    name: str
    parent_code: str | None
    population: int | None
    geometry: Any
    outline: Any
    vertices: int


@dataclass(frozen=True, eq=False)
class ImportPlan:
    """Parents first, then children, so each parent exists before its children refer to it."""

    areas: tuple[AreaDraft, ...]
    repairs: tuple[Repair, ...] = field(default=())
    # Things read in a way the operator should know about (e.g. a population of "unknown").
    notes: tuple[str, ...] = field(default=())

    def report(self) -> dict[str, Any]:
        return {
            "areas": len(self.areas),
            "vertices": sum(area.vertices for area in self.areas),
            "repairs": [repair.describe() for repair in self.repairs],
            "notes": list(self.notes),
        }


def read_document(raw: bytes, max_bytes: int) -> Any:
    """Parse GeoJSON bytes; refuse oversize input before parsing and NaN/Infinity tokens."""
    if len(raw) > max_bytes:
        raise ImportTooLarge(
            f"the document is {len(raw):,} bytes, over the {max_bytes:,}-byte limit"
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InvalidGeometry(f"not UTF-8 text: {err}") from None
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as err:
        raise InvalidGeometry(f"not valid JSON: {err}") from None
    except RecursionError:
        raise InvalidGeometry(_TOO_DEEP) from None


_TOO_DEEP = "the document is nested too deeply to be GeoJSON"


def _refuse_constant(token: str) -> Any:
    # json.loads would otherwise turn these into floats no GIS tool accepts.
    raise InvalidGeometry(f"{token} is not a coordinate (JSON has no {token})")


def prepare_import(document: Any, options: ImportOptions) -> ImportPlan:
    """Check every feature, repair (only if asked) and outline it; parents are derived last."""
    features = list(_features(document))
    if not features:
        raise InvalidGeometry("the document holds no features")
    total = 0
    for index, (geometry, _) in enumerate(features):
        total += _count_positions(geometry, index)
        if total > options.max_vertices:
            raise ImportTooLarge(
                f"more than {options.max_vertices:,} vertices in one import"
                " (split the file or simplify it first)"
            )
    drafts: list[AreaDraft] = []
    repairs: list[Repair] = []
    notes: list[str] = []
    groups: dict[str, list[AreaDraft]] = {}
    labels = [_label(properties, options, index) for index, (_, properties) in enumerate(features)]
    codes = _unique_codes(labels, options, notes)
    for index, (raw_geometry, properties) in enumerate(features):
        name, parent_name, parent_code, _ = labels[index]
        code = codes[index]
        population, note = _population(properties, options, index, name)
        if note:
            notes.append(note)
        geometry = _build(raw_geometry, index, name)
        geometry, repair = _validate(
            geometry, index, name, options.repair, options.max_repair_crossings
        )
        if repair is not None:
            repairs.append(repair)
        draft = AreaDraft(
            code=code,
            name=name,
            parent_code=parent_code,
            population=population,
            geometry=geometry,
            outline=make_outline(geometry, options.outline_max_points),
            vertices=num_points(geometry),
        )
        drafts.append(draft)
        if parent_name:
            groups.setdefault(parent_name, []).append(draft)
    parents = [_parent(parent_name, children, options) for parent_name, children in groups.items()]
    for parent in parents:
        if parent.code in codes:
            raise InvalidGeometry(f"parent code {parent.code!r} is also a feature's code")
    return ImportPlan(areas=(*parents, *drafts), repairs=tuple(repairs), notes=tuple(notes))


Label = tuple[str, str | None, str | None, str]  # name, parent name, parent code, code


def _label(properties: Mapping[str, Any], options: ImportOptions, index: int) -> Label:
    name = _name(properties, options, index)
    parent_name = _parent_name(properties, options, index, name)
    parent_code = _parent_code(parent_name) if parent_name else options.parent_code
    code = _code(properties, options, index, name, parent_code)
    return name, parent_name, parent_code, code


def _unique_codes(labels: list[Label], options: ImportOptions, notes: list[str]) -> list[str]:
    """Each feature's code; names that differ only in tone marks get a suffix from their hash.

    "Thanh An" and "Thạnh An" are two wards of Hồ Chí Minh City with the same ASCII slug. Both
    get a suffix (not just the second), so the codes do not depend on the order of the file.
    """
    by_code: dict[str, list[int]] = {}
    for index, (_, _, _, code) in enumerate(labels):
        by_code.setdefault(code, []).append(index)
    codes = [code for _, _, _, code in labels]
    for code, indexes in by_code.items():
        if len(indexes) == 1:
            continue
        names = {labels[i][0] for i in indexes}
        if len(names) < len(indexes) or options.code_property is not None:
            first, second = indexes[:2]
            raise InvalidGeometry(
                f"code {code!r} is also the code of feature {first}",
                feature=second,
                name=labels[second][0],
            )
        for i in indexes:
            digest = hashlib.sha256(labels[i][0].encode()).hexdigest()[:4]
            codes[i] = f"{code}-{digest}"
            notes.append(
                f"feature {i} ({labels[i][0]}): code {codes[i]} (its slug {code} is shared)"
            )
    return codes


def _features(document: Any) -> Iterator[tuple[Any, Mapping[str, Any]]]:
    if not isinstance(document, dict):
        raise InvalidGeometry("a GeoJSON object is required")
    kind = document.get("type")
    if kind == "FeatureCollection":
        features = document.get("features")
        if not isinstance(features, list):
            raise InvalidGeometry("a FeatureCollection needs a list of features")
        for index, feature in enumerate(features):
            yield _feature(feature, index)
    elif kind == "Feature":
        yield _feature(document, 0)
    elif kind in ("Polygon", "MultiPolygon"):
        yield document, {}
    else:
        raise InvalidGeometry(
            f"unsupported GeoJSON type {kind!r}: a FeatureCollection, Feature, Polygon or"
            " MultiPolygon is required"
        )


def _feature(feature: Any, index: int) -> tuple[Any, Mapping[str, Any]]:
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise InvalidGeometry("not a GeoJSON Feature", feature=index)
    properties = feature.get("properties") or {}
    if not isinstance(properties, dict):
        raise InvalidGeometry("properties must be an object", feature=index)
    geometry = feature.get("geometry")
    if not isinstance(geometry, dict) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        kind = geometry.get("type") if isinstance(geometry, dict) else geometry
        raise InvalidGeometry(f"geometry {kind!r} is not a Polygon or MultiPolygon", feature=index)
    return geometry, properties


def _polygons(geometry: Mapping[str, Any], index: int) -> list[Any]:
    coordinates = geometry.get("coordinates")
    if geometry["type"] == "Polygon":
        coordinates = [coordinates]
    if not isinstance(coordinates, list) or not coordinates:
        raise InvalidGeometry("coordinates must be a non-empty list", feature=index)
    for polygon in coordinates:
        if not isinstance(polygon, list) or not polygon:
            raise InvalidGeometry("a polygon must be a non-empty list of rings", feature=index)
        for ring in polygon:
            if not isinstance(ring, list):
                raise InvalidGeometry("a ring must be a list of positions", feature=index)
    return coordinates


def _count_positions(geometry: Mapping[str, Any], index: int) -> int:
    return sum(len(ring) for polygon in _polygons(geometry, index) for ring in polygon)


def _ring(ring: list[Any], index: int, name: str, where: str) -> np.ndarray[Any, Any]:
    if len(ring) < 4:
        raise InvalidGeometry(
            f"{where} has {len(ring)} positions; a ring needs at least 4", feature=index, name=name
        )
    for position in ring:
        if (
            not isinstance(position, list)
            or not 2 <= len(position) <= 3
            or not all(type(value) in (int, float) for value in position)
        ):
            raise InvalidGeometry(
                f"{where}: position {_short(position)} is not [longitude, latitude]",
                feature=index,
                name=name,
            )
    coords = np.array([position[:2] for position in ring], dtype=np.float64)
    finite = np.isfinite(coords).all(axis=1)
    if not finite.all():
        bad = ring[int(np.flatnonzero(~finite)[0])]
        raise InvalidGeometry(
            f"{where}: position {_short(bad)} is not a finite number", feature=index, name=name
        )
    out = (np.abs(coords[:, 0]) > 180.0) | (np.abs(coords[:, 1]) > 90.0)
    if out.any():
        bad = ring[int(np.flatnonzero(out)[0])]
        raise InvalidGeometry(
            f"{where}: position {_short(bad)} is out of range (longitude within ±180,"
            " latitude within ±90, in that order)",
            feature=index,
            name=name,
        )
    if not np.array_equal(coords[0], coords[-1]):
        raise InvalidGeometry(
            f"{where} is not closed: it starts at {_short(ring[0])} and ends at {_short(ring[-1])}",
            feature=index,
            name=name,
        )
    return coords


def _build(geometry: Mapping[str, Any], index: int, name: str) -> Any:
    polygons = []
    for p, rings in enumerate(_polygons(geometry, index)):
        prefix = f"polygon {p} " if geometry["type"] == "MultiPolygon" else ""
        shell = _ring(rings[0], index, name, f"{prefix}outer ring")
        holes = [
            _ring(ring, index, name, f"{prefix}hole {h}") for h, ring in enumerate(rings[1:], 1)
        ]
        polygons.append(shapely.Polygon(shell, holes))
    return polygons[0] if geometry["type"] == "Polygon" else shapely.MultiPolygon(polygons)


def _validate(
    geometry: Any, index: int, name: str, repair: bool, max_crossings: int = 0
) -> tuple[Any, Repair | None]:
    reason = shapely.is_valid_reason(geometry)
    if reason == "Valid Geometry":
        return geometry, None
    if not repair:
        raise InvalidGeometry(
            f"invalid geometry: {reason}; fix it, or import again with --repair (API:"
            " repair=true) to apply make_valid and see what it changes",
            feature=index,
            name=name,
        )
    crossings = count_crossings(geometry, max_crossings)
    if crossings > max_crossings:
        raise InvalidGeometry(
            f"invalid geometry: {reason}; too tangled to repair here: its edges cross more"
            f" than {max_crossings:,} times (geofences.max_repair_crossings), and the cost of"
            " make_valid grows with the crossings; fix the boundary in a GIS tool",
            feature=index,
            name=name,
        )
    fixed = polygonal(shapely.make_valid(geometry, method="structure", keep_collapsed=False))
    if shapely.is_empty(fixed):
        raise InvalidGeometry(
            f"invalid geometry: {reason}; make_valid leaves no area", feature=index, name=name
        )
    return fixed, Repair(
        feature=index,
        name=name,
        reason=reason,
        area_km2_before=area_km2(geometry),
        area_km2_after=area_km2(fixed),
        vertices_before=num_points(geometry),
        vertices_after=num_points(fixed),
        type_before=(shapely.get_type_id(geometry) == 3 and "Polygon") or "MultiPolygon",
        type_after=(shapely.get_type_id(fixed) == 3 and "Polygon") or "MultiPolygon",
    )


def _name(properties: Mapping[str, Any], options: ImportOptions, index: int) -> str:
    if options.name_property is None:
        if options.name:
            return options.name
        raise InvalidGeometry("no name: choose the name property", feature=index)
    value = properties.get(options.name_property)
    if not isinstance(value, str) or not value.strip():
        available = ", ".join(sorted(properties)) or "none"
        raise InvalidGeometry(
            f"property {options.name_property!r} is missing or empty (properties: {available})",
            feature=index,
        )
    return value.strip()


def _parent_name(
    properties: Mapping[str, Any], options: ImportOptions, index: int, name: str
) -> str | None:
    if options.parent_property is None:
        return None
    value = properties.get(options.parent_property)
    if not isinstance(value, str) or not value.strip():
        raise InvalidGeometry(
            f"parent property {options.parent_property!r} is missing", feature=index, name=name
        )
    return value.strip()


def _parent_code(parent_name: str) -> str:
    slug = slugify(parent_name).replace("-", " ") + " "
    for prefix in _PARENT_PREFIXES:
        if slug.startswith(prefix):
            slug = slug[len(prefix) :]
            break
    return check_code(slug.strip().replace(" ", "-"))


def _code(
    properties: Mapping[str, Any],
    options: ImportOptions,
    index: int,
    name: str,
    parent_code: str | None,
) -> str:
    if options.code_property is not None:
        raw = properties.get(options.code_property)
        if not isinstance(raw, str | int) or isinstance(raw, bool):
            raise InvalidGeometry(
                f"code property {options.code_property!r} is missing", feature=index, name=name
            )
        base = slugify(str(raw))
    elif options.code is not None:
        base = options.code
    else:
        base = slugify(name)
    try:
        return check_code(f"{parent_code}.{base}" if parent_code else base)
    except ValueError as err:
        raise InvalidGeometry(str(err), feature=index, name=name) from None


def _population(
    properties: Mapping[str, Any], options: ImportOptions, index: int, name: str
) -> tuple[int | None, str | None]:
    """The population, and a note when the value is text that says it is unknown."""
    if options.population_property is None:
        return None, None
    value = properties.get(options.population_property)
    if value is None:
        return None, None
    if isinstance(value, str):
        # Real files write "30,509" for some wards and "đang cập nhật" (being updated) for others.
        digits = value.strip().replace(",", "").replace(".", "").replace(" ", "")
        if not digits.isdigit():
            return None, f"feature {index} ({name}): population {value!r} read as unknown"
        value = int(digits)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidGeometry(f"population {value!r} is not a number", feature=index, name=name)
    if value < 0:
        raise InvalidGeometry(f"population {value!r} is negative", feature=index, name=name)
    return round(value), None


def _parent(name: str, children: list[AreaDraft], options: ImportOptions) -> AreaDraft:
    geometry = polygonal(shapely.union_all([child.geometry for child in children]))
    populations = [child.population for child in children]
    return AreaDraft(
        code=_parent_code(name),
        name=name,
        parent_code=options.parent_code,
        population=(
            None if any(p is None for p in populations) else sum(p or 0 for p in populations)
        ),
        geometry=geometry,
        outline=make_outline(geometry, options.outline_max_points),
        vertices=num_points(geometry),
    )


def _short(value: Any) -> str:
    text = json.dumps(value, allow_nan=True)
    return text if len(text) <= 60 else text[:57] + "..."


def import_document(raw: bytes, max_bytes: int, options: ImportOptions) -> ImportPlan:
    """The whole CPU side of an import (parse, check, repair, outline): run in a worker."""
    document = read_document(raw, max_bytes)
    try:
        return prepare_import(document, options)
    except RecursionError:  # a position or property nested a thousand lists deep
        raise InvalidGeometry(_TOO_DEEP) from None


def check_depth(document: Any, limit: int = 32) -> None:
    """InvalidGeometry if lists and objects nest deeper than `limit` (GeoJSON needs about 8):
    checked without recursion, before the document is pickled or walked recursively."""
    level: list[Any] = [document]
    for _ in range(limit):
        level = [
            child
            for value in level
            if isinstance(value, list | dict)
            for child in (value.values() if isinstance(value, dict) else value)
            if isinstance(child, list | dict)
        ]
        if not level:
            return
    raise InvalidGeometry(_TOO_DEEP)


def parse_geometry(document: Any, max_vertices: int) -> Any:
    """A single warning area (Polygon, MultiPolygon, or a Feature of one), checked and valid."""
    if isinstance(document, dict) and document.get("type") == "Feature":
        raw, _ = _feature(document, 0)
    elif isinstance(document, dict) and document.get("type") in ("Polygon", "MultiPolygon"):
        raw = document
    else:
        raise InvalidGeometry("a GeoJSON Polygon, MultiPolygon or Feature of one is required")
    if _count_positions(raw, 0) > max_vertices:
        raise ImportTooLarge(f"more than {max_vertices:,} vertices")
    geometry = _build(raw, 0, "")
    geometry, _ = _validate(geometry, 0, "", repair=False)
    return geometry
