"""Rescue requests as values: their states and the one transition table, priority, the checks
every way of writing one goes through, and how a request is shown. No I/O."""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from canhbao.clock import to_local, utc_text
from dispatch.errors import InvalidInput, InvalidTransition

# --- states ----------------------------------------------------------------------------------


class State(StrEnum):
    """Where a request stands. The happy path runs new → triaged → offered → accepted →
    en_route → on_scene → resolved; cancelled, unfounded and duplicate close it early."""

    new = "new"
    triaged = "triaged"
    offered = "offered"
    accepted = "accepted"
    en_route = "en_route"
    on_scene = "on_scene"
    resolved = "resolved"
    cancelled = "cancelled"
    unfounded = "unfounded"
    duplicate = "duplicate"


_CLOSE_EARLY = (State.cancelled, State.unfounded, State.duplicate)

# The one transition table. Back to triaged: an offer declined or timed out with no next team,
# or a team released (reassign). A team that goes straight to the scene skips en_route.
TRANSITIONS: Mapping[State, tuple[State, ...]] = {
    State.new: (State.triaged, State.offered, *_CLOSE_EARLY),
    State.triaged: (State.offered, *_CLOSE_EARLY),
    State.offered: (State.accepted, State.triaged, *_CLOSE_EARLY),
    State.accepted: (State.en_route, State.on_scene, State.triaged, State.cancelled),
    State.en_route: (State.on_scene, State.triaged, State.cancelled),
    State.on_scene: (State.resolved,),
    State.resolved: (),
    State.cancelled: (),
    State.unfounded: (),
    State.duplicate: (),
}
# A request still being handled: more news from its caller is added to it, and it counts in the
# open list, the duplicate search and the claim lock.
OPEN_STATES: tuple[State, ...] = tuple(s for s, nexts in TRANSITIONS.items() if nexts)
CLOSED_STATES: tuple[State, ...] = tuple(s for s, nexts in TRANSITIONS.items() if not nexts)


def allowed_next(state: State) -> tuple[State, ...]:
    """The states a request in `state` may move to, in the table's order."""
    return TRANSITIONS[state]


def check_transition(number: str, current: State, target: State) -> None:
    """Raise InvalidTransition (naming the allowed states) unless current → target is allowed."""
    allowed = TRANSITIONS[current]
    if target in allowed:
        return
    names = ", ".join(s.value for s in allowed) or "nothing (it is closed)"
    raise InvalidTransition(
        f"rescue request {number} is {current.value}; it cannot become {target.value}"
        f" (allowed: {names})",
        allowed=[s.value for s in allowed],
    )


# --- what a request says -------------------------------------------------------------------


class Vulnerability(StrEnum):
    injured = "injured"
    elderly = "elderly"
    child = "child"
    disabled = "disabled"
    pregnant = "pregnant"


class Water(StrEnum):
    """The water situation the requester reports, from least to most urgent."""

    unknown = "unknown"
    none = "none"  # cut off, not flooded inside
    ground_floor = "ground_floor"  # water in the house
    chest = "chest"  # chest-deep or rising fast
    roof = "roof"  # on the roof or the top floor
    in_water = "in_water"  # someone in the water or swept away


class Priority(StrEnum):
    emergency = "emergency"
    high = "high"
    medium = "medium"
    low = "low"


PRIORITY_RANK: Mapping[Priority, int] = {
    Priority.emergency: 0,
    Priority.high: 1,
    Priority.medium: 2,
    Priority.low: 3,
}

Source = Literal["call", "sms", "app", "operator"]
SOURCES: tuple[Source, ...] = ("call", "sms", "app", "operator")
LocationSource = Literal["device", "contact", "app", "operator"]

# Vietnam's bounding box (with its islands): a point outside is a typo or a spoofed phone.
LAT_RANGE = (8.0, 23.5)
LON_RANGE = (102.0, 117.5)
PEOPLE_RANGE = (1, 1000)
ADDRESS_MAX_CHARS = 500
NOTES_MAX_CHARS = 2000
REASON_MAX_CHARS = 500
ACCURACY_MAX_M = 100_000.0
# Request numbers start here, so every one is four or more digits when read back.
REQUEST_NUMBER_BASE = 1000


def request_number(row_id: int) -> str:
    """The short number read back to the caller: the row id offset to four digits or more."""
    return str(REQUEST_NUMBER_BASE + row_id)


def request_id_of(number: str) -> int | None:
    """The row id a spoken or texted number names, or None when it cannot name one."""
    text = number.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        return None
    row_id = int(text) - REQUEST_NUMBER_BASE
    return row_id if row_id > 0 else None


def clean_text(text: str, limit: int) -> str:
    """Free words, NFC, trimmed and cut to `limit` characters."""
    return unicodedata.normalize("NFC", text).strip()[:limit]


@dataclass(frozen=True)
class NewRequest:
    """A request as a channel hands it over (before the domain checks and stores it)."""

    source: Source
    caller: str = ""
    source_sid: str | None = None
    call_sid: str | None = None
    lat: float | None = None
    lon: float | None = None
    accuracy_m: float | None = None
    location_source: LocationSource | None = None
    address: str = ""
    recording_url: str | None = None
    people: int | None = None
    vulnerabilities: tuple[Vulnerability, ...] = ()
    water: Water = Water.unknown
    notes: str = ""
    device_id: str | None = None


def check_point(lat: float | None, lon: float | None, accuracy_m: float | None = None) -> None:
    """A point is both coordinates or neither, finite, inside Vietnam's bounding box."""
    if (lat is None) != (lon is None):
        raise InvalidInput("lat and lon: give both or neither", "lat" if lat is None else "lon")
    if lat is None or lon is None:
        return
    for name, value, (low, high) in (("lat", lat, LAT_RANGE), ("lon", lon, LON_RANGE)):
        if not math.isfinite(value) or not low <= value <= high:
            raise InvalidInput(f"{name}: {value} is outside Vietnam ({low} to {high})", name)
    if accuracy_m is not None and (
        not math.isfinite(accuracy_m) or not 0 <= accuracy_m <= ACCURACY_MAX_M
    ):
        raise InvalidInput(f"accuracy_m: must be 0 to {ACCURACY_MAX_M:.0f} metres", "accuracy_m")


def check_people(people: int | None) -> None:
    low, high = PEOPLE_RANGE
    if people is not None and not low <= people <= high:
        raise InvalidInput(f"people: must be {low} to {high}", "people")


def checked(draft: NewRequest) -> NewRequest:
    """The draft with its words cleaned, or InvalidInput naming the field at fault."""
    check_point(draft.lat, draft.lon, draft.accuracy_m)
    check_people(draft.people)
    if draft.source not in SOURCES:
        raise InvalidInput(f"source: one of {', '.join(SOURCES)}", "source")
    seen: list[Vulnerability] = []
    for flag in draft.vulnerabilities:
        if flag not in seen:
            seen.append(flag)
    return NewRequest(
        source=draft.source,
        caller=draft.caller.strip(),
        source_sid=draft.source_sid,
        call_sid=draft.call_sid,
        lat=draft.lat,
        lon=draft.lon,
        accuracy_m=draft.accuracy_m if draft.lat is not None else None,
        location_source=draft.location_source if draft.lat is not None else None,
        address=clean_text(draft.address, ADDRESS_MAX_CHARS),
        recording_url=draft.recording_url,
        people=draft.people,
        vulnerabilities=tuple(seen),
        water=draft.water,
        notes=clean_text(draft.notes, NOTES_MAX_CHARS),
        device_id=draft.device_id,
    )


# --- priority --------------------------------------------------------------------------------

_FLAG_POINTS: Mapping[Vulnerability, int] = {
    Vulnerability.injured: 3,
    Vulnerability.pregnant: 2,
    Vulnerability.disabled: 2,
    Vulnerability.elderly: 1,
    Vulnerability.child: 1,
}
_WATER_POINTS: Mapping[Water, int] = {
    Water.unknown: 1,
    Water.none: 0,
    Water.ground_floor: 1,
    Water.chest: 3,
    Water.roof: 4,
    Water.in_water: 7,
}
SEVERE_WARNING_POINTS = 2
MANY_PEOPLE = 10
WAIT_STEP = timedelta(minutes=30)
WAIT_POINTS_MAX = 3
_THRESHOLDS = ((7, Priority.emergency), (4, Priority.high), (2, Priority.medium))


def priority_points(
    vulnerabilities: Iterable[Vulnerability],
    water: Water,
    people: int | None,
    severe_warning: bool,
    waited: timedelta,
) -> int:
    """Points, summed: each vulnerable flag (injured 3, pregnant 2, disabled 2, elderly 1,
    child 1), the water (in the water 7, roof 4, chest 3, in the house or not known 1), ten or
    more people 1, a point under an issued Severe or Extreme warning 2, and 1 for every 30
    minutes waited (at most 3)."""
    points = sum(_FLAG_POINTS[v] for v in set(vulnerabilities))
    points += _WATER_POINTS[water]
    points += 1 if people is not None and people >= MANY_PEOPLE else 0
    points += SEVERE_WARNING_POINTS if severe_warning else 0
    if waited > timedelta(0):
        points += min(WAIT_POINTS_MAX, int(waited / WAIT_STEP))
    return points


def priority_of(points: int) -> Priority:
    """7 points or more: emergency; 4: high; 2: medium; less: low."""
    for threshold, priority in _THRESHOLDS:
        if points >= threshold:
            return priority
    return Priority.low


def most_urgent_water(a: Water, b: Water) -> Water:
    return a if _WATER_POINTS[a] >= _WATER_POINTS[b] else b


def highest(priorities: Iterable[Priority]) -> Priority:
    return min(priorities, key=PRIORITY_RANK.__getitem__, default=Priority.low)


# --- a stored request -------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """A dispatcher working the request until `expires_at` (UTC)."""

    holder: str
    expires_at: datetime

    def to_json(self) -> dict[str, str]:
        return {"holder": self.holder, "expires_at": utc_text(self.expires_at)}


@dataclass(frozen=True)
class RescueRequest:
    id: int
    number: str
    source: Source
    caller: str
    phones: tuple[str, ...]
    source_sid: str | None
    call_sid: str | None
    recording_url: str | None
    lat: float | None
    lon: float | None
    accuracy_m: float | None
    location_source: str | None
    address: str
    ward_code: str | None
    ward_name: str | None
    people: int | None
    vulnerabilities: tuple[Vulnerability, ...]
    water: Water
    notes: str
    device_id: str | None
    severe_warning: bool
    priority_override: Priority | None
    priority_reason: str | None
    state: State
    duplicate_of: int | None
    claim: Claim | None
    created_at: datetime
    updated_at: datetime
    state_changed_at: datetime
    photos: tuple[str, ...] = field(default=())

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    def computed_priority(self, now: datetime) -> Priority:
        waited = now - self.created_at if self.is_open else timedelta(0)
        return priority_of(
            priority_points(
                self.vulnerabilities, self.water, self.people, self.severe_warning, waited
            )
        )

    def priority(self, now: datetime) -> Priority:
        """The override when staff set one, else the computed priority."""
        return self.priority_override or self.computed_priority(now)

    def live_claim(self, now: datetime) -> Claim | None:
        return self.claim if self.claim is not None and self.claim.expires_at > now else None

    def to_json(self, now: datetime) -> dict[str, Any]:
        claim = self.live_claim(now)
        return {
            "id": self.id,
            "number": self.number,
            "source": self.source,
            "caller": self.caller,
            "phones": list(self.phones),
            "source_sid": self.source_sid,
            "call_sid": self.call_sid,
            "recording_url": self.recording_url,
            "location": None
            if self.lat is None
            else {
                "lat": self.lat,
                "lon": self.lon,
                "accuracy_m": self.accuracy_m,
                "source": self.location_source,
            },
            "address": self.address,
            "ward": None
            if self.ward_code is None
            else {"code": self.ward_code, "name": self.ward_name or ""},
            "people": self.people,
            "vulnerabilities": [v.value for v in self.vulnerabilities],
            "water": self.water.value,
            "notes": self.notes,
            "photos": list(self.photos),
            "severe_warning": self.severe_warning,
            "priority": self.priority(now).value,
            "priority_computed": self.computed_priority(now).value,
            "priority_override": self.priority_override.value if self.priority_override else None,
            "priority_reason": self.priority_reason,
            "state": self.state.value,
            "allowed_next": [s.value for s in allowed_next(self.state)],
            "duplicate_of": request_number(self.duplicate_of) if self.duplicate_of else None,
            "claim": claim.to_json() if claim else None,
            "created_at": utc_text(self.created_at),
            "created_at_local": to_local(self.created_at).isoformat(),
            "updated_at": utc_text(self.updated_at),
            "state_changed_at": utc_text(self.state_changed_at),
            "waiting_s": max(0, int((now - self.created_at).total_seconds())),
        }


@dataclass(frozen=True)
class HistoryEntry:
    """One line of a request's timeline: every change, when, by whom."""

    at: datetime
    actor: str
    kind: str  # created, state, details, priority, merge, claim, photo, duplicate
    from_state: State | None
    to_state: State | None
    detail: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "at": utc_text(self.at),
            "at_local": to_local(self.at).isoformat(),
            "actor": self.actor,
            "kind": self.kind,
            "from_state": self.from_state.value if self.from_state else None,
            "to_state": self.to_state.value if self.to_state else None,
            "detail": dict(self.detail),
        }


EARTH_RADIUS_M = 6_371_008.8


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def box_around(lat: float, lon: float, metres: float) -> tuple[float, float, float, float]:
    """(south, west, north, east) of a box that holds every point within `metres`."""
    dlat = math.degrees(metres / EARTH_RADIUS_M)
    dlon = dlat / max(0.01, math.cos(math.radians(lat)))
    return lat - dlat, lon - dlon, lat + dlat, lon + dlon


def open_order(requests: Sequence[RescueRequest], now: datetime) -> list[RescueRequest]:
    """Open requests by priority (emergency first), then the longest waiting first."""
    return sorted(requests, key=lambda r: (PRIORITY_RANK[r.priority(now)], r.created_at, r.id))
