"""Geofence values (areas, devices, contacts, delivery plans) and the pure rules over them."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

import numpy as np
import numpy.typing as npt

from canhbao.clock import parse_utc
from geofences.errors import InvalidDeviceRequest
from notify.errors import InvalidMessage
from notify.models import FCM_CONDITION_TOPICS, check_phone

Language = Literal["vi", "en"]
Platform = Literal["android", "ios", "web"]
Route = Literal["topic", "token", "sms"]
LANGUAGES: tuple[Language, ...] = get_args(Language)
PLATFORMS: tuple[Platform, ...] = get_args(Platform)

# The registration-token syntax notify.models checks before any send; refused here at the door.
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_:\-.]{20,4096}$")
_CODE_RE = re.compile(r"^[a-z0-9][a-z0-9.\-]{0,99}$")
_PHONE_SEPARATORS = re.compile(r"[\s.\-()]")
# Fixes reported from further in the future than this are clock skew: clamp them to now.
MAX_FUTURE_SKEW = timedelta(minutes=5)
MAX_ACCURACY_M = 100_000.0


@dataclass(frozen=True)
class Area:
    """A named area (a city, a ward, an operator-drawn zone) without its geometry."""

    id: int
    code: str
    name: str
    parent_id: int | None
    population: int | None
    topic: str


@dataclass(frozen=True)
class Location:
    """A device's position fix as it reported it (WGS84), with the fix's own time."""

    lon: float
    lat: float
    accuracy_m: float | None
    at: datetime


@dataclass(frozen=True)
class PhoneLocation:
    """Where a phone number was last known to be: a device's fix, or a contact's address."""

    lat: float
    lon: float
    accuracy_m: float | None
    located_at: datetime  # the fix's time; for a contact, when staff last updated it
    address: str  # a contact's address as staff wrote it; empty for a device
    ward: str  # the ward's name, if the point lies in a known area
    source: Literal["device", "contact"]


@dataclass(frozen=True)
class Registration:
    """A new device, as its app sent it (already checked)."""

    token: str
    platform: Platform
    language: Language
    phone: str | None = None
    location: Location | None = None
    area_codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeviceUpdate:
    """The fields a device changes in one request; None means unchanged."""

    token: str | None = None
    language: Language | None = None
    phone: str | None = None
    clear_phone: bool = False
    location: Location | None = None
    area_codes: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Device:
    """A registered device as its owner may see it (no secret, no hash)."""

    public_id: str
    platform: Platform
    language: Language
    has_token: bool
    phone: str | None
    location: Location | None
    location_area: str | None
    area_codes: tuple[str, ...]
    topics: tuple[str, ...]


@dataclass(frozen=True)
class ContactDraft:
    """A phone-only contact (someone without a smartphone), as staff entered it."""

    name: str
    phone: str
    address: str = ""
    lon: float | None = None
    lat: float | None = None
    area_code: str | None = None
    vulnerable: bool = False
    language: Language = "vi"


@dataclass(frozen=True)
class PlanOptions:
    """How generously a warning's area is read when choosing its recipients."""

    # Overshoot allowed beyond the drawn polygon, in metres (US WEA allows 0.1 mile = 161 m).
    bleed_m: float = 161.0
    # Locations older than this do not count: the phone may have left.
    max_location_age: timedelta = timedelta(hours=24)
    include_contacts: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.bleed_m <= 50_000:
            raise ValueError("bleed_m must be between 0 and 50,000 m")
        if self.max_location_age <= timedelta(0):
            raise ValueError("max_location_age must be positive")


@dataclass(frozen=True)
class AreaRoute:
    """One area's share of a plan: how many recipients, by which route."""

    code: str
    name: str
    # "whole": the area lies inside the polygon and is reached through its FCM topic;
    # "partial": it overlaps the polygon; "bleed": only devices in the overshoot are in it.
    coverage: Literal["whole", "partial", "bleed"]
    topic: str | None
    by_topic: int
    by_token: int
    by_sms: int

    @property
    def total(self) -> int:
        return self.by_topic + self.by_token + self.by_sms


IdArray = npt.NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class DeliveryPlan:
    """Who gets a warning and how. Device ids are sorted, unique, read-only arrays."""

    computed_at: datetime
    options: PlanOptions
    # FCM conditions ('a' in topics || 'b' in topics), each of at most 5 topics.
    conditions: tuple[str, ...]
    topics: tuple[str, ...]
    # Devices the topics reach (counted, not sent to one by one).
    topic_device_ids: IdArray
    # Devices sent to one by one, by registration token.
    token_device_ids: IdArray
    contact_ids: IdArray
    areas: tuple[AreaRoute, ...]
    # Recipients located in no known area (inside the polygon, outside every imported area).
    unattributed: Mapping[Route, int] = field(default_factory=dict)

    @property
    def device_count(self) -> int:
        return int(self.topic_device_ids.size + self.token_device_ids.size)

    def conditions_in(self, language: Language) -> tuple[str, ...]:
        """The conditions reaching the topic route's devices that use `language`."""
        return conditions_for([language_topic(topic, language) for topic in self.topics])

    def summary(self) -> dict[str, Any]:
        """The plan as staff preview it before approving (JSON-ready)."""
        return {
            "computed_at": self.computed_at.isoformat(),
            "bleed_m": self.options.bleed_m,
            "max_location_age_s": self.options.max_location_age.total_seconds(),
            "totals": {
                "devices": self.device_count,
                "by_topic": int(self.topic_device_ids.size),
                "by_token": int(self.token_device_ids.size),
                "by_sms": int(self.contact_ids.size),
            },
            "conditions": list(self.conditions),
            "areas": [
                {
                    "code": route.code,
                    "name": route.name,
                    "coverage": route.coverage,
                    "topic": route.topic,
                    "by_topic": route.by_topic,
                    "by_token": route.by_token,
                    "by_sms": route.by_sms,
                }
                for route in self.areas
            ],
            "unattributed": dict(self.unattributed),
        }


def slugify(text: str) -> str:
    """ASCII lower-case words joined by '-': 'Chân Mây - Lăng Cô' → 'chan-may-lang-co'."""
    # đ/Đ is a letter of its own, not d with a mark, so NFKD leaves it alone.
    text = text.replace("đ", "d").replace("Đ", "D")
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def check_code(code: str) -> str:
    """An area code: lower-case ASCII letters, digits, '.' and '-' (it becomes a topic name)."""
    if not _CODE_RE.match(code):
        raise ValueError(
            f"area code {code!r} must be 1-100 characters of a-z, 0-9, '.' and '-',"
            " starting with a letter or digit"
        )
    return code


def conditions_for(topics: Sequence[str]) -> tuple[str, ...]:
    """FCM conditions ORing at most 5 topics each, so each device gets one copy per condition."""
    ordered = sorted(set(topics))
    return tuple(
        " || ".join(f"'{topic}' in topics" for topic in ordered[i : i + FCM_CONDITION_TOPICS])
        for i in range(0, len(ordered), FCM_CONDITION_TOPICS)
    )


def language_topic(topic: str, language: str) -> str:
    """An area's topic for devices in `language`: Vietnamese devices subscribe to the area's own
    topic, others to it with ~<language>, so a topic send can speak each device's language."""
    return topic if language == "vi" else f"{topic}~{language}"


def desired_topics(
    area_ids: Iterable[int],
    ancestors: Mapping[int, tuple[int, ...]],
    topics: Mapping[int, str],
    language: str = "vi",
) -> frozenset[str]:
    """The FCM topics a device belongs to: its areas' and every enclosing area's, in its language.

    A device in ward X also hears a warning sent to X's city topic, so a city-wide warning is
    one topic message instead of one per ward.
    """
    chosen: set[str] = set()
    for area_id in area_ids:
        chosen.add(topics[area_id])
        chosen.update(topics[parent] for parent in ancestors.get(area_id, ()))
    return frozenset(language_topic(topic, language) for topic in chosen)


def normalize_phone(text: str) -> str:
    """A Vietnamese phone number as written locally (0905 123 456, 84905…) in E.164 form."""
    number = _PHONE_SEPARATORS.sub("", text.strip())
    if number.startswith("00"):
        number = "+" + number[2:]
    elif number.startswith("0"):
        number = "+84" + number[1:]
    elif number.startswith("84") and len(number) >= 11:
        number = "+" + number
    try:
        check_phone(number)
    except InvalidMessage:
        raise ValueError(f"not a phone number: {text!r}") from None
    return number


def check_token(value: Any, field_name: str = "token") -> str:
    if not isinstance(value, str) or not _TOKEN_RE.match(value):
        raise InvalidDeviceRequest(field_name, "not an FCM registration token")
    return value


def parse_registration(body: Any, now: datetime, max_areas: int) -> Registration:
    """Check a registration body from the citizen app; every problem names its field."""
    fields = _object(body, {"token", "platform", "language", "phone", "location", "area_codes"})
    platform = fields.get("platform")
    if platform not in PLATFORMS:
        raise InvalidDeviceRequest("platform", f"must be one of {', '.join(PLATFORMS)}")
    return Registration(
        token=check_token(fields.get("token")),
        platform=platform,
        language=_language(fields.get("language", "vi")),
        phone=_phone(fields["phone"]) if fields.get("phone") is not None else None,
        location=(
            parse_location(fields["location"], now) if fields.get("location") is not None else None
        ),
        area_codes=_area_codes(fields.get("area_codes", []), max_areas),
    )


def parse_update(body: Any, now: datetime, max_areas: int) -> DeviceUpdate:
    """Check a device update body: any of token, language, phone (null clears), location,
    area_codes (the whole new list)."""
    fields = _object(body, {"token", "language", "phone", "location", "area_codes"})
    if not fields:
        raise InvalidDeviceRequest("body", "nothing to change")
    clear_phone = "phone" in fields and fields["phone"] is None
    return DeviceUpdate(
        token=check_token(fields["token"]) if "token" in fields else None,
        language=_language(fields["language"]) if "language" in fields else None,
        phone=_phone(fields["phone"]) if fields.get("phone") is not None else None,
        clear_phone=clear_phone,
        location=parse_location(fields["location"], now) if "location" in fields else None,
        area_codes=(
            _area_codes(fields["area_codes"], max_areas) if "area_codes" in fields else None
        ),
    )


def parse_location(raw: Any, now: datetime) -> Location:
    """{lat, lon, accuracy_m?, time?}: WGS84 degrees, metres, ISO-8601 with a zone."""
    fields = _object(raw, {"lat", "lon", "accuracy_m", "time"}, "location")
    lat = _number(fields.get("lat"), "location.lat", -90.0, 90.0)
    lon = _number(fields.get("lon"), "location.lon", -180.0, 180.0)
    accuracy = fields.get("accuracy_m")
    accuracy_m = (
        None if accuracy is None else _number(accuracy, "location.accuracy_m", 0, MAX_ACCURACY_M)
    )
    at = now
    if fields.get("time") is not None:
        if not isinstance(fields["time"], str):
            raise InvalidDeviceRequest("location.time", "must be an ISO-8601 string")
        try:
            at = parse_utc(fields["time"])
        except ValueError as err:
            raise InvalidDeviceRequest("location.time", str(err)) from None
        if at > now + MAX_FUTURE_SKEW:
            at = now
    return Location(lon=lon, lat=lat, accuracy_m=accuracy_m, at=at)


# The longest a location may count for a preview: a year (a larger age means "any location").
MAX_PLAN_LOCATION_AGE_H = 24.0 * 366
MAX_BLEED_M = 50_000.0


def parse_plan_request(
    body: Any, bleed_m: float, max_location_age_h: float
) -> tuple[Any, PlanOptions]:
    """A targeting preview's body: the GeoJSON geometry (checked later, in a worker) and the
    plan's options, each a finite number in its range (defaults: the config's)."""
    fields = _object(body, {"geometry", "bleed_m", "max_location_age_h"})
    if "geometry" not in fields:
        raise InvalidDeviceRequest("geometry", "required: a GeoJSON Polygon or MultiPolygon")
    bleed = _number(fields.get("bleed_m", bleed_m), "bleed_m", 0.0, MAX_BLEED_M)
    age = _number(
        fields.get("max_location_age_h", max_location_age_h),
        "max_location_age_h",
        0.0,
        MAX_PLAN_LOCATION_AGE_H,
    )
    if age <= 0:
        raise InvalidDeviceRequest("max_location_age_h", "must be greater than 0")
    return fields["geometry"], PlanOptions(bleed_m=bleed, max_location_age=timedelta(hours=age))


def _object(raw: Any, allowed: set[str], where: str = "body") -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise InvalidDeviceRequest(where, "must be a JSON object")
    unknown = sorted(set(raw) - allowed)
    if unknown:
        prefix = "" if where == "body" else f"{where}."
        raise InvalidDeviceRequest(prefix + unknown[0], "unknown field")
    return raw


def _number(value: Any, field_name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidDeviceRequest(field_name, "must be a number")
    number = float(value)
    if not math.isfinite(number) or not low <= number <= high:
        raise InvalidDeviceRequest(field_name, f"must be between {low:g} and {high:g}")
    return number


def _language(value: Any) -> Language:
    if value not in LANGUAGES:
        raise InvalidDeviceRequest("language", f"must be one of {', '.join(LANGUAGES)}")
    return value  # type: ignore[no-any-return]  # checked against LANGUAGES just above


def _phone(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidDeviceRequest("phone", "must be a string")
    try:
        return normalize_phone(value)
    except ValueError as err:
        raise InvalidDeviceRequest("phone", str(err)) from None


def _area_codes(value: Any, max_areas: int) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(code, str) for code in value):
        raise InvalidDeviceRequest("area_codes", "must be a list of area codes")
    codes = tuple(dict.fromkeys(value))
    if len(codes) > max_areas:
        raise InvalidDeviceRequest("area_codes", f"at most {max_areas} areas")
    return codes
