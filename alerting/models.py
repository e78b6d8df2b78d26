"""The CAP 1.2 alert in our profile: frozen dataclasses, the profile's rules, pure helpers."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

import shapely

from alerting.errors import InvalidAlert
from canhbao.clock import LOCAL_TZ, parse_utc, utc_text

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"

Status = Literal["Actual", "Exercise", "System", "Test", "Draft"]
MsgType = Literal["Alert", "Update", "Cancel", "Ack", "Error"]
Scope = Literal["Public", "Restricted", "Private"]
STATUSES: tuple[str, ...] = get_args(Status)
MSG_TYPES: tuple[str, ...] = get_args(MsgType)
SCOPES: tuple[str, ...] = get_args(Scope)
CATEGORIES = (
    "Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env", "Transport",
    "Infra", "CBRNE", "Other",
)  # fmt: skip
RESPONSE_TYPES = (
    "Shelter", "Evacuate", "Prepare", "Execute", "Avoid", "Monitor", "Assess", "AllClear", "None",
)  # fmt: skip
URGENCIES = ("Immediate", "Expected", "Future", "Past", "Unknown")
SEVERITIES = ("Extreme", "Severe", "Moderate", "Minor", "Unknown")
CERTAINTIES = ("Observed", "Likely", "Possible", "Unlikely", "Unknown")

# Our profile (see DESIGN.md): what an alert we issue must carry.
LANGUAGE_VI = "vi-VN"
LANGUAGE_EN = "en-US"
OUR_LANGUAGES = (LANGUAGE_VI, LANGUAGE_EN)
HEADLINE_MAX = 160
POLYGON_MAX_POINTS = 250
# Parameter names our profile uses (valueName); other systems' parameters pass through.
PARAM_RISK_LEVEL = "cap_do_rui_ro"  # disaster risk level 1-5 (QĐ 18/2021/QĐ-TTg)
PARAM_BAO_DONG = "bao_dong"  # river alarm band I-III (QĐ 05/2020/QĐ-TTg)
PARAM_STATIONS = "station_ids"
GEOCODE_WARD = "ward"  # geocode valueName for our area codes

# CAP forbids these in identifier and sender (they separate references).
_ID_FORBIDDEN = re.compile(r"[\s,<&]")
_CAP_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d$")

Point = tuple[float, float]  # (lat, lon): CAP's order, the reverse of GeoJSON


@dataclass(frozen=True)
class Reference:
    """A message an Update or Cancel supersedes: CAP's "sender,identifier,sent".

    `sent_text` is the referenced message's sent exactly as it was written: CAP matches
    references as text, so another system's "2026-05-28T11:00:02-00:00" must go back out as
    that, not as the same moment in +07:00. Empty for references to our own messages (written
    in our form). It is not compared: the same message, however its time was written.
    """

    sender: str
    identifier: str
    sent: datetime
    sent_text: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        _whole_seconds(self, "sent")
        # Both sides in whole seconds (CAP's text has no fraction), so an instant stored with
        # microseconds by an older version still matches its text.
        if self.sent_text and parse_cap_time(self.sent_text) != self.sent:
            raise ValueError(f"sent_text {self.sent_text!r} is not the moment {self.sent}")

    @property
    def text(self) -> str:
        return f"{self.sender},{self.identifier},{self.sent_text or cap_time(self.sent)}"

    @classmethod
    def parse(cls, text: str) -> Reference:
        parts = text.split(",")
        if len(parts) != 3:
            raise ValueError(f"a reference is sender,identifier,sent: {text!r}")
        sent = parts[2].strip()
        return cls(parts[0], parts[1], parse_cap_time(sent), sent)


@dataclass(frozen=True)
class Parameter:
    name: str
    value: str


@dataclass(frozen=True)
class Geocode:
    name: str
    value: str


@dataclass(frozen=True)
class Resource:
    """A file that goes with the alert (a camera still inside the area)."""

    description: str
    mime_type: str
    uri: str | None = None
    size: int | None = None
    digest: str | None = None  # SHA-1, hex (CAP 1.2)


@dataclass(frozen=True)
class Area:
    description: str
    polygons: tuple[tuple[Point, ...], ...] = ()
    geocodes: tuple[Geocode, ...] = ()
    circles: tuple[str, ...] = ()

    @property
    def ward_codes(self) -> tuple[str, ...]:
        return tuple(g.value for g in self.geocodes if g.name == GEOCODE_WARD)


@dataclass(frozen=True)
class Info:
    language: str
    categories: tuple[str, ...]
    event: str
    urgency: str
    severity: str
    certainty: str
    response_types: tuple[str, ...] = ()
    effective: datetime | None = None
    onset: datetime | None = None
    expires: datetime | None = None
    sender_name: str = ""
    headline: str = ""
    description: str = ""
    instruction: str = ""
    web: str = ""
    contact: str = ""
    parameters: tuple[Parameter, ...] = ()
    resources: tuple[Resource, ...] = ()
    areas: tuple[Area, ...] = ()

    def __post_init__(self) -> None:
        _whole_seconds(self, "effective", "onset", "expires")

    def parameter(self, name: str) -> str | None:
        return next((p.value for p in self.parameters if p.name == name), None)


@dataclass(frozen=True)
class Alert:
    identifier: str
    sender: str
    sent: datetime
    status: str
    msg_type: str
    scope: str = "Public"
    references: tuple[Reference, ...] = ()
    infos: tuple[Info, ...] = ()
    source: str = ""
    restriction: str = ""
    note: str = ""
    incidents: str = ""
    codes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _whole_seconds(self, "sent")

    @property
    def reference(self) -> Reference:
        """How an Update or Cancel of this message names it."""
        return Reference(self.sender, self.identifier, self.sent)

    @property
    def key(self) -> tuple[str, str, str]:
        """(sender, identifier, sent): what makes a CAP message unique among systems."""
        return self.sender, self.identifier, cap_time(self.sent)

    @property
    def expires(self) -> datetime | None:
        times = [info.expires for info in self.infos if info.expires is not None]
        return max(times) if times else None

    def info(self, language: str = LANGUAGE_VI) -> Info | None:
        """The info block in a language ("vi", "en-US", ...), else the first one."""
        prefix = language.split("-")[0].lower()
        for info in self.infos:
            if info.language.lower() == language.lower():
                return info
        for info in self.infos:
            if info.language.split("-")[0].lower() == prefix:
                return info
        return self.infos[0] if self.infos else None


@dataclass(frozen=True)
class Profile:
    """The rules of our profile that the configuration sets."""

    max_expiry: timedelta = timedelta(hours=24)
    require_scope_public: bool = True


# -- time ------------------------------------------------------------------------------------


def whole_seconds(moment: datetime) -> datetime:
    """A moment as CAP can write it: the fraction of a second dropped (truncated)."""
    return moment.replace(microsecond=0) if moment.microsecond else moment


def _whole_seconds(item: object, *names: str) -> None:
    """Truncate these datetime fields of a frozen dataclass as it is made: every CAP time we
    hold is whole seconds, so the instant we keep and the text CAP writes are the same."""
    for name in names:
        moment = getattr(item, name)
        if isinstance(moment, datetime) and moment.microsecond:
            object.__setattr__(item, name, moment.replace(microsecond=0))


def cap_time(moment: datetime) -> str:
    """CAP's dateTime: local time (+07:00), whole seconds, never "Z"."""
    if moment.tzinfo is None:
        raise ValueError("CAP times must be timezone-aware")
    return moment.astimezone(LOCAL_TZ).replace(microsecond=0).isoformat()


def parse_cap_time(text: str) -> datetime:
    text = text.strip()
    if not _CAP_TIME.match(text):
        raise ValueError(f"not a CAP dateTime (YYYY-MM-DDThh:mm:ss+hh:mm): {text!r}")
    return parse_utc(text)


def format_identifier(prefix: str, at: datetime, seq: int) -> str:
    """`<prefix>.<yyyymmddHHMMSS>.<seq>`, the time in Vietnam's zone."""
    return f"{prefix}.{at.astimezone(LOCAL_TZ):%Y%m%d%H%M%S}.{seq}"


# -- the profile's rules ---------------------------------------------------------------------


def problems(alert: Alert, profile: Profile | None = None) -> list[str]:
    """Every rule the alert breaks: CAP 1.2's, and ours when a profile is given."""
    found: list[str] = []
    for name, value in (("identifier", alert.identifier), ("sender", alert.sender)):
        if not value or _ID_FORBIDDEN.search(value):
            found.append(f"{name}: required, without spaces, commas, < or &")
    if alert.sent.tzinfo is None:
        found.append("sent: needs a time zone")
    _choice(found, "status", alert.status, STATUSES)
    _choice(found, "msgType", alert.msg_type, MSG_TYPES)
    _choice(found, "scope", alert.scope, SCOPES)
    if alert.scope == "Restricted" and not alert.restriction:
        found.append("restriction: required when scope is Restricted")
    if alert.msg_type in ("Update", "Cancel", "Ack", "Error") and not alert.references:
        found.append(f"references: an {alert.msg_type} must name what it refers to")
    for i, info in enumerate(alert.infos):
        found.extend(_info_problems(info, f"info[{i}]", alert, profile))
    if profile is None:
        return found
    if profile.require_scope_public and alert.scope != "Public":
        found.append("scope: our warnings are Public")
    # An Alert may name another authority's message it re-issues (an import), never one of ours.
    if alert.msg_type == "Alert" and any(r.sender == alert.sender for r in alert.references):
        found.append("references: a new Alert supersedes nothing; make it an Update")
    languages = [info.language for info in alert.infos]
    if LANGUAGE_VI not in languages:
        found.append("info: a vi-VN block is required")
    for language in languages:
        if language not in OUR_LANGUAGES:
            found.append(f"info.language: {language!r} is not one of {', '.join(OUR_LANGUAGES)}")
    if len(set(languages)) != len(languages):
        found.append("info.language: one block per language")
    return found


def _info_problems(info: Info, where: str, alert: Alert, profile: Profile | None) -> list[str]:
    found: list[str] = []
    if not info.categories:
        found.append(f"{where}.category: at least one")
    for category in info.categories:
        _choice(found, f"{where}.category", category, CATEGORIES)
    for response in info.response_types:
        _choice(found, f"{where}.responseType", response, RESPONSE_TYPES)
    if not info.event.strip():
        found.append(f"{where}.event: required")
    _choice(found, f"{where}.urgency", info.urgency, URGENCIES)
    _choice(found, f"{where}.severity", info.severity, SEVERITIES)
    _choice(found, f"{where}.certainty", info.certainty, CERTAINTIES)
    for i, area in enumerate(info.areas):
        if not area.description.strip():
            found.append(f"{where}.area[{i}].areaDesc: required")
        for j, polygon in enumerate(area.polygons):
            found.extend(_polygon_problems(polygon, f"{where}.area[{i}].polygon[{j}]", profile))
    for i, resource in enumerate(info.resources):
        if not resource.description or not resource.mime_type:
            found.append(f"{where}.resource[{i}]: resourceDesc and mimeType are required")
    if profile is None:
        return found
    if not info.response_types:
        found.append(f"{where}.responseType: required in our profile")
    if not info.instruction.strip():
        found.append(f"{where}.instruction: required in our profile")
    if not info.headline.strip():
        found.append(f"{where}.headline: required in our profile")
    if len(info.headline) > HEADLINE_MAX:
        found.append(f"{where}.headline: {len(info.headline)} characters, over {HEADLINE_MAX}")
    if not info.areas:
        found.append(f"{where}.area: at least one")
    for i, area in enumerate(info.areas):
        if not area.polygons and not area.ward_codes:
            # Delivery targets polygons and wards only: an area without either warns no one.
            found.append(
                f"{where}.area[{i}]: {area.description or 'this area'!r} has neither a polygon"
                " nor a ward code, so the warning would reach no one there"
            )
    if info.expires is None:
        found.append(f"{where}.expires: required in our profile")
    else:
        start = info.effective or alert.sent
        if info.expires <= start:
            found.append(f"{where}.expires: must be after effective/sent")
        elif info.expires - alert.sent > profile.max_expiry:
            hours = profile.max_expiry.total_seconds() / 3600
            found.append(f"{where}.expires: at most {hours:g} h after sent")
    risk = info.parameter(PARAM_RISK_LEVEL)
    if risk is not None and risk not in {"1", "2", "3", "4", "5"}:
        found.append(f"{where}.parameter {PARAM_RISK_LEVEL}: 1 to 5")
    band = info.parameter(PARAM_BAO_DONG)
    if band is not None and band not in {"I", "II", "III"}:
        found.append(f"{where}.parameter {PARAM_BAO_DONG}: I, II or III")
    return found


def _polygon_problems(polygon: Sequence[Point], where: str, profile: Profile | None) -> list[str]:
    found: list[str] = []
    if len(polygon) < 4:
        found.append(f"{where}: at least 4 points")
    elif polygon[0] != polygon[-1]:
        found.append(f"{where}: must be closed (first point = last point)")
    if profile is not None and len(polygon) > POLYGON_MAX_POINTS:
        found.append(f"{where}: {len(polygon)} points, over {POLYGON_MAX_POINTS}")
    for lat, lon in polygon:
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            found.append(f"{where}: ({lat}, {lon}) is not a lat,lon pair")
            break
    return found


def _choice(found: list[str], where: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        found.append(f"{where}: {value!r} is not one of {', '.join(allowed)}")


def check_alert(alert: Alert, profile: Profile | None = None) -> Alert:
    """The alert, or InvalidAlert listing every problem."""
    found = problems(alert, profile)
    if found:
        raise InvalidAlert(found)
    return alert


def covers_point(alert: Alert, lon: float, lat: float) -> bool:
    """Whether a point lies in (or on the edge of) one of the alert's polygons."""
    info = alert.info(LANGUAGE_VI)
    point = shapely.Point(lon, lat)
    for area in info.areas if info else ():
        for polygon in area.polygons:
            if shapely.Polygon([(x, y) for y, x in polygon]).covers(point):
                return True
    return False


def in_force(alert: Alert, now: datetime) -> bool:
    """Issued, effective and not yet expired (state is checked by the store)."""
    if alert.msg_type == "Cancel":
        return False
    expires = alert.expires
    started = all(info.effective is None or info.effective <= now for info in alert.infos)
    return started and (expires is None or expires > now)


def polygon_from_ring(ring: Sequence[Sequence[float]]) -> tuple[Point, ...]:
    """A GeoJSON ring ([lon, lat] pairs) as a CAP polygon ((lat, lon) pairs), closed."""
    points = tuple((round(float(p[1]), 6), round(float(p[0]), 6)) for p in ring)
    if points and points[0] != points[-1]:
        points = (*points, points[0])
    return points


def with_times(alert: Alert, *, sent: datetime, expires: datetime | None = None) -> Alert:
    """The alert stamped at `sent`; effective moves with it, and expires when given."""
    infos = tuple(
        replace(
            info,
            effective=sent if info.effective is None or info.effective < sent else info.effective,
            expires=expires or info.expires,
        )
        for info in alert.infos
    )
    return replace(alert, sent=sent, infos=infos)


# -- stored form (JSON) ----------------------------------------------------------------------


def alert_to_dict(alert: Alert) -> dict[str, Any]:
    return {
        "identifier": alert.identifier,
        "sender": alert.sender,
        "sent": utc_text(alert.sent),
        "status": alert.status,
        "msgType": alert.msg_type,
        "scope": alert.scope,
        "references": [
            {
                "sender": r.sender,
                "identifier": r.identifier,
                "sent": utc_text(r.sent),
                # As CAP writes it: upstream references keep the referenced message's own text.
                "sent_text": r.sent_text or cap_time(r.sent),
            }
            for r in alert.references
        ],
        "source": alert.source,
        "restriction": alert.restriction,
        "note": alert.note,
        "incidents": alert.incidents,
        "codes": list(alert.codes),
        "info": [_info_to_dict(info) for info in alert.infos],
    }


def _time(moment: datetime | None) -> str | None:
    return utc_text(moment) if moment is not None else None


def _info_to_dict(info: Info) -> dict[str, Any]:
    return {
        "language": info.language,
        "category": list(info.categories),
        "event": info.event,
        "responseType": list(info.response_types),
        "urgency": info.urgency,
        "severity": info.severity,
        "certainty": info.certainty,
        "effective": _time(info.effective),
        "onset": _time(info.onset),
        "expires": _time(info.expires),
        "senderName": info.sender_name,
        "headline": info.headline,
        "description": info.description,
        "instruction": info.instruction,
        "web": info.web,
        "contact": info.contact,
        "parameter": [{"valueName": p.name, "value": p.value} for p in info.parameters],
        "resource": [
            {
                "resourceDesc": r.description,
                "mimeType": r.mime_type,
                "uri": r.uri,
                "size": r.size,
                "digest": r.digest,
            }
            for r in info.resources
        ],
        "area": [
            {
                "areaDesc": a.description,
                "polygon": [[list(p) for p in polygon] for polygon in a.polygons],
                "circle": list(a.circles),
                "geocode": [{"valueName": g.name, "value": g.value} for g in a.geocodes],
            }
            for a in info.areas
        ],
    }


def alert_from_dict(data: Mapping[str, Any], *, sent: datetime | None = None) -> Alert:
    """The inverse of alert_to_dict; also reads a draft staff send, given `sent`
    (KeyError, TypeError or ValueError when a field is missing or malformed)."""
    return Alert(
        identifier=str(data.get("identifier", "")),
        sender=str(data.get("sender", "")),
        sent=sent if sent is not None else parse_utc(data["sent"]),
        status=str(data.get("status", "Actual")),
        msg_type=str(data.get("msgType", "Alert")),
        scope=str(data.get("scope", "Public")),
        references=tuple(
            Reference(
                str(r["sender"]),
                str(r["identifier"]),
                parse_utc(r["sent"]),
                str(r.get("sent_text") or ""),
            )
            for r in data.get("references", [])
        ),
        source=str(data.get("source", "")),
        restriction=str(data.get("restriction", "")),
        note=str(data.get("note", "")),
        incidents=str(data.get("incidents", "")),
        codes=tuple(str(c) for c in data.get("codes", [])),
        infos=tuple(info_from_dict(info) for info in data.get("info", [])),
    )


def _opt_time(value: Any) -> datetime | None:
    return parse_utc(value) if value else None


def info_from_dict(data: Mapping[str, Any]) -> Info:
    return Info(
        language=str(data.get("language", LANGUAGE_VI)),
        categories=tuple(str(c) for c in data.get("category", [])),
        event=str(data.get("event", "")),
        response_types=tuple(str(r) for r in data.get("responseType", [])),
        urgency=str(data.get("urgency", "")),
        severity=str(data.get("severity", "")),
        certainty=str(data.get("certainty", "")),
        effective=_opt_time(data.get("effective")),
        onset=_opt_time(data.get("onset")),
        expires=_opt_time(data.get("expires")),
        sender_name=str(data.get("senderName", "")),
        headline=str(data.get("headline", "")),
        description=str(data.get("description", "")),
        instruction=str(data.get("instruction", "")),
        web=str(data.get("web", "")),
        contact=str(data.get("contact", "")),
        parameters=tuple(
            Parameter(str(p["valueName"]), str(p["value"])) for p in data.get("parameter", [])
        ),
        resources=tuple(
            Resource(
                description=str(r["resourceDesc"]),
                mime_type=str(r["mimeType"]),
                uri=r.get("uri"),
                size=int(r["size"]) if r.get("size") is not None else None,
                digest=r.get("digest"),
            )
            for r in data.get("resource", [])
        ),
        areas=tuple(
            Area(
                description=str(a.get("areaDesc", "")),
                polygons=tuple(
                    tuple((float(p[0]), float(p[1])) for p in polygon)
                    for polygon in a.get("polygon", [])
                ),
                circles=tuple(str(c) for c in a.get("circle", [])),
                geocodes=tuple(
                    Geocode(str(g["valueName"]), str(g["value"])) for g in a.get("geocode", [])
                ),
            )
            for a in data.get("area", [])
        ),
    )


def public_view(alert: Alert, language: str) -> dict[str, Any]:
    """What the citizen app shows: one info block, in the device's language when we have it."""
    info = alert.info(language)
    view: dict[str, Any] = {
        "identifier": alert.identifier,
        "sender": alert.sender,
        "sent": cap_time(alert.sent),
        "status": alert.status,
        "msgType": alert.msg_type,
        "references": [r.text for r in alert.references],
    }
    if info is not None:
        view.update(
            {
                "language": info.language,
                "event": info.event,
                "urgency": info.urgency,
                "severity": info.severity,
                "certainty": info.certainty,
                "responseType": list(info.response_types),
                "headline": info.headline,
                "description": info.description,
                "instruction": info.instruction,
                "senderName": info.sender_name,
                "contact": info.contact,
                "web": info.web,
                "effective": cap_time(info.effective) if info.effective else None,
                "expires": cap_time(info.expires) if info.expires else None,
                "parameters": {p.name: p.value for p in info.parameters},
                "areas": [
                    {
                        "areaDesc": a.description,
                        "wards": list(a.ward_codes),
                        "polygons": [[list(p) for p in polygon] for polygon in a.polygons],
                    }
                    for a in info.areas
                ],
                # Attached files (camera stills as evidence): what the public page shows.
                "resources": [
                    {"description": r.description, "mimeType": r.mime_type, "uri": r.uri}
                    for r in info.resources
                    if r.uri
                ],
            }
        )
    return view
