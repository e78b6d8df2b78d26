"""CAP 1.2 XML out (lxml), the Atom feed of alerts in force, and safe parsing of CAP in."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from lxml import etree

from alerting.errors import CapDocumentRefused
from alerting.models import (
    CAP_NS,
    Alert,
    Area,
    Geocode,
    Info,
    Parameter,
    Reference,
    Resource,
    cap_time,
    parse_cap_time,
)

ATOM_NS = "http://www.w3.org/2005/Atom"
CAP_CONTENT_TYPE = "application/cap+xml"
ATOM_CONTENT_TYPE = "application/atom+xml"
DEFAULT_MAX_BYTES = 5_000_000
SCHEMA_PATH = Path(__file__).parent / "data" / "CAP-v1.2.xsd"

_C = f"{{{CAP_NS}}}"
_A = f"{{{ATOM_NS}}}"


# -- out ---------------------------------------------------------------------------------------


def _text(parent: etree._Element, name: str, value: str | None) -> None:
    if value:
        etree.SubElement(parent, _C + name).text = value


def alert_xml(alert: Alert) -> bytes:
    """The CAP 1.2 document for an alert (UTF-8, with an XML declaration)."""
    # The default namespace's key is None in lxml; its stubs only allow str keys.
    root = etree.Element(_C + "alert", nsmap={None: CAP_NS})  # type: ignore[dict-item]
    _text(root, "identifier", alert.identifier)
    _text(root, "sender", alert.sender)
    _text(root, "sent", cap_time(alert.sent))
    _text(root, "status", alert.status)
    _text(root, "msgType", alert.msg_type)
    _text(root, "source", alert.source)
    _text(root, "scope", alert.scope)
    _text(root, "restriction", alert.restriction)
    for code in alert.codes:
        _text(root, "code", code)
    _text(root, "note", alert.note)
    if alert.references:
        _text(root, "references", " ".join(r.text for r in alert.references))
    _text(root, "incidents", alert.incidents)
    for info in alert.infos:
        _info_xml(root, info)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _info_xml(root: etree._Element, info: Info) -> None:
    element = etree.SubElement(root, _C + "info")
    _text(element, "language", info.language)
    for category in info.categories:
        _text(element, "category", category)
    _text(element, "event", info.event)
    for response in info.response_types:
        _text(element, "responseType", response)
    _text(element, "urgency", info.urgency)
    _text(element, "severity", info.severity)
    _text(element, "certainty", info.certainty)
    for name, moment in (
        ("effective", info.effective),
        ("onset", info.onset),
        ("expires", info.expires),
    ):
        if moment is not None:
            _text(element, name, cap_time(moment))
    for name, value in (
        ("senderName", info.sender_name),
        ("headline", info.headline),
        ("description", info.description),
        ("instruction", info.instruction),
        ("web", info.web),
        ("contact", info.contact),
    ):
        _text(element, name, value)
    for parameter in info.parameters:
        _pair(element, "parameter", parameter.name, parameter.value)
    for resource in info.resources:
        node = etree.SubElement(element, _C + "resource")
        _text(node, "resourceDesc", resource.description)
        _text(node, "mimeType", resource.mime_type)
        if resource.size is not None:
            _text(node, "size", str(resource.size))
        _text(node, "uri", resource.uri)
        _text(node, "digest", resource.digest)
    for area in info.areas:
        node = etree.SubElement(element, _C + "area")
        _text(node, "areaDesc", area.description)
        for polygon in area.polygons:
            _text(node, "polygon", " ".join(f"{lat:.6f},{lon:.6f}" for lat, lon in polygon))
        for circle in area.circles:
            _text(node, "circle", circle)
        for geocode in area.geocodes:
            _pair(node, "geocode", geocode.name, geocode.value)


def _pair(parent: etree._Element, name: str, value_name: str, value: str) -> None:
    node = etree.SubElement(parent, _C + name)
    etree.SubElement(node, _C + "valueName").text = value_name
    etree.SubElement(node, _C + "value").text = value


@dataclass(frozen=True)
class FeedEntry:
    identifier: str
    title: str
    updated: datetime
    url: str


def atom_feed(
    entries: Sequence[FeedEntry], *, feed_id: str, title: str, author: str, self_url: str,
    updated: datetime,
) -> bytes:  # fmt: skip
    """An Atom feed whose entries link to CAP documents (the shape of atom.xsd)."""
    root = etree.Element(_A + "feed", nsmap={None: ATOM_NS})  # type: ignore[dict-item]  # as above
    etree.SubElement(root, _A + "id").text = feed_id
    etree.SubElement(root, _A + "title").text = title
    etree.SubElement(root, _A + "updated").text = cap_time(updated)
    etree.SubElement(root, _A + "generator").text = "canhbao"
    person = etree.SubElement(root, _A + "author")
    etree.SubElement(person, _A + "name").text = author
    etree.SubElement(root, _A + "link", href=self_url, rel="self", type=ATOM_CONTENT_TYPE)
    for entry in entries:
        node = etree.SubElement(root, _A + "entry")
        etree.SubElement(node, _A + "title").text = entry.title
        etree.SubElement(node, _A + "id").text = entry.url
        etree.SubElement(node, _A + "link", href=entry.url, rel="alternate", type=CAP_CONTENT_TYPE)
        etree.SubElement(node, _A + "updated").text = cap_time(entry.updated)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


# -- in ----------------------------------------------------------------------------------------


def _parser() -> etree.XMLParser:
    # No DTD loading, no entity expansion, no network, no huge-tree mode (its limits stop
    # deeply nested or oversized nodes): the hostile-XML defences, one by one.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        dtd_validation=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse_xml(data: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> etree._Element:
    """Parse an untrusted XML document, refusing any DTD (so any entity) and oversize input."""
    if len(data) > max_bytes:
        raise CapDocumentRefused(f"document is {len(data):,} bytes, over the {max_bytes:,} limit")
    # A DOCTYPE is the only way to declare entities; CAP needs none, so none is accepted.
    # The byte check catches it before libxml2 reads it; docinfo catches other encodings.
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise CapDocumentRefused("document declares a DTD or entities; refused")
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as err:
        raise CapDocumentRefused(f"not well-formed XML: {err}") from None
    tree = root.getroottree()
    docinfo = tree.docinfo
    if docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise CapDocumentRefused("document declares a DTD or entities; refused")
    return root


@functools.cache
def cap_schema() -> etree.XMLSchema:
    """The OASIS schema, read once (it is our own file: no untrusted input here)."""
    return etree.XMLSchema(etree.parse(str(SCHEMA_PATH), parser=_parser()))


def parse_cap(data: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> Alert:
    """An untrusted CAP 1.2 document as an Alert; CapDocumentRefused when it is not one."""
    return cap_from_element(parse_xml(data, max_bytes))


def cap_from_element(root: etree._Element) -> Alert:
    """An Alert from a parsed <alert>, after checking it against the OASIS schema."""
    if root.tag != _C + "alert":
        raise CapDocumentRefused(f"not a CAP 1.2 alert: root element is {root.tag!r}")
    schema = cap_schema()
    if not schema.validate(root):
        reason = str(schema.error_log).splitlines()[0] if str(schema.error_log) else "schema"
        raise CapDocumentRefused(f"not valid CAP 1.2: {reason}")
    try:
        return Alert(
            identifier=_one(root, "identifier"),
            sender=_one(root, "sender"),
            sent=parse_cap_time(_one(root, "sent")),
            status=_one(root, "status"),
            msg_type=_one(root, "msgType"),
            scope=_one(root, "scope"),
            source=_opt(root, "source"),
            restriction=_opt(root, "restriction"),
            note=_opt(root, "note"),
            incidents=_opt(root, "incidents"),
            codes=tuple(_all(root, "code")),
            references=tuple(Reference.parse(r) for r in _opt(root, "references").split()),
            infos=tuple(_info(node) for node in root.findall(_C + "info")),
        )
    except ValueError as err:
        raise CapDocumentRefused(f"not a valid CAP 1.2 alert: {err}") from None


def _info(node: etree._Element) -> Info:
    def when(name: str) -> datetime | None:
        value = _opt(node, name)
        return parse_cap_time(value) if value else None

    return Info(
        language=_opt(node, "language") or "en-US",  # CAP's default
        categories=tuple(_all(node, "category")),
        event=_one(node, "event"),
        response_types=tuple(_all(node, "responseType")),
        urgency=_one(node, "urgency"),
        severity=_one(node, "severity"),
        certainty=_one(node, "certainty"),
        effective=when("effective"),
        onset=when("onset"),
        expires=when("expires"),
        sender_name=_opt(node, "senderName"),
        headline=_opt(node, "headline"),
        description=_opt(node, "description"),
        instruction=_opt(node, "instruction"),
        web=_opt(node, "web"),
        contact=_opt(node, "contact"),
        parameters=tuple(Parameter(*_pair_of(p)) for p in node.findall(_C + "parameter")),
        resources=tuple(
            Resource(
                description=_one(r, "resourceDesc"),
                mime_type=_one(r, "mimeType"),
                size=int(_opt(r, "size")) if _opt(r, "size") else None,
                uri=_opt(r, "uri") or None,
                digest=_opt(r, "digest") or None,
            )
            for r in node.findall(_C + "resource")
        ),
        areas=tuple(
            Area(
                description=_one(a, "areaDesc"),
                # A malformed polygon (real feeds truncate them: "-2.95268...") is dropped; the
                # area's description and geocodes still say where.
                polygons=tuple(p for p in map(_polygon, _all(a, "polygon")) if p is not None),
                circles=tuple(_all(a, "circle")),
                geocodes=tuple(Geocode(*_pair_of(g)) for g in a.findall(_C + "geocode")),
            )
            for a in node.findall(_C + "area")
        ),
    )


def _polygon(text: str) -> tuple[tuple[float, float], ...] | None:
    points = []
    try:
        for pair in text.split():
            lat, lon = pair.split(",")
            points.append((float(lat), float(lon)))
    except ValueError:
        return None
    return tuple(points)


def _pair_of(node: etree._Element) -> tuple[str, str]:
    return _one(node, "valueName"), _opt(node, "value")


def _all(node: etree._Element, name: str) -> list[str]:
    return [(child.text or "").strip() for child in node.findall(_C + name)]


def _opt(node: etree._Element, name: str) -> str:
    child = node.find(_C + name)
    return (child.text or "").strip() if child is not None else ""


def _one(node: etree._Element, name: str) -> str:
    value = _opt(node, name)
    if not value:
        raise ValueError(f"<{name}> is required")
    return value
