"""Rescue teams as values: who they are, where they are, what they can do, how many jobs they
take; and the checks every way of writing one (API, roster import) goes through. No I/O."""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from dispatch.errors import InvalidInput

# Vietnam's bounding box (with its islands): a team's base or position outside is a typo.
LAT_RANGE = (8.0, 23.5)
LON_RANGE = (102.0, 117.5)
NAME_MAX = 200
MEMBERS_MAX = 50
CAPABILITIES_MAX = 20
CAPACITY_MAX = 100
WARDS_MAX = 500
POLYGON_POINTS_MAX = 10_000
# Capabilities are short lower-case words; these are the ones we know, others are kept as given.
KNOWN_CAPABILITIES = ("boat", "medical", "truck", "divers", "ambulance", "helicopter", "drone")
_CAPABILITY = re.compile(r"[a-z][a-z0-9_-]{0,31}")
_WARD_CODE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_PUSH_TOKEN = re.compile(r"[A-Za-z0-9_:\-.]{20,4096}")

PositionSource = Literal["last_known", "base"]


@dataclass(frozen=True)
class Member:
    """One person in a team: their name and phone (private: never told to a requester)."""

    name: str
    phone: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "phone": self.phone}


@dataclass(frozen=True)
class Coverage:
    """Where a team works: ward codes, a polygon (GeoJSON, lon/lat), both, or anywhere."""

    ward_codes: tuple[str, ...] = ()
    polygon: Mapping[str, Any] | None = None

    @property
    def anywhere(self) -> bool:
        return not self.ward_codes and self.polygon is None

    def geometry(self) -> BaseGeometry | None:
        return None if self.polygon is None else shape(self.polygon)

    def to_json(self) -> dict[str, Any]:
        return {"ward_codes": list(self.ward_codes), "polygon": self.polygon}


@dataclass(frozen=True)
class TeamDraft:
    """A team as written by staff or a roster: everything but what the team app reports."""

    name: str
    base_lat: float
    base_lon: float
    capabilities: frozenset[str] = frozenset()
    capacity: int = 1
    coverage: Coverage = field(default_factory=Coverage)
    on_duty: bool = True
    members: tuple[Member, ...] = ()
    push_token: str | None = None


@dataclass(frozen=True)
class Team:
    id: int
    name: str
    base_lat: float
    base_lon: float
    capabilities: frozenset[str]
    capacity: int
    coverage: Coverage
    on_duty: bool
    members: tuple[Member, ...]
    push_token: str | None
    last_lat: float | None
    last_lon: float | None
    last_seen_at: datetime | None
    token_id: int | None
    created_at: datetime
    updated_at: datetime
    # Jobs the team holds now (offers accepted and not yet done); read with the team.
    active_jobs: int = 0

    @property
    def phones(self) -> tuple[str, ...]:
        return tuple(member.phone for member in self.members)

    @property
    def spare(self) -> int:
        return max(0, self.capacity - self.active_jobs)

    def position(self, now: datetime, fresh_for: timedelta) -> tuple[float, float, PositionSource]:
        """Where to measure from: the last reported position while fresh, else the base."""
        if (
            self.last_lat is not None
            and self.last_lon is not None
            and self.last_seen_at is not None
            and timedelta(0) <= now - self.last_seen_at <= fresh_for
        ):
            return self.last_lat, self.last_lon, "last_known"
        return self.base_lat, self.base_lon, "base"

    def position_age_s(self, now: datetime) -> float | None:
        if self.last_seen_at is None:
            return None
        return max(0.0, (now - self.last_seen_at).total_seconds())

    def to_json(self) -> dict[str, Any]:
        """As the audit log records it (the push token is a secret of sorts: only whether set)."""
        return {
            "id": self.id,
            "name": self.name,
            "base": [self.base_lat, self.base_lon],
            "capabilities": sorted(self.capabilities),
            "capacity": self.capacity,
            "coverage": self.coverage.to_json(),
            "on_duty": self.on_duty,
            "members": [member.to_json() for member in self.members],
            "push_token_set": self.push_token is not None,
        }


# -- checks -----------------------------------------------------------------------------------


def check_name(value: str, what: str = "name") -> str:
    name = unicodedata.normalize("NFC", value).strip()
    if not name:
        raise InvalidInput(f"{what}: must not be empty", field=what)
    if len(name) > NAME_MAX or any(unicodedata.category(ch) == "Cc" for ch in name):
        raise InvalidInput(f"{what}: at most {NAME_MAX} printable characters", field=what)
    return name


def check_point(lat: float, lon: float, what: str) -> tuple[float, float]:
    if not (math.isfinite(lat) and math.isfinite(lon)):
        raise InvalidInput(f"{what}: not a number", field=what)
    if not (LAT_RANGE[0] <= lat <= LAT_RANGE[1] and LON_RANGE[0] <= lon <= LON_RANGE[1]):
        raise InvalidInput(
            f"{what}: {lat}, {lon} is outside Vietnam (lat {LAT_RANGE[0]} to {LAT_RANGE[1]},"
            f" lon {LON_RANGE[0]} to {LON_RANGE[1]})",
            field=what,
        )
    return lat, lon


def check_capabilities(values: Iterable[str]) -> frozenset[str]:
    found: set[str] = set()
    for value in values:
        word = value.strip().lower()
        if not word:
            continue
        if not _CAPABILITY.fullmatch(word):
            raise InvalidInput(
                f"capabilities: {value!r} is not a capability (a short word, e.g. boat, medical)",
                field="capabilities",
            )
        found.add(word)
    if len(found) > CAPABILITIES_MAX:
        raise InvalidInput(f"capabilities: at most {CAPABILITIES_MAX}", field="capabilities")
    return frozenset(found)


def check_capacity(value: int) -> int:
    if not 1 <= value <= CAPACITY_MAX:
        raise InvalidInput(f"capacity: from 1 to {CAPACITY_MAX} jobs at once", field="capacity")
    return value


def check_phone(value: str, what: str = "phone") -> str:
    number = re.sub(r"[\s.()-]", "", value)
    if number.startswith("0") and len(number) in (10, 11):
        number = "+84" + number[1:]  # a Vietnamese number as written at home: 0905 123 456
    if not _E164.fullmatch(number):
        raise InvalidInput(f"{what}: {value!r} is not a phone number (+84905123456)", field=what)
    return number


def check_members(members: Sequence[tuple[str, str]]) -> tuple[Member, ...]:
    if len(members) > MEMBERS_MAX:
        raise InvalidInput(f"members: at most {MEMBERS_MAX}", field="members")
    found: list[Member] = []
    seen: set[str] = set()
    for index, (name, phone) in enumerate(members):
        member = Member(
            check_name(name, f"members.{index}.name"),
            check_phone(phone, f"members.{index}.phone"),
        )
        if member.phone in seen:
            raise InvalidInput(
                f"members.{index}.phone: {member.phone} is listed twice", field="members"
            )
        seen.add(member.phone)
        found.append(member)
    return tuple(found)


def check_push_token(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    token = value.strip()
    if not _PUSH_TOKEN.fullmatch(token):
        raise InvalidInput("push_token: not an FCM registration token", field="push_token")
    return token


def check_coverage(ward_codes: Sequence[str], polygon: Mapping[str, Any] | None) -> Coverage:
    codes: list[str] = []
    for code in ward_codes:
        code = code.strip().lower()
        if not code:
            continue
        if not _WARD_CODE.fullmatch(code):
            raise InvalidInput(
                f"coverage.ward_codes: {code!r} is not a ward code", field="coverage"
            )
        if code not in codes:
            codes.append(code)
    if len(codes) > WARDS_MAX:
        raise InvalidInput(f"coverage.ward_codes: at most {WARDS_MAX}", field="coverage")
    if polygon is not None:
        polygon = _check_polygon(polygon)
    return Coverage(tuple(codes), polygon)


def _check_polygon(polygon: Mapping[str, Any]) -> Mapping[str, Any]:
    if polygon.get("type") not in ("Polygon", "MultiPolygon"):
        raise InvalidInput(
            "coverage.polygon: a GeoJSON Polygon or MultiPolygon (lon, lat)", field="coverage"
        )
    try:
        geometry = shape(polygon)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as err:
        raise InvalidInput(f"coverage.polygon: not a polygon ({err})", field="coverage") from None
    points = shapely.get_num_coordinates(geometry)
    if points > POLYGON_POINTS_MAX:
        raise InvalidInput(
            f"coverage.polygon: {points} points, at most {POLYGON_POINTS_MAX}", field="coverage"
        )
    if geometry.is_empty or not geometry.is_valid:
        raise InvalidInput(
            f"coverage.polygon: invalid ({shapely.is_valid_reason(geometry)})", field="coverage"
        )
    min_lon, min_lat, max_lon, max_lat = geometry.bounds
    for lat, lon in ((min_lat, min_lon), (max_lat, max_lon)):
        check_point(lat, lon, "coverage.polygon")
    # Stored as given, rounded-trip through JSON so it is plain data.
    return dict(json.loads(json.dumps(shapely.geometry.mapping(geometry))))
