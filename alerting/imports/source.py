"""One import source: polls its upstream the way feeds/poller.py polls a feed.

A timeout and a size cap (enforced while the body streams in), conditional requests, links
followed only to allowed hosts, backoff, an outage logged once and its recovery once; every
outcome ends in the source's state for staff and /healthz, and nothing raises.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import aiohttp

from alerting.errors import AlertingError, CapDocumentRefused, UpstreamUnavailable
from alerting.imports.formats import FeedLink, Received, parse_document, parse_feed, parse_nws
from alerting.imports.upstream import UpstreamClient
from canhbao.clock import Clock, utc_text
from canhbao.config import ImportSourceConfig
from canhbao.health import HealthRegistry
from canhbao.http import Validators, short_url

if TYPE_CHECKING:
    from alerting.imports.importer import ApplyReport, Importer

log = logging.getLogger(__name__)

_MAX_LOGGED_REFUSALS = 200


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
        self._validators: dict[str, Validators] = {}
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
                    f"{short_url(link.url)}: not fetched: only http(s) on"
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
