"""One import source: polls its upstream the way feeds/poller.py polls a feed.

A timeout and a size cap (enforced while the body streams in), conditional requests, links
followed only to allowed hosts, backoff, an outage logged once and its recovery once; every
outcome ends in the source's state for staff and /healthz, and nothing raises.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp

from alerting.errors import AlertingError, CapDocumentRefused, UpstreamUnavailable
from alerting.imports.formats import (
    ApplyReport,
    FeedLink,
    Received,
    parse_document,
    parse_feed,
    parse_nws,
)
from alerting.imports.upstream import UpstreamClient
from canhbao.clock import Clock
from canhbao.config import ImportSourceConfig
from canhbao.health import HealthRegistry
from canhbao.http import Validators, short_url
from canhbao.polling import PolledSource, PollState


class Applier(Protocol):
    """What a source hands its harvest to (the Importer): it stores and applies what came."""

    async def apply(self, received: Sequence[Received]) -> ApplyReport: ...


log = logging.getLogger(__name__)

_MAX_LOGGED_REFUSALS = 200


@dataclass(kw_only=True)
class SourceState(PollState):
    """What staff (GET /api/v1/imports/sources) and /healthz see of one import source."""

    kind: str
    url: str
    imported: int = 0
    refused: int = 0
    last_refused: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            **super().as_json(),
            "kind": self.kind,
            "url": self.url,
            "imported": self.imported,
            "refused": self.refused,
            "last_refused": self.last_refused,
        }


@dataclass
class _Harvest:
    """What one poll brought in before it ended (or failed part-way)."""

    received: list[Received] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    seen: dict[str, str] | None = None
    complete: bool = True
    error: AlertingError | None = None


class ImportSource(PolledSource["ApplyReport"]):
    """Polls one configured upstream through canhbao.polling.PolledSource (lock, backoff, outage
    logged as "import source failing/recovered/crashed"); every outcome ends in its SourceState,
    nothing raises."""

    subject = "import source"
    # What the harvest raises on purpose (an upstream down, a document refused) is an outage;
    # anything else is a bug, logged with its traceback.
    expected = (AlertingError,)
    health_prefix = "alerting.import."
    logger = log
    state: SourceState

    def __init__(
        self,
        settings: ImportSourceConfig,
        importer: Applier,
        *,
        session: aiohttp.ClientSession,
        clock: Clock,
        health: HealthRegistry,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(
            SourceState(settings.name, kind=settings.kind, url=settings.url),
            settings,
            clock=clock,
            health=health,
            rng=rng,
        )
        self.settings = settings
        self._importer = importer
        self._session = session
        self._validators: dict[str, Validators] = {}
        # Linked documents already handled (URL → the entry's updated): not fetched again.
        self._seen: dict[str, str] = {}
        self._logged_refusals: dict[str, None] = {}
        self.last_report: ApplyReport | None = None

    def describe(self, report: ApplyReport) -> str:
        return f"{report.stored} new, {report.known} known, {report.skipped} skipped"

    async def _attempt(self, now: datetime) -> ApplyReport:
        client = UpstreamClient(self._session, self.settings, self._validators)
        harvest = await self._harvest(client)
        # What arrived before a failure part-way is still kept (deduplicated next time).
        report = await self._importer.apply(harvest.received)
        if harvest.seen is not None:
            self._seen = harvest.seen
        self.state.imported += report.stored
        self._note_refusals(harvest.refused)
        if harvest.error is not None:
            raise harvest.error
        if harvest.complete:
            client.adopt_validators()
        self.last_report = report
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
        allowed_hosts = {host for host in allowed if host}
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
                # Its redirects too: an allowed host must not bounce us somewhere else.
                fetched = await client.get(link.url, redirect_hosts=allowed_hosts)
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
