"""CAP import: upstream CAP feeds, documents and NWS GeoJSON alert lists, polled and kept for staff.

Three parts. The parsers (`parse_feed`, `parse_document`, `parse_nws`) are pure: a payload in,
alerts out, every XML payload through alerting.cap's safe parser (no DTD, so no entities; a size
cap; the OASIS schema). An `ImportSource` runs one configured upstream the way feeds/poller.py
runs a feed: a timeout, a size cap enforced while the body streams in, conditional requests,
backoff, an outage logged once and its recovery once, and its state for staff and /healthz. The
`Importer` keeps what the sources bring: deduplicated on (sender, identifier, sent), Update and
Cancel applied to the messages they reference, expired and non-Actual messages skipped unless
configured; and it re-issues an import as our own draft, which then needs the usual two-person
approval before anyone is warned.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import aiohttp
import aiosqlite
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from lxml import etree

from alerting import store
from alerting.cap import ATOM_NS, alert_xml, cap_from_element, parse_cap, parse_xml
from alerting.errors import (
    AlertingError,
    CapDocumentRefused,
    FeedRefused,
    ImportNotFound,
    ReissueRefused,
    UpstreamUnavailable,
)
from alerting.models import (
    CAP_NS,
    LANGUAGE_EN,
    LANGUAGE_VI,
    STATUSES,
    Alert,
    Area,
    Geocode,
    Info,
    Parameter,
    Reference,
    alert_to_dict,
    cap_time,
    polygon_from_ring,
    problems,
)
from alerting.store import ImportState, StoredAlert, StoredImport
from alerting.workflow import Workflow
from canhbao import keys
from canhbao.audit import record_audit
from canhbao.clock import Clock, parse_utc, utc_text
from canhbao.config import AlertingConfig, ImportSourceConfig
from canhbao.db import Database
from canhbao.errors import ConfigError
from canhbao.health import HealthRegistry

log = logging.getLogger(__name__)

KINDS = ("cap-atom", "cap", "nws-geojson")
AUDIT_ENTITY = "alert_import"
_C = f"{{{CAP_NS}}}"
_A = f"{{{ATOM_NS}}}"
_CHUNK = 65536
_ACCEPT = {
    "cap-atom": "application/atom+xml, application/rss+xml, application/xml;q=0.9, text/xml;q=0.8",
    "cap": "application/cap+xml, application/xml;q=0.9, text/xml;q=0.8",
    "nws-geojson": "application/geo+json, application/json;q=0.9",
}
# What an upstream answers when it is down for maintenance or behind a login page: never a feed.
_HTML_TYPES = ("text/html", "application/xhtml+xml")
# Texts of a vi-VN block staff must still write when the import has no Vietnamese; the
# workflow refuses to submit while a placeholder is left (templates.unfilled).
VI_PLACEHOLDERS = {
    "event": "{su_kien}",
    "headline": "{tieu_de}",
    "description": "{mo_ta}",
    "instruction": "{huong_dan}",
}
_MAX_LOGGED_REFUSALS = 200
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


# -- parsing (pure) ------------------------------------------------------------------------------


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
        raise CapDocumentRefused(f"{_short(url)}: {err}") from None


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
        raise FeedRefused(f"{_short(url)}: feed refused: {err}") from None
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
        raise FeedRefused(f"{_short(url)}: not an Atom or RSS 2.0 feed: root is {root.tag!r}")
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
                refused.append(f"{_short(target or url)}: embedded document refused: {err}")
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
        raise FeedRefused(f"{_short(url)}: {len(data):,} bytes, over the {max_bytes:,} limit")
    try:
        body = json.loads(data)
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise FeedRefused(f"{_short(url)}: alert list is not JSON: {err}") from None
    features = body.get("features") if isinstance(body, dict) else None
    if not isinstance(body, dict) or body.get("type") != "FeatureCollection":
        raise FeedRefused(f"{_short(url)}: not a GeoJSON FeatureCollection of alerts")
    if not isinstance(features, list):
        raise FeedRefused(f"{_short(url)}: a FeatureCollection without a features list")
    received: list[Received] = []
    refused: list[str] = []
    for index, feature in enumerate(features):
        try:
            alert = nws_alert(feature)
            found = problems(alert)
            if found:
                raise ValueError("; ".join(found[:3]))
            document = alert_xml(alert)
            parsed = parse_cap(document, len(document))
            received.append(Received(parsed, document.decode("utf-8"), url))
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
            Reference(str(r["sender"]), str(r["identifier"]), parse_utc(str(r["sent"])))
            for r in _as_list(props.get("references"))
        ),
        infos=(info,),
    )


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


# -- fetching ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fetched:
    url: str
    body: bytes
    content_type: str


class UpstreamClient:
    """The HTTP side of one poll: timed, size-capped while streaming, conditional on request.

    ETag and Last-Modified are remembered per URL, but adopted only when the poll succeeded,
    so a failed poll never turns the next one into a 304 that hides what it missed.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        settings: ImportSourceConfig,
        validators: dict[str, tuple[str, str]],
    ) -> None:
        self._session = session
        self._settings = settings
        self._timeout = aiohttp.ClientTimeout(total=settings.timeout_s)
        self._validators = validators
        self.pending: dict[str, tuple[str, str]] = {}

    async def get(self, url: str, *, conditional: bool = False) -> Fetched | None:
        """The body at `url`; None for 304 Not Modified (only when `conditional`)."""
        settings = self._settings
        headers = {"Accept": _ACCEPT[settings.kind], "User-Agent": settings.user_agent}
        if conditional and url in self._validators:
            etag, modified = self._validators[url]
            if etag:
                headers["If-None-Match"] = etag
            if modified:
                headers["If-Modified-Since"] = modified
        try:
            async with self._session.get(
                url, headers=headers, timeout=self._timeout, max_redirects=5
            ) as answer:
                if answer.status == 304 and conditional:
                    return None
                if not 200 <= answer.status < 300:
                    raise UpstreamUnavailable(f"{_short(url)}: HTTP {answer.status}")
                if answer.content_type in _HTML_TYPES:
                    raise CapDocumentRefused(
                        f"{_short(url)}: answered {answer.content_type} (a web page), not "
                        + ("JSON" if settings.kind == "nws-geojson" else "XML")
                    )
                length = answer.content_length
                if length is not None and length > settings.max_bytes:
                    raise CapDocumentRefused(
                        f"{_short(url)}: body of {length:,} bytes is over the"
                        f" {settings.max_bytes:,}-byte cap; not read"
                    )
                body = await self._read(answer, url)
                if conditional:
                    etag = answer.headers.get("ETag", "")
                    modified = answer.headers.get("Last-Modified", "")
                    if etag or modified:
                        self.pending[url] = (etag, modified)
                return Fetched(str(answer.url), body, answer.content_type)
        except TimeoutError:
            raise UpstreamUnavailable(
                f"{_short(url)}: no answer within {settings.timeout_s:g} s"
            ) from None
        except aiohttp.ClientPayloadError as err:
            raise UpstreamUnavailable(f"{_short(url)}: body cut short ({err})") from err
        except aiohttp.ClientError as err:
            raise UpstreamUnavailable(f"{_short(url)}: {type(err).__name__}: {err}") from err

    async def _read(self, answer: aiohttp.ClientResponse, url: str) -> bytes:
        """The body, abandoned as soon as it passes the cap (never held whole in memory)."""
        cap = self._settings.max_bytes
        chunks: list[bytes] = []
        size = 0
        async for chunk in answer.content.iter_chunked(_CHUNK):
            size += len(chunk)
            if size > cap:
                raise CapDocumentRefused(
                    f"{_short(url)}: body over the {cap:,}-byte cap; abandoned"
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def adopt_validators(self) -> None:
        self._validators.update(self.pending)


def _short(url: str) -> str:
    return url if len(url) <= 120 else url[:117] + "..."


# -- one source ----------------------------------------------------------------------------------


@dataclass
class SourceState:
    """What staff (GET /api/v1/imports/sources) and /healthz see of one import source."""

    name: str
    kind: str
    url: str
    status: Literal["idle", "ok", "failing"] = "idle"
    last_attempt_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str = ""
    last_error_at: datetime | None = None
    failing_since: datetime | None = None
    consecutive_failures: int = 0
    imported: int = 0
    refused: int = 0
    last_refused: str = ""
    next_attempt_at: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        def text(moment: datetime | None) -> str | None:
            return utc_text(moment) if moment else None

        return {
            "name": self.name,
            "kind": self.kind,
            "url": self.url,
            "status": self.status,
            "last_attempt_at": text(self.last_attempt_at),
            "last_success_at": text(self.last_success_at),
            "last_error": self.last_error,
            "last_error_at": text(self.last_error_at),
            "failing_since": text(self.failing_since),
            "consecutive_failures": self.consecutive_failures,
            "imported": self.imported,
            "refused": self.refused,
            "last_refused": self.last_refused,
            "next_attempt_at": text(self.next_attempt_at),
        }


@dataclass
class _Harvest:
    """What one poll brought in before it ended (or failed part-way)."""

    received: list[Received] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    seen: dict[str, str] | None = None
    complete: bool = True
    error: AlertingError | None = None


class ImportSource:
    """Polls one configured upstream; every outcome ends in its SourceState, nothing raises."""

    def __init__(
        self,
        settings: ImportSourceConfig,
        importer: Importer,
        *,
        session: aiohttp.ClientSession,
        clock: Clock,
        health: HealthRegistry,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.state = SourceState(settings.name, settings.kind, settings.url)
        self._importer = importer
        self._session = session
        self._clock = clock
        self._health = health
        self._rng = rng or random.Random()  # noqa: S311  # backoff jitter, not secrecy
        self._validators: dict[str, tuple[str, str]] = {}
        # Linked documents already handled (URL → the entry's updated): not fetched again.
        self._seen: dict[str, str] = {}
        self._logged_refusals: dict[str, None] = {}
        self._lock = asyncio.Lock()
        self.last_report: ApplyReport | None = None
        self._health.report(self.health_name, "ok", "not polled yet", critical=False)

    @property
    def health_name(self) -> str:
        return f"alerting.import.{self.settings.name}"

    def due(self) -> bool:
        """False while backing off after failures."""
        at = self.state.next_attempt_at
        return at is None or self._clock.now() >= at

    async def run(self) -> None:
        """The scheduled job: poll unless backing off."""
        if self.due():
            await self.poll()

    async def poll(self) -> ApplyReport | None:
        """Fetch, parse and store once; never raises. The report, or None when it failed."""
        async with self._lock:
            now = self._clock.now()
            self.state.last_attempt_at = now
            client = UpstreamClient(self._session, self.settings, self._validators)
            try:
                harvest = await self._harvest(client)
                # What arrived before a failure part-way is still kept (deduplicated next time).
                report = await self._importer.apply(harvest.received)
            except Exception as err:
                # A bug must not stop the source's job; logged with its traceback once.
                if self.state.status != "failing":
                    log.exception("import source crashed", extra={"source": self.state.name})
                self._failed(now, f"{type(err).__name__}: {err}")
                return None
            if harvest.seen is not None:
                self._seen = harvest.seen
            self.state.imported += report.stored
            self._note_refusals(harvest.refused)
            if harvest.error is not None:
                self._failed(now, str(harvest.error))
                return None
            if harvest.complete:
                client.adopt_validators()
            self._succeeded(now, report)
            return report

    async def _harvest(self, client: UpstreamClient) -> _Harvest:
        settings = self.settings
        harvest = _Harvest()
        try:
            fetched = await client.get(settings.url, conditional=True)
            if fetched is None:
                return harvest
            if settings.kind == "cap":
                harvest.received.append(
                    parse_document(fetched.body, fetched.url, settings.max_bytes)
                )
            elif settings.kind == "nws-geojson":
                received, refused = parse_nws(fetched.body, fetched.url, settings.max_bytes)
                harvest.received.extend(received)
                harvest.refused.extend(refused)
            else:
                contents = parse_feed(fetched.body, fetched.url, settings.max_bytes)
                harvest.received.extend(contents.embedded)
                harvest.refused.extend(contents.refused)
                await self._follow_links(client, fetched.url, contents.links, harvest)
        except AlertingError as err:
            harvest.error = err
        return harvest

    async def _follow_links(
        self,
        client: UpstreamClient,
        feed_url: str,
        links: Sequence[FeedLink],
        harvest: _Harvest,
    ) -> None:
        """Fetch the linked documents not handled before, at most max_entries of them."""
        listed = {link.url: link.updated for link in links}
        # Forget documents the feed no longer lists (the memory stays the size of the feed).
        seen = {url: updated for url, updated in self._seen.items() if listed.get(url) == updated}
        harvest.seen = seen
        fresh = [link for link in links if seen.get(link.url) != link.updated]
        if len(fresh) > self.settings.max_entries:
            harvest.complete = False
        allowed = {urlsplit(feed_url).hostname, *self.settings.document_hosts}
        for link in fresh[: self.settings.max_entries]:
            parts = urlsplit(link.url)
            if parts.scheme not in ("http", "https") or parts.hostname not in allowed:
                # A feed must not make us fetch from anywhere (an internal address, a file).
                harvest.refused.append(
                    f"{_short(link.url)}: not fetched: only http(s) on"
                    f" {', '.join(sorted(h for h in allowed if h))}"
                )
                seen[link.url] = link.updated
                continue
            try:
                fetched = await client.get(link.url)
                if fetched is not None:
                    harvest.received.append(
                        parse_document(fetched.body, fetched.url, self.settings.max_bytes)
                    )
            except CapDocumentRefused as err:
                # A bad document is refused once and remembered; the rest of the feed counts.
                harvest.refused.append(str(err))
            except UpstreamUnavailable:
                # Not remembered: it is fetched again when the source is polled next.
                harvest.complete = False
                raise
            seen[link.url] = link.updated

    def _note_refusals(self, refused: Sequence[str]) -> None:
        if not refused:
            return
        self.state.refused += len(refused)
        self.state.last_refused = refused[-1]
        for reason in refused:
            if reason in self._logged_refusals:
                continue
            log.warning("imported document refused", extra={"source": self.state.name,
                                                            "reason": reason})  # fmt: skip
            self._logged_refusals[reason] = None
            if len(self._logged_refusals) > _MAX_LOGGED_REFUSALS:
                del self._logged_refusals[next(iter(self._logged_refusals))]

    def _succeeded(self, now: datetime, report: ApplyReport) -> None:
        state = self.state
        if state.status == "failing":
            log.info(
                "import source recovered",
                extra={
                    "source": state.name,
                    "failures": state.consecutive_failures,
                    "outage_s": (now - state.failing_since).total_seconds()
                    if state.failing_since
                    else None,
                },
            )
        state.status = "ok"
        state.last_success_at = now
        state.failing_since = None
        state.consecutive_failures = 0
        state.next_attempt_at = None
        self.last_report = report
        detail = f"{report.stored} new, {report.known} known, {report.skipped} skipped"
        self._health.report(self.health_name, "ok", detail, at=now, critical=False)

    def _failed(self, now: datetime, error: str) -> None:
        state = self.state
        if state.status != "failing":
            log.warning("import source failing", extra={"source": state.name, "error": error})
            state.failing_since = now
        state.status = "failing"
        state.last_error = error
        state.last_error_at = now
        state.consecutive_failures += 1
        state.next_attempt_at = now + self.backoff(state.consecutive_failures)
        self._health.report(self.health_name, "failing", error, at=now, critical=False)

    def backoff(self, failures: int) -> timedelta:
        """Exponential backoff from the poll interval, capped, with up to 10 % jitter."""
        settings = self.settings
        base = min(settings.interval_s * 2 ** (failures - 1), settings.backoff_max_s)
        return timedelta(seconds=base * (1 + 0.1 * self._rng.random()))


# -- keeping what comes in -----------------------------------------------------------------------


@dataclass
class ApplyReport:
    stored: int = 0
    known: int = 0
    skipped_status: int = 0
    skipped_expired: int = 0
    updated: int = 0
    cancelled: int = 0

    @property
    def skipped(self) -> int:
        return self.skipped_status + self.skipped_expired


class Importer:
    """The imported alerts: what the sources bring, staff's view of them, and re-issue."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        workflow: Workflow,
        *,
        statuses: Sequence[str] = ("Actual",),
        include_expired: bool = False,
        default_life: timedelta = timedelta(hours=24),
    ) -> None:
        self.db = db
        self.clock = clock
        self.workflow = workflow
        self.statuses = frozenset(statuses)
        self.include_expired = include_expired
        # How long a message that says nothing about its expiry counts as in force.
        self.default_life = default_life
        self.sources: dict[str, ImportSource] = {}

    async def poll_all(self) -> dict[str, ApplyReport | None]:
        """Poll every source once, one after another (each failure stays in its own state)."""
        return {name: await source.poll() for name, source in self.sources.items()}

    async def apply(self, received: Sequence[Received]) -> ApplyReport:
        """Store what is new, oldest first, and apply Updates and Cancels (one transaction)."""
        report = ApplyReport()
        if not received:
            return report
        now = self.clock.now()
        stored: list[tuple[int, Received, ImportState]] = []
        changes: list[tuple[StoredImport, ImportState, Alert]] = []
        async with self.db.transaction() as conn:
            for item in sorted(received, key=lambda r: r.alert.sent):
                alert = item.alert
                if alert.status not in self.statuses:
                    report.skipped_status += 1
                    continue
                if await store.import_by_key(conn, alert.sender, alert.identifier, alert.sent):
                    report.known += 1
                    continue
                expires = alert.expires or alert.sent + self.default_life
                expired = expires <= now
                if expired and not self.include_expired:
                    report.skipped_expired += 1
                    # Not kept, but what it supersedes is superseded all the same.
                    changes.extend(await self._supersede(conn, alert, report))
                    continue
                state: ImportState = (
                    "cancelled"
                    if alert.msg_type == "Cancel"
                    else "expired"
                    if expired
                    else await self._superseded_already(conn, alert)
                )
                import_id = await store.insert_import(
                    conn,
                    sender=alert.sender,
                    identifier=alert.identifier,
                    sent=alert.sent,
                    msg_type=alert.msg_type,
                    status=alert.status,
                    source_url=item.url,
                    document=item.document,
                    state=state,
                    expires=expires,
                    now=now,
                )
                report.stored += 1
                stored.append((import_id, item, state))
                changes.extend(await self._supersede(conn, alert, report))
        for import_id, item, state in stored:
            log.info(
                "alert imported",
                extra={
                    "import_id": import_id,
                    "sender": item.alert.sender,
                    "identifier": item.alert.identifier,
                    "msgType": item.alert.msg_type,
                    "state": state,
                    "source_url": item.url,
                },
            )
        for target, state, by in changes:
            extra = {
                "import_id": target.id,
                "sender": target.sender,
                "identifier": target.identifier,
                "by": by.identifier,
                "state": state,
                "reissued_as": target.reissued_as,
            }
            if target.reissued_as:
                # Our re-issue still says what upstream has now changed: staff must act on it.
                log.warning(f"imported alert we re-issued was {state} upstream", extra=extra)
            else:
                log.info(f"imported alert {state} upstream", extra=extra)
        return report

    async def _supersede(
        self, conn: aiosqlite.Connection, alert: Alert, report: ApplyReport
    ) -> list[tuple[StoredImport, ImportState, Alert]]:
        """An Update marks the active messages it references updated; a Cancel marks the
        active or updated ones cancelled."""
        if alert.msg_type not in ("Update", "Cancel"):
            return []
        changes: list[tuple[StoredImport, ImportState, Alert]] = []
        for reference in alert.references:
            target = await store.import_by_key(
                conn, reference.sender, reference.identifier, reference.sent
            )
            if target is None or target.identifier == alert.identifier:
                continue
            if alert.msg_type == "Update" and target.state == "active":
                state: ImportState = "updated"
                report.updated += 1
            elif alert.msg_type == "Cancel" and target.state in ("active", "updated"):
                state = "cancelled"
                report.cancelled += 1
            else:
                continue
            await store.set_import_state(conn, target.id, state)
            changes.append((target, state, alert))
        return changes

    async def _superseded_already(self, conn: aiosqlite.Connection, alert: Alert) -> ImportState:
        """The state of a message whose Update or Cancel may have come in before it."""
        state: ImportState = "active"
        for later in await store.later_mentions(conn, alert.identifier, alert.sent):
            try:
                references = parse_cap(later.document.encode("utf-8")).references
            except CapDocumentRefused:  # pragma: no cover  # stored documents were checked
                continue
            if alert.reference in references:
                if later.msg_type == "Cancel":
                    return "cancelled"
                state = "updated"
        return state

    async def expire_due(self) -> list[int]:
        """Mark active imports past their expiry expired (scheduled; also run at start)."""
        async with self.db.transaction() as conn:
            due = await store.expire_imports(conn, self.clock.now())
        for found in due:
            log.info(
                "imported alert expired",
                extra={"import_id": found.id, "sender": found.sender,
                       "identifier": found.identifier},
            )  # fmt: skip
        return [found.id for found in due]

    # -- staff -----------------------------------------------------------------------------------

    async def get(self, import_id: int) -> StoredImport:
        found = await store.get_import(self.db.reader, import_id)
        if found is None:
            raise ImportNotFound(str(import_id))
        return found

    async def reissue(self, import_id: int, actor: str) -> StoredAlert:
        """A draft of ours from an import, for our audience, referencing it; audited.

        A new Alert, or an Update of our earlier re-issue when the import updates a message we
        re-issued before. Without a Vietnamese block the draft's vi-VN texts are placeholders
        staff must write before it can be submitted.
        """
        now = self.clock.now()
        async with self.db.transaction() as conn:
            found = await store.get_import(conn, import_id)
            if found is None:
                raise ImportNotFound(str(import_id))
            if found.reissued_as:
                raise ReissueRefused(
                    f"import {import_id} is already re-issued as {found.reissued_as}"
                )
            if found.state != "active" or found.msg_type == "Cancel":
                what = "a Cancel" if found.msg_type == "Cancel" else found.state
                raise ReissueRefused(
                    f"import {import_id} is {what}; only an active alert or update can be re-issued"
                )
            imported = parse_cap(found.document.encode("utf-8"))
            draft = reissue_draft(imported, now, self.workflow.settings.max_expiry)
            earlier = await self._our_earlier(conn, imported)
            if earlier is None:
                stored = await self.workflow.create(draft, actor, origin="import", conn=conn)
            else:
                references = (*earlier.alert.references, earlier.alert.reference,
                              imported.reference)  # fmt: skip
                stored = await self.workflow.create(
                    replace(draft, msg_type="Update", references=tuple(dict.fromkeys(references))),
                    actor,
                    origin="import",
                    hazard=earlier.hazard,
                    chain=earlier.chain,
                    conn=conn,
                )
            await store.set_import_reissued(conn, import_id, stored.identifier)
            await record_audit(
                conn,
                at=now,
                actor=actor,
                action="import.reissue",
                entity=AUDIT_ENTITY,
                entity_id=str(import_id),
                before={"reissued_as": None, **_key(found)},
                after={"reissued_as": stored.identifier, **_key(found)},
            )
        log.info(
            "imported alert re-issued as a draft",
            extra={"import_id": import_id, "identifier": stored.identifier,
                   "msgType": stored.alert.msg_type, "actor": actor},
        )  # fmt: skip
        return stored

    async def _our_earlier(self, conn: aiosqlite.Connection, imported: Alert) -> StoredAlert | None:
        """Our issued message that re-issued what this import updates, if any."""
        if imported.msg_type != "Update":
            return None
        for reference in imported.references:
            earlier = await store.import_by_key(
                conn, reference.sender, reference.identifier, reference.sent
            )
            if earlier is None or earlier.reissued_as is None:
                continue
            ours = await store.get_alert(conn, earlier.reissued_as)
            # Follow our own Updates to the message in force now (a bounded walk).
            for _ in range(100):
                if ours is None or ours.state != "superseded" or not ours.superseded_by:
                    break
                ours = await store.get_alert(conn, ours.superseded_by)
            if ours is None or ours.state == "expired":
                continue
            if ours.state != "issued":
                raise ReissueRefused(
                    f"our re-issue {ours.identifier} of the message this updates is still"
                    f" {ours.state}; edit that draft instead"
                )
            pending = await store.pending_in_chain(conn, ours.chain)
            if pending:
                raise ReissueRefused(f"{pending[0]} already continues {ours.identifier}")
            return ours
        return None


def _key(found: StoredImport) -> dict[str, str]:
    return {
        "sender": found.sender,
        "identifier": found.identifier,
        "sent": cap_time(found.sent),
    }


def reissue_draft(imported: Alert, now: datetime, max_expiry: timedelta) -> Alert:
    """Our draft of another authority's alert: its hazard, areas and texts, our voice.

    Blocks in Vietnamese and English are kept (as vi-VN and en-US); other languages are
    dropped. Without Vietnamese, the vi-VN block copies the English one's facts with
    placeholders for the texts. Sender, identifier, sent, senderName, contact and web become
    ours (the workflow sets them); upstream parameters and resources are dropped (their links
    and codes mean nothing to our audience unless staff add them back); it expires when the
    import does, at most max_expiry from now.
    """
    vietnamese = next((i for i in imported.infos if i.language.lower().startswith("vi")), None)
    english = next((i for i in imported.infos if i.language.lower().startswith("en")), None)
    base = vietnamese or english or (imported.infos[0] if imported.infos else None)
    if base is None:
        raise ReissueRefused("the imported alert has no <info> block to re-issue")
    expires = imported.expires
    if expires is not None and expires <= now:
        raise ReissueRefused("the imported alert has expired")
    if expires is None or expires - now > max_expiry:
        expires = now + max_expiry

    def ours(info: Info, language: str) -> Info:
        return replace(
            info, language=language, effective=None, expires=expires, sender_name="",
            contact="", web="", parameters=(), resources=(),
        )  # fmt: skip

    infos = [ours(vietnamese, LANGUAGE_VI)] if vietnamese else [
        replace(
            ours(base, LANGUAGE_VI),
            event=VI_PLACEHOLDERS["event"],
            headline=VI_PLACEHOLDERS["headline"],
            description=VI_PLACEHOLDERS["description"],
            instruction=VI_PLACEHOLDERS["instruction"],
        )
    ]  # fmt: skip
    if english is not None:
        infos.append(ours(english, LANGUAGE_EN))
    return Alert(
        identifier="",
        sender="",
        sent=now,
        status="",
        msg_type="Alert",
        scope="Public",
        references=(imported.reference,),
        infos=tuple(infos),
        note=f"Re-issued from {imported.sender} {imported.identifier}",
    )


def import_view(found: StoredImport, *, with_document: bool = False) -> dict[str, Any]:
    """An import for staff: its key and state, and the gist of its first (or Vietnamese) block."""
    alert = parse_cap(found.document.encode("utf-8"))
    info = alert.info(LANGUAGE_VI)
    view: dict[str, Any] = {
        "id": found.id,
        "sender": found.sender,
        "identifier": found.identifier,
        "sent": cap_time(found.sent),
        "msgType": found.msg_type,
        "status": found.status,
        "state": found.state,
        "expires": cap_time(found.expires) if found.expires else None,
        "reissued_as": found.reissued_as,
        "imported_at": utc_text(found.imported_at),
        "source_url": found.source_url,
        "references": [r.text for r in alert.references],
        "languages": [i.language for i in alert.infos],
        "event": info.event if info else "",
        "headline": info.headline if info else "",
        "severity": info.severity if info else "",
        "urgency": info.urgency if info else "",
        "certainty": info.certainty if info else "",
        "areas": [a.description for a in info.areas] if info else [],
    }
    if with_document:
        view["alert"] = alert_to_dict(alert)
        view["xml"] = found.document
    return view


# -- wiring --------------------------------------------------------------------------------------


def check_config(config: AlertingConfig) -> None:
    """The [[alerting.imports]] rules the type checks cannot express; ConfigError names the key."""
    names: set[str] = set()
    for index, source in enumerate(config.imports):
        where = f"alerting.imports[{index}]"
        if not _NAME.match(source.name) or source.name in names:
            raise ConfigError(f"{where}.name: unique, letters, digits, _ . - only")
        names.add(source.name)
        if not source.url.startswith(("http://", "https://")):
            raise ConfigError(f"{where}.url: must start with http:// or https://")
        for key in ("interval_s", "timeout_s", "max_bytes", "backoff_max_s", "max_entries"):
            if getattr(source, key) <= 0:
                raise ConfigError(f"{where}.{key}: must be greater than 0")
        if source.jitter_s < 0:
            raise ConfigError(f"{where}.jitter_s: must not be negative")
    unknown = set(config.import_statuses) - set(STATUSES)
    if unknown:
        raise ConfigError(f"alerting.import_statuses: unknown status {sorted(unknown)[0]!r}")


def build_importer(app: web.Application, workflow: Workflow) -> Importer:
    """The Importer and one ImportSource per enabled [[alerting.imports]] entry."""
    config = app[keys.CONFIG].alerting
    importer = Importer(
        app[keys.DB],
        app[keys.CLOCK],
        workflow,
        statuses=config.import_statuses,
        include_expired=config.import_expired,
        default_life=timedelta(hours=config.max_expiry_h),
    )
    for settings in config.imports:
        if settings.enabled:
            importer.sources[settings.name] = ImportSource(
                settings,
                importer,
                session=app[keys.HTTP],
                clock=app[keys.CLOCK],
                health=app[keys.HEALTH],
            )
    return importer


def schedule_jobs(
    scheduler: AsyncIOScheduler, importer: Importer, config: AlertingConfig
) -> list[Any]:
    """The imports' expiry job, and one polling job per source (unless import_schedule is off);
    each source has its own job, so a slow or failing one never holds up another."""
    jobs = [
        scheduler.add_job(
            importer.expire_due,
            "interval",
            seconds=config.expiry_interval_s,
            id="alerting.imports.expire",
            max_instances=1,
            coalesce=True,
        )
    ]
    if not config.import_schedule:
        return jobs
    rng = random.Random()  # noqa: S311  # spreading first polls, not secrecy
    for name, source in importer.sources.items():
        jobs.append(
            scheduler.add_job(
                source.run,
                "interval",
                id=f"alerting.import.{name}",
                seconds=source.settings.interval_s,
                jitter=source.settings.jitter_s or None,
                max_instances=1,
                coalesce=True,
                # The scheduler runs on wall time (the injected clock is for what we record).
                next_run_time=datetime.now(UTC)
                + timedelta(seconds=rng.uniform(0, source.settings.jitter_s)),
            )
        )
    if importer.sources:
        log.info("import sources scheduled", extra={"sources": sorted(importer.sources)})
    return jobs
