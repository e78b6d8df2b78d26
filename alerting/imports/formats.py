"""The upstream formats, read: CAP 1.2 documents, Atom and RSS feeds of them, NWS GeoJSON lists.

Pure functions: a payload in, alerts out. Every XML payload goes through alerting.cap's safe
parser (no DTD, so no entities; a size cap; the OASIS schema). A referenced message's sent is
kept as its sender wrote it (`Reference.sent_text`): CAP matches references as text.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import urljoin

from lxml import etree

from alerting.cap import ATOM_NS, alert_xml, cap_from_element, parse_xml
from alerting.errors import CapDocumentRefused, FeedRefused
from alerting.models import (
    CAP_NS,
    LANGUAGE_EN,
    Alert,
    Area,
    Geocode,
    Info,
    Parameter,
    Reference,
    parse_cap_time,
    polygon_from_ring,
    problems,
)
from canhbao.clock import parse_utc
from canhbao.http import short_url

_C = f"{{{CAP_NS}}}"
_A = f"{{{ATOM_NS}}}"


@dataclass(frozen=True)
class Received:
    """One CAP message read from upstream, and its document (as XML text) for staff."""

    alert: Alert
    document: str
    url: str


@dataclass(frozen=True)
class FeedLink:
    """A feed entry that links to a CAP document; `updated` as the feed gives it."""

    url: str
    updated: str


@dataclass(frozen=True)
class FeedContents:
    embedded: tuple[Received, ...] = ()
    links: tuple[FeedLink, ...] = ()
    refused: tuple[str, ...] = ()


def parse_document(data: bytes, url: str, max_bytes: int) -> Received:
    """One untrusted CAP 1.2 document; CapDocumentRefused (naming the URL) when it is unsafe
    or not CAP."""
    try:
        return _received(parse_xml(data, max_bytes), url)
    except CapDocumentRefused as err:
        raise CapDocumentRefused(f"{short_url(url)}: {err}") from None


def _received(root: etree._Element, url: str) -> Received:
    alert = cap_from_element(root)
    return Received(alert, etree.tostring(root, encoding="unicode"), url)


def parse_feed(data: bytes, url: str, max_bytes: int) -> FeedContents:
    """An Atom or RSS 2.0 feed: the CAP documents its entries embed, and links to the others.

    A bad embedded document is listed in `refused` (the rest of the feed still counts); a feed
    that is itself unsafe or not Atom/RSS raises FeedRefused.
    """
    try:
        root = parse_xml(data, max_bytes)
    except CapDocumentRefused as err:
        raise FeedRefused(f"{short_url(url)}: feed refused: {err}") from None
    channel = root.find("channel")
    if root.tag == _A + "feed":
        items = [
            (entry, _atom_link(entry), _text(entry, _A + "updated") or _text(entry, _A + "id"))
            for entry in root.findall(_A + "entry")
        ]
    elif root.tag == "rss" and channel is not None:
        items = [
            (item, _rss_link(item), _text(item, "pubDate") or _text(item, "guid"))
            for item in channel.findall("item")
        ]
    else:
        raise FeedRefused(f"{short_url(url)}: not an Atom or RSS 2.0 feed: root is {root.tag!r}")
    embedded: list[Received] = []
    links: list[FeedLink] = []
    refused: list[str] = []
    for node, link, updated in items:
        target = urljoin(url, link.strip()) if link else ""
        document = node.find(f".//{_C}alert")
        if document is not None:
            try:
                # Its own tree, so the schema sees a document and staff see only the alert.
                embedded.append(_received(copy.deepcopy(document), target or url))
            except CapDocumentRefused as err:
                refused.append(f"{short_url(target or url)}: embedded document refused: {err}")
        elif target:
            links.append(FeedLink(target, updated))
        else:
            refused.append(f"{url}: an entry with neither a CAP document nor a link")
    return FeedContents(tuple(embedded), tuple(links), tuple(refused))


def _atom_link(entry: etree._Element) -> str:
    links = entry.findall(_A + "link")
    for link in links:
        if "cap" in (link.get("type") or ""):
            return link.get("href") or ""
    for link in links:
        if link.get("rel", "alternate") == "alternate":
            return link.get("href") or ""
    return (links[0].get("href") or "") if links else ""


def _rss_link(item: etree._Element) -> str:
    for enclosure in item.findall("enclosure"):
        if "xml" in (enclosure.get("type") or ""):
            return enclosure.get("url") or ""
    return _text(item, "link")


def _text(node: etree._Element, name: str) -> str:
    child = node.find(name)
    return (child.text or "").strip() if child is not None else ""


def parse_nws(data: bytes, url: str, max_bytes: int) -> tuple[list[Received], list[str]]:
    """An NWS-style GeoJSON FeatureCollection of alerts (api.weather.gov /alerts).

    Each feature becomes a CAP Alert, written out as CAP XML and read back through the same
    schema check as any imported document; a bad feature is listed with its reason, the rest
    count. A body that is not such a collection raises FeedRefused.
    """
    if len(data) > max_bytes:
        raise FeedRefused(f"{short_url(url)}: {len(data):,} bytes, over the {max_bytes:,} limit")
    try:
        body = json.loads(data)
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise FeedRefused(f"{short_url(url)}: alert list is not JSON: {err}") from None
    features = body.get("features") if isinstance(body, dict) else None
    if not isinstance(body, dict) or body.get("type") != "FeatureCollection":
        raise FeedRefused(f"{short_url(url)}: not a GeoJSON FeatureCollection of alerts")
    if not isinstance(features, list):
        raise FeedRefused(f"{short_url(url)}: a FeatureCollection without a features list")
    received: list[Received] = []
    refused: list[str] = []
    for index, feature in enumerate(features):
        try:
            alert = nws_alert(feature)
            found = problems(alert)
            if found:
                raise ValueError("; ".join(found[:3]))
            root = parse_xml(alert_xml(alert))
            sent = _cap_time_as_written(feature["properties"].get("sent"))
            written = root.find(_C + "sent")
            if sent and written is not None:
                # alert_xml writes our +07:00; the document keeps NWS's own text, as the
                # references of its later Updates and Cancels name it.
                written.text = sent
            received.append(_received(root, url))
        except (KeyError, TypeError, ValueError, AttributeError, CapDocumentRefused) as err:
            refused.append(f"{url}: features[{index}] refused: {err}")
    return received, refused


def nws_alert(feature: Mapping[str, Any]) -> Alert:
    """One NWS-style GeoJSON alert as a CAP Alert (KeyError, TypeError or ValueError if it is
    not one)."""
    props = feature["properties"]
    if not isinstance(props, Mapping):
        raise TypeError("properties is not an object")

    def text(name: str) -> str:
        value = props.get(name)
        return "" if value is None else str(value).strip()

    def when(name: str) -> datetime | None:
        value = text(name)
        return parse_utc(value) if value else None

    geocodes = tuple(
        Geocode(str(name), str(value))
        for name, values in dict(props.get("geocode") or {}).items()
        for value in _as_list(values)
    )
    parameters = tuple(
        Parameter(str(name), str(value))
        for name, values in dict(props.get("parameters") or {}).items()
        for value in _as_list(values)
    )
    info = Info(
        language=text("language") or LANGUAGE_EN,
        categories=tuple(str(c) for c in _as_list(props.get("category")) if c),
        event=text("event"),
        response_types=tuple(str(r) for r in _as_list(props.get("response")) if r),
        urgency=text("urgency"),
        severity=text("severity"),
        certainty=text("certainty"),
        effective=when("effective"),
        onset=when("onset"),
        expires=when("expires"),
        sender_name=text("senderName"),
        headline=text("headline"),
        description=text("description"),
        instruction=text("instruction"),
        web=text("web"),
        contact=text("contact"),
        parameters=parameters,
        areas=(Area(text("areaDesc"), _nws_polygons(feature.get("geometry")), geocodes),),
    )
    return Alert(
        identifier=text("identifier") or text("id"),
        sender=text("sender"),
        sent=parse_utc(text("sent")),
        status=text("status"),
        msg_type=text("messageType"),
        scope=text("scope") or "Public",
        references=tuple(
            Reference(
                str(r["sender"]),
                str(r["identifier"]),
                parse_utc(str(r["sent"])),
                _cap_time_as_written(r["sent"]),
            )
            for r in _as_list(props.get("references"))
        ),
        infos=(info,),
    )


def _cap_time_as_written(value: Any) -> str:
    """The text of an upstream time when CAP could carry it as it is, else "" (ours is used)."""
    text = str(value).strip() if value is not None else ""
    try:
        parse_cap_time(text)
    except ValueError:
        return ""
    return text


def received_reference(alert: Alert, document: str) -> Reference:
    """How an Update or Cancel names an imported message: its sent exactly as the document
    we received wrote it."""
    sent = parse_xml(document.encode("utf-8")).findtext(_C + "sent") or ""
    return replace(alert.reference, sent_text=_cap_time_as_written(sent))


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _nws_polygons(geometry: Any) -> tuple[tuple[tuple[float, float], ...], ...]:
    """GeoJSON outer rings ([lon, lat]) as CAP polygons (lat,lon); holes cannot be said in CAP."""
    if not isinstance(geometry, Mapping):
        return ()
    kind, coordinates = geometry.get("type"), geometry.get("coordinates") or []
    if kind == "Polygon":
        return (polygon_from_ring(coordinates[0]),)
    if kind == "MultiPolygon":
        return tuple(polygon_from_ring(polygon[0]) for polygon in coordinates)
    return ()


@dataclass
class ApplyReport:
    """What one harvest did to the imports: stored, known already, skipped, applied."""

    stored: int = 0
    known: int = 0
    skipped_status: int = 0
    skipped_expired: int = 0
    updated: int = 0
    cancelled: int = 0

    @property
    def skipped(self) -> int:
        return self.skipped_status + self.skipped_expired
