"""A team roster file, CSV or GeoJSON, read into checked TeamDrafts (pure; the command line and
the API write them with dispatch.teams_service.import_roster).

CSV: a header naming the columns, in any order — `name`, `base_lat`, `base_lon` (required),
`capabilities` (`boat;medical`), `capacity`, `ward_codes` (`hue.phu-xuan;hue.kim-long`),
`on_duty` (yes/no, 1/0, true/false, có/không), `members` (`Nguyễn Văn An:0905123456;
Trần Thị Bình:+84914000002`), `push_token`.

GeoJSON: a FeatureCollection, one Feature per team with the same names as properties; the base
is the geometry when it is a Point (else `base_lat`/`base_lon`), the coverage polygon is the
geometry when it is a Polygon or MultiPolygon, or a GeometryCollection of one Point and one
polygon gives both. `members` may also be a list of {"name", "phone"}.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from canhbao.csvfile import CsvRefused, read_rows
from dispatch.errors import InvalidInput
from dispatch.teams import (
    TeamDraft,
    check_capabilities,
    check_capacity,
    check_coverage,
    check_members,
    check_name,
    check_point,
    check_push_token,
)

MAX_TEAMS = 5_000
MAX_BYTES = 20 * 1024 * 1024
COLUMNS = (
    "name",
    "base_lat",
    "base_lon",
    "capabilities",
    "capacity",
    "ward_codes",
    "on_duty",
    "members",
    "push_token",
)
_REQUIRED = ("name", "base_lat", "base_lon")
_YES = {"yes", "y", "1", "true", "có", "co", "x", "on"}
_NO = {"no", "n", "0", "false", "không", "khong", "off", ""}


class RosterRefused(InvalidInput):
    """The roster cannot be read; the message names the line or feature and the field."""


@dataclass(frozen=True)
class Roster:
    teams: tuple[TeamDraft, ...]


def read_roster(raw: bytes, filename: str = "") -> Roster:
    """A CSV or GeoJSON roster (told apart by its first character, `{` for GeoJSON)."""
    if len(raw) > MAX_BYTES:
        raise RosterRefused(f"the file is over {MAX_BYTES >> 20} MB")
    try:
        text = raw.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError as err:
        raise RosterRefused(f"not UTF-8 text (byte {err.start})") from None
    if not text.strip():
        raise RosterRefused("the file is empty")
    if text.lstrip().startswith("{") or filename.lower().endswith((".geojson", ".json")):
        return _geojson(text)
    return _csv(text)


def _csv(text: str) -> Roster:
    delimiter = (
        ";" if text.split("\n", 1)[0].count(";") > text.split("\n", 1)[0].count(",") else ","
    )
    header: list[str] | None = None
    teams: list[TeamDraft] = []
    try:
        for line, record in enumerate(
            read_rows(text, delimiter=delimiter, max_rows=MAX_TEAMS + 1), start=1
        ):
            if not record or not any(cell.strip() for cell in record):
                continue
            if header is None:
                header = [cell.strip().lower() for cell in record]
                unknown = [name for name in header if name not in COLUMNS]
                if unknown:
                    raise RosterRefused(
                        f"line {line}: unknown column {unknown[0]!r} (known: {', '.join(COLUMNS)})"
                    )
                missing = [name for name in _REQUIRED if name not in header]
                if missing:
                    raise RosterRefused(f"line {line}: the column {missing[0]!r} is missing")
                continue
            if len(record) > len(header):
                raise RosterRefused(f"line {line}: more cells than the header names")
            fields = dict(zip(header, (cell.strip() for cell in record), strict=False))
            teams.append(_at(f"line {line}", fields))
    except CsvRefused as err:
        raise RosterRefused(str(err)) from None
    if header is None:
        raise RosterRefused("no header line")
    return Roster(_unique(teams))


def _geojson(text: str) -> Roster:
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as err:
        raise RosterRefused(f"not JSON: {err}") from None
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        raise RosterRefused("a GeoJSON roster is a FeatureCollection, one Feature per team")
    features = document.get("features")
    if not isinstance(features, list):
        raise RosterRefused("features: must be a list")
    if len(features) > MAX_TEAMS:
        raise RosterRefused(f"more than {MAX_TEAMS:,} teams in one file")
    teams: list[TeamDraft] = []
    for index, feature in enumerate(features):
        where = f"feature {index}"
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            raise RosterRefused(f"{where}: not a Feature")
        properties = feature.get("properties") or {}
        if not isinstance(properties, dict):
            raise RosterRefused(f"{where}: properties must be an object")
        fields: dict[str, Any] = {k: v for k, v in properties.items() if k in COLUMNS}
        point, polygon = _geometries(where, feature.get("geometry"))
        if point is not None:
            fields["base_lon"], fields["base_lat"] = point
        teams.append(_at(where, fields, polygon))
    return Roster(_unique(teams))


def _geometries(
    where: str, geometry: Any
) -> tuple[tuple[float, float] | None, Mapping[str, Any] | None]:
    if geometry is None:
        return None, None
    if not isinstance(geometry, dict):
        raise RosterRefused(f"{where}: geometry must be an object")
    kind = geometry.get("type")
    parts = geometry.get("geometries") if kind == "GeometryCollection" else [geometry]
    if not isinstance(parts, list):
        raise RosterRefused(f"{where}: geometries must be a list")
    point: tuple[float, float] | None = None
    polygon: Mapping[str, Any] | None = None
    for part in parts:
        part_kind = part.get("type") if isinstance(part, dict) else None
        if part_kind == "Point" and point is None:
            coordinates = part.get("coordinates")
            if (
                not isinstance(coordinates, list)
                or len(coordinates) < 2
                or not all(isinstance(c, int | float) for c in coordinates[:2])
            ):
                raise RosterRefused(f"{where}: a Point needs [lon, lat]")
            point = (float(coordinates[0]), float(coordinates[1]))
        elif part_kind in ("Polygon", "MultiPolygon") and polygon is None:
            polygon = part
        else:
            raise RosterRefused(
                f"{where}: geometry is a Point (the base), a Polygon (the coverage) or a"
                " GeometryCollection of one of each"
            )
    return point, polygon


def _at(
    where: str, fields: Mapping[str, Any], polygon: Mapping[str, Any] | None = None
) -> TeamDraft:
    try:
        return _draft(fields, polygon)
    except InvalidInput as err:
        raise RosterRefused(f"{where}: {err}", field=err.field) from None


def _draft(fields: Mapping[str, Any], polygon: Mapping[str, Any] | None) -> TeamDraft:
    name = check_name(_text(fields, "name"))
    lat, lon = check_point(_number(fields, "base_lat"), _number(fields, "base_lon"), "base")
    capacity_text = _text(fields, "capacity") or "1"
    if not capacity_text.isascii() or not capacity_text.isdigit():
        raise InvalidInput(f"capacity: {capacity_text!r} is not a whole number", field="capacity")
    return TeamDraft(
        name=name,
        base_lat=lat,
        base_lon=lon,
        capabilities=check_capabilities(_words(fields.get("capabilities"))),
        capacity=check_capacity(int(capacity_text[:4])),
        coverage=check_coverage(_words(fields.get("ward_codes")), polygon),
        on_duty=_yes_no(fields.get("on_duty", "yes")),
        members=check_members(_members(fields.get("members"))),
        push_token=check_push_token(_text(fields, "push_token") or None),
    )


def _text(fields: Mapping[str, Any], key: str) -> str:
    value = fields.get(key)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidInput(f"{key}: must be text", field=key)
    return str(value).strip()


def _number(fields: Mapping[str, Any], key: str) -> float:
    value = fields.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    text = _text(fields, key).replace(",", ".")
    try:
        return float(text)
    except ValueError:
        raise InvalidInput(f"{key}: {text!r} is not a number", field=key) from None


def _words(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(item) for item in value if isinstance(item, str | int)]
    if not isinstance(value, str):
        raise InvalidInput("must be a list or text separated by ';'")
    return [word for word in value.replace("|", ";").split(";") if word.strip()]


def _yes_no(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _YES:
        return True
    if text in _NO:
        return False
    raise InvalidInput(f"on_duty: {value!r} is not yes or no", field="on_duty")


def _members(value: Any) -> Sequence[tuple[str, str]]:
    if value is None or value == "":
        return []
    if isinstance(value, list):
        found: list[tuple[str, str]] = []
        for item in value:
            if not isinstance(item, dict) or not isinstance(item.get("phone"), str):
                raise InvalidInput("members: each is {name, phone}", field="members")
            found.append((str(item.get("name") or item["phone"]), item["phone"]))
        return found
    if not isinstance(value, str):
        raise InvalidInput("members: 'name:phone;name:phone'", field="members")
    pairs: list[tuple[str, str]] = []
    for part in value.replace("|", ";").split(";"):
        if not part.strip():
            continue
        name, colon, phone = part.rpartition(":")
        if not colon:
            name, phone = phone, phone
        pairs.append((name.strip() or phone.strip(), phone.strip()))
    return pairs


def _unique(teams: list[TeamDraft]) -> tuple[TeamDraft, ...]:
    seen: set[str] = set()
    for team in teams:
        if team.name in seen:
            raise RosterRefused(f"the team {team.name!r} is listed twice")
        seen.add(team.name)
    if not teams:
        raise RosterRefused("no teams in the file")
    return tuple(teams)
