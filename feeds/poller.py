"""The poller: one per source; owns interval, jitter, timeout, size cap, conditional requests,
backoff and the source's state. A source only fetches and parses.

Like Home Assistant's update coordinator (canhbao.polling.PolledSource, shared with the CAP
import): an
outage is logged once and its recovery once; between them failures only move the counters.
Nothing from a failed fetch is stored, and one failing source never stops another (each has its
own job, and every error ends in its state).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp

from canhbao.clock import Clock
from canhbao.config import FeedPollConfig
from canhbao.health import HealthRegistry
from canhbao.http import FetchError, fetch_capped
from canhbao.polling import PolledSource, PollState
from feeds.errors import FeedError, FeedUnavailable
from feeds.pipeline import IngestReport, Pipeline
from feeds.ports import FeedSource, Response

log = logging.getLogger(__name__)

# Quirks kept in the source's state (the newest), for the API and the log.
MAX_QUIRKS = 20


@dataclass
class SourceState(PollState):
    """What the API, /healthz and /metrics say about one source."""

    readings_accepted: int = 0
    quirks: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            **super().as_json(),
            "readings_accepted": self.readings_accepted,
            "quirks": list(self.quirks),
        }


class HttpFeedClient:
    """The FeedClient a source borrows for one poll: capped, timed, conditional (through
    canhbao.http.fetch_capped, which alerting's CAP import uses too).

    ETag and Last-Modified validators are remembered per URL, but only adopted once the whole
    poll succeeded: a payload that failed to ingest must be fetched again, not answered 304.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        timeout_s: float,
        max_bytes: int,
        validators: dict[str, tuple[str, str]],
    ) -> None:
        self._session = session
        self._timeout_s = timeout_s
        self._max_bytes = max_bytes
        self._validators = validators
        self.pending: dict[str, tuple[str, str]] = {}
        self.requests = 0

    async def get(
        self,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        conditional: bool = False,
    ) -> Response | None:
        return await self._request("GET", url, params, None, headers, conditional)

    async def post_form(
        self, url: str, data: Mapping[str, str], *, headers: Mapping[str, str] | None = None
    ) -> Response:
        response = await self._request("POST", url, None, data, headers, False)
        if response is None:  # pragma: no cover  # unconditional requests never answer None
            raise FeedUnavailable(f"{url}: 304 to an unconditional request")
        return response

    async def _request(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        data: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        conditional: bool,
    ) -> Response | None:
        key = url if not params else f"{url}?{sorted(params.items())}"
        known = self._validators.get(key, ("", "")) if conditional else None
        self.requests += 1
        try:
            fetched = await fetch_capped(
                self._session,
                url,
                method=method,
                params=params,
                data=data,
                headers=headers,
                max_bytes=self._max_bytes,
                timeout_s=self._timeout_s,
                validators=known,
            )
        except FetchError as err:
            raise FeedUnavailable(str(err)) from err
        if fetched is None:
            return None
        if conditional and any(fetched.validators):
            self.pending[key] = fetched.validators
        return Response(fetched.url, fetched.status, fetched.body, fetched.content_type)

    def adopt_validators(self) -> None:
        self._validators.update(self.pending)


class SourcePoller(PolledSource[IngestReport]):
    """Runs one source on a schedule (through canhbao.polling.PolledSource, which owns the lock,
    backoff and outage logging as "feed source failing/recovered/crashed"); every outcome ends
    in its SourceState."""

    subject = "feed source"
    expected = (FeedError,)
    health_prefix = "feeds."
    logger = log
    state: SourceState

    def __init__(
        self,
        source: FeedSource,
        settings: FeedPollConfig,
        *,
        session: aiohttp.ClientSession,
        pipeline: Pipeline,
        clock: Clock,
        health: HealthRegistry,
        by_station_id: bool = False,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(
            SourceState(source.name),
            settings,
            clock=clock,
            health=health,
            rng=rng,
        )
        self.source = source
        self.settings = settings
        self._session = session
        self._pipeline = pipeline
        self._by_station_id = by_station_id
        self._validators: dict[str, tuple[str, str]] = {}
        self.last_report: IngestReport | None = None

    def describe(self, report: IngestReport) -> str:
        return f"{report.accepted} new, {report.revised} revised, {report.duplicates} known"

    async def _attempt(self, now: datetime) -> IngestReport:
        client = HttpFeedClient(
            self._session,
            timeout_s=self.settings.timeout_s,
            max_bytes=self.settings.max_bytes,
            validators=self._validators,
        )
        result = await self.source.fetch(client, now)
        report = await self._pipeline.ingest(
            self.source.name, result, by_station_id=self._by_station_id
        )
        client.adopt_validators()
        self.state.readings_accepted += report.accepted + report.revised
        quirks = result.quirks
        if report.unmatched:
            # Not a fault: upstreams list far more stations than we watch.
            examples = ", ".join(sorted(report.unmatched_ids)[:3])
            quirks = (
                *quirks,
                f"{report.unmatched} values for stations not configured here (e.g. {examples})",
            )
        if quirks:
            self.state.quirks = [*quirks][-MAX_QUIRKS:]
        self.last_report = report
        return report
