"""The alert as JSON: its stored form (read back as staff write drafts), the names a body may
use, and the one-block view the citizen app shows."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from alerting.models import (
    LANGUAGE_VI,
    Alert,
    Area,
    Geocode,
    Info,
    Parameter,
    Reference,
    Resource,
    cap_time,
)
from canhbao.clock import parse_utc, utc_text


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


_ALERT_KEYS = frozenset(
    {
        "identifier", "sender", "sent", "status", "msgType", "scope", "references", "source",
        "restriction", "note", "incidents", "codes", "info",
    }
)  # fmt: skip
_INFO_KEYS = frozenset(
    {
        "language", "category", "event", "responseType", "urgency", "severity", "certainty",
        "effective", "onset", "expires", "senderName", "headline", "description",
        "instruction", "web", "contact", "parameter", "resource", "area",
    }
)  # fmt: skip
_NESTED_KEYS = {
    "references": frozenset({"sender", "identifier", "sent", "sent_text"}),
    "parameter": frozenset({"valueName", "value"}),
    "resource": frozenset({"resourceDesc", "mimeType", "uri", "size", "digest"}),
    "area": frozenset({"areaDesc", "polygon", "circle", "geocode"}),
    "geocode": frozenset({"valueName", "value"}),
}


def unknown_fields(data: Mapping[str, Any], extra: frozenset[str] = frozenset()) -> list[str]:
    """Paths of the keys in an alert dict (as alert_to_dict writes it) that it does not have:
    a misspelt field would otherwise be dropped without a word ("info[0].headLine")."""
    found = [key for key in data if key not in _ALERT_KEYS | extra]

    def nested(items: Any, kind: str, where: str) -> None:
        for i, item in enumerate(items if isinstance(items, list) else []):
            if isinstance(item, Mapping):
                path = f"{where}{kind}[{i}]"
                found.extend(f"{path}.{key}" for key in item if key not in _NESTED_KEYS[kind])
                if kind == "area":
                    nested(item.get("geocode"), "geocode", f"{path}.")

    nested(data.get("references"), "references", "")
    infos = data.get("info")
    for i, info in enumerate(infos if isinstance(infos, list) else []):
        if not isinstance(info, Mapping):
            continue
        found.extend(f"info[{i}].{key}" for key in info if key not in _INFO_KEYS)
        for kind in ("parameter", "resource", "area"):
            nested(info.get(kind), kind, f"info[{i}].")
    return found


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
