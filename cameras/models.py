"""Cameras, stills, fetches and flags as values, and the pure rules over them (no I/O)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from cameras.errors import CameraInvalid
from canhbao.clock import utc_text

Kind = Literal["snapshot", "mjpeg", "onvif"]
AuthKind = Literal["none", "basic", "digest"]
Outcome = Literal["stored", "unchanged", "not_modified", "failed"]
FlagName = Literal["frozen", "dark", "uniform", "blurred", "unreachable"]
KINDS: tuple[Kind, ...] = ("snapshot", "mjpeg", "onvif")
AUTHS: tuple[AuthKind, ...] = ("none", "basic", "digest")
FLAGS: tuple[FlagName, ...] = ("frozen", "dark", "uniform", "blurred", "unreachable")
# Flags that describe the picture; "unreachable" describes the camera.
IMAGE_FLAGS: frozenset[FlagName] = frozenset({"dark", "uniform", "blurred"})

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_HOST = re.compile(r"^[A-Za-z0-9.-]{1,253}$")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
MAX_TEXT = 300


@dataclass(frozen=True)
class Camera:
    """One camera in the registry. `password_env` names the variable holding the secret."""

    id: str
    name: str
    lat: float
    lon: float
    url: str
    watches: str = ""
    kind: Kind = "snapshot"
    auth: AuthKind = "none"
    username: str = ""
    password_env: str = ""
    interval_s: float = 0.0  # 0: the [cameras] default
    timeout_s: float = 0.0
    redirect_hosts: tuple[str, ...] = ()
    enabled: bool = True
    origin: Literal["config", "api"] = "api"
    ward_code: str = ""
    ward_name: str = ""

    def as_fields(self) -> dict[str, Any]:
        """The definition as the staff API and the audit log show it (no secret in it)."""
        return {
            "id": self.id,
            "name": self.name,
            "lat": self.lat,
            "lon": self.lon,
            "url": self.url,
            "watches": self.watches,
            "kind": self.kind,
            "auth": self.auth,
            "username": self.username,
            "password_env": self.password_env,
            "interval_s": self.interval_s,
            "timeout_s": self.timeout_s,
            "redirect_hosts": list(self.redirect_hosts),
            "enabled": self.enabled,
            "origin": self.origin,
            "ward": {"code": self.ward_code, "name": self.ward_name} if self.ward_code else None,
        }


# The fields a camera definition takes (config and staff API), with their checks.
FIELDS = (
    "id",
    "name",
    "lat",
    "lon",
    "url",
    "watches",
    "kind",
    "auth",
    "username",
    "password_env",
    "interval_s",
    "timeout_s",
    "redirect_hosts",
    "enabled",
)


def build_camera(raw: Mapping[str, Any], origin: Literal["config", "api"]) -> Camera:
    """A Camera from its fields, every rule checked; CameraInvalid names the field."""
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        raise CameraInvalid(unknown[0], "unknown field")
    for required in ("id", "name", "lat", "lon", "url"):
        if required not in raw:
            raise CameraInvalid(required, "required")
    camera_id = _text(raw, "id")
    if not _ID.match(camera_id):
        raise CameraInvalid("id", "letters, digits, _ . - (at most 64, starting with one)")
    name = _text(raw, "name")
    if not name.strip():
        raise CameraInvalid("name", "must not be empty")
    lat, lon = _number(raw, "lat"), _number(raw, "lon")
    if not -90 <= lat <= 90:
        raise CameraInvalid("lat", "between -90 and 90")
    if not -180 <= lon <= 180:
        raise CameraInvalid("lon", "between -180 and 180")
    url = _text(raw, "url")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CameraInvalid("url", "an http or https URL")
    if parts.username or parts.password:
        raise CameraInvalid("url", "no credentials in the URL: use username and password_env")
    kind = raw.get("kind", "snapshot")
    if kind not in KINDS:
        raise CameraInvalid("kind", f"one of {', '.join(KINDS)}")
    auth = raw.get("auth", "none")
    if auth not in AUTHS:
        raise CameraInvalid("auth", f"one of {', '.join(AUTHS)}")
    username = _text(raw, "username", "")
    password_env = _text(raw, "password_env", "")
    if auth != "none" and not (username and password_env):
        raise CameraInvalid("password_env", f"{auth} authentication needs username and it")
    if password_env and not _ENV.match(password_env):
        raise CameraInvalid("password_env", "an environment variable name")
    hosts = raw.get("redirect_hosts", ())
    if not isinstance(hosts, list | tuple) or not all(
        isinstance(h, str) and _HOST.match(h) for h in hosts
    ):
        raise CameraInvalid("redirect_hosts", "a list of host names")
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise CameraInvalid("enabled", "true or false")
    interval_s = _number(raw, "interval_s", 0.0)
    timeout_s = _number(raw, "timeout_s", 0.0)
    if interval_s and not 10 <= interval_s <= 86400:
        raise CameraInvalid("interval_s", "0 (the default) or 10 to 86400 seconds")
    if timeout_s and not 0 < timeout_s <= 120:
        raise CameraInvalid("timeout_s", "0 (the default) or up to 120 seconds")
    return Camera(
        id=camera_id,
        name=name.strip(),
        lat=lat,
        lon=lon,
        url=url,
        watches=_text(raw, "watches", "").strip(),
        kind=kind,
        auth=auth,
        username=username,
        password_env=password_env,
        interval_s=interval_s,
        timeout_s=timeout_s,
        redirect_hosts=tuple(hosts),
        enabled=enabled,
        origin=origin,
    )


def _text(raw: Mapping[str, Any], key: str, default: str | None = None) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str):
        raise CameraInvalid(key, "a string")
    if len(value) > (2000 if key == "url" else MAX_TEXT):
        raise CameraInvalid(key, "too long")
    if any(ord(c) < 32 for c in value):
        raise CameraInvalid(key, "no control characters")
    return value


def _number(raw: Mapping[str, Any], key: str, default: float | None = None) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CameraInvalid(key, "a number")
    return float(value)


# -- stills, fetches, flags -----------------------------------------------------------------


@dataclass(frozen=True)
class Still:
    """One picture a camera showed, from when it was first fetched to when last seen."""

    id: int
    camera_id: str
    fetched_at: datetime
    last_seen_at: datetime
    sha256: str
    mime: str
    width: int
    height: int
    bytes: int
    phash: str


@dataclass(frozen=True)
class Validator:
    """What a revalidation of an image is answered with: its strong ETag (the content hash;
    "-t" for the thumbnail) and the headers of the answer, built once."""

    sha256: str
    etag: str
    headers: Mapping[str, str]

    @classmethod
    def of(cls, sha256: str, thumbnail: bool, cache_control: str) -> Validator:
        etag = f'"{sha256}{"-t" if thumbnail else ""}"'
        return cls(sha256, etag, {"ETag": etag, "Cache-Control": cache_control})


@dataclass(frozen=True)
class Fetch:
    """The record of one fetch, whatever its outcome."""

    camera_id: str
    at: datetime
    status: int | None
    bytes: int
    duration_ms: float
    outcome: Outcome
    reason: str = ""
    still_id: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "at": utc_text(self.at),
            "status": self.status,
            "bytes": self.bytes,
            "duration_ms": round(self.duration_ms, 1),
            "outcome": self.outcome,
            "reason": self.reason,
            "still_id": self.still_id,
        }


@dataclass(frozen=True)
class Flag:
    name: FlagName
    since: datetime
    detail: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"flag": self.name, "since": utc_text(self.since), "detail": self.detail}


@dataclass(frozen=True)
class Thresholds:
    frozen_polls: int
    frozen_max_distance: int
    dark_max_mean: float
    uniform_max_stddev: float
    blur_min_sharpness: float


@dataclass(frozen=True)
class Measures:
    mean: float
    stddev: float
    sharpness: float


def image_flags(measures: Measures, limits: Thresholds) -> dict[FlagName, str]:
    """The picture's own flags with what was measured."""
    found: dict[FlagName, str] = {}
    if measures.mean <= limits.dark_max_mean:
        found["dark"] = f"mean brightness {measures.mean:.1f} of 255"
    if measures.stddev <= limits.uniform_max_stddev:
        found["uniform"] = f"brightness varies by {measures.stddev:.1f}"
    elif measures.sharpness < limits.blur_min_sharpness:
        # A uniform frame has no edges either: call it uniform, not also blurred.
        found["blurred"] = f"sharpness {measures.sharpness:.1f}"
    return found


@dataclass
class Sameness:
    """How long a camera has shown the same picture (by perceptual hash)."""

    phash: str = ""
    since: datetime | None = None
    polls: int = 0

    def see(self, phash: str, at: datetime, max_distance: int) -> None:
        if self.phash and hash_distance(self.phash, phash) <= max_distance:
            self.polls += 1
        else:
            self.phash, self.since, self.polls = phash, at, 1

    def frozen(self, polls: int, now: datetime) -> bool:
        """The same picture across `polls` polls, with time passing between them."""
        return self.polls >= polls and self.since is not None and now > self.since


def hash_distance(first: str, second: str) -> int:
    """Bits in which two difference hashes differ."""
    return (int(first, 16) ^ int(second, 16)).bit_count()


def merge_flags(
    current: Mapping[FlagName, Flag], holding: Mapping[FlagName, str], now: datetime
) -> dict[FlagName, Flag]:
    """Flags that hold now: those already held keep their `since`, new ones start now."""
    merged: dict[FlagName, Flag] = {}
    for name, detail in holding.items():
        before = current.get(name)
        merged[name] = Flag(name, before.since if before else now, detail)
    return merged


# -- retention ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    keep_all: timedelta
    hourly: timedelta
    max_disk_bytes: int


@dataclass(frozen=True)
class Kept:
    """A still as retention sees it: its span, its image and that image's stored size."""

    id: int
    camera_id: str
    fetched_at: datetime
    last_seen_at: datetime
    sha256: str
    stored_bytes: int  # image + thumbnail
    pinned: bool = False  # a warning carries it as evidence


@dataclass(frozen=True)
class Plan:
    delete: frozenset[int]
    protected: int
    over_cap_bytes: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


def plan_retention(
    stills: Sequence[Kept],
    windows: Mapping[str, Sequence[tuple[datetime, datetime | None]]],
    now: datetime,
    policy: Policy,
) -> Plan:
    """Which stills to delete. A still seen while an issued warning covered its camera is kept
    always, and so is a still a warning carries as evidence; otherwise all from the last
    `keep_all`, then the first of each hour up to `hourly`; then, past the disk cap, the
    oldest unprotected stills go first."""
    delete: set[int] = set()
    protected: set[int] = set()
    reasons = {"age": 0, "hourly": 0, "disk": 0}
    hours_seen: set[tuple[str, datetime]] = set()
    for still in sorted(stills, key=lambda s: (s.camera_id, s.fetched_at, s.id)):
        if still.pinned or _in_window(still, windows.get(still.camera_id, ())):
            protected.add(still.id)
            continue
        age = now - still.last_seen_at
        if age <= policy.keep_all:
            continue
        if age > policy.hourly:
            delete.add(still.id)
            reasons["age"] += 1
            continue
        hour = still.fetched_at.replace(minute=0, second=0, microsecond=0)
        if (still.camera_id, hour) in hours_seen:
            delete.add(still.id)
            reasons["hourly"] += 1
        else:
            hours_seen.add((still.camera_id, hour))
    # Disk: an image is freed when no kept still shows it any more.
    users: dict[str, int] = {}
    sizes: dict[str, int] = {}
    for still in stills:
        sizes[still.sha256] = still.stored_bytes
        if still.id not in delete:
            users[still.sha256] = users.get(still.sha256, 0) + 1
    used = sum(sizes[sha] for sha in users)
    if used > policy.max_disk_bytes:
        for still in sorted(stills, key=lambda s: (s.last_seen_at, s.id)):
            if used <= policy.max_disk_bytes:
                break
            if still.id in delete or still.id in protected:
                continue
            delete.add(still.id)
            reasons["disk"] += 1
            users[still.sha256] -= 1
            if users[still.sha256] == 0:
                used -= sizes[still.sha256]
    return Plan(
        frozenset(delete),
        len(protected),
        max(0, used - policy.max_disk_bytes),
        {k: v for k, v in reasons.items() if v},
    )


def _in_window(still: Kept, windows: Iterable[tuple[datetime, datetime | None]]) -> bool:
    return any(
        start <= still.last_seen_at and (end is None or still.fetched_at <= end)
        for start, end in windows
    )
