"""The poller: one per source; owns interval, jitter, timeout, size cap, conditional requests,
backoff and the source's state. A source only fetches and parses.

Like Home Assistant's update coordinator: an outage is logged once and its recovery once;
between them failures only move the counters. Nothing from a failed fetch is stored, and one
failing source never stops another (each has its own job, and every error ends in its state).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import aiohttp

from canhbao.clock import Clock, utc_text
from canhbao.config import FeedPollConfig
from canhbao.health import HealthRegistry
from canhbao.http import FetchError, fetch_capped
from feeds.errors import FeedError, FeedUnavailable
from feeds.pipeline import IngestReport, Pipeline
from feeds.ports import FeedSource, Response

log = logging.getLogger(__name__)

# Quirks kept in the source's state (the newest), for the API and the log.
MAX_QUIRKS = 20


@dataclass
class SourceState:
    """What the API, /healthz and /metrics say about one source."""

    name: str
    status: Literal["idle", "ok", "failing"] = "idle"
    last_success_at: datetime | None = None
    last_attempt_at: datetime | None = None
    last_error: str = ""
    last_error_at: datetime | None = None
    failing_since: datetime | None = None
    consecutive_failures: int = 0
    readings_accepted: int = 0
    next_attempt_at: datetime | None = None
    quirks: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        def text(moment: datetime | None) -> str | None:
            return utc_text(moment) if moment else None

        return {
            "name": self.name,
            "status": self.status,
            "last_success_at": text(self.last_success_at),
            "last_attempt_at": text(self.last_attempt_at),
            "last_error": self.last_error,
            "last_error_at": text(self.last_error_at),
            "consecutive_failures": self.consecutive_failures,
            "readings_accepted": self.readings_accepted,
            "next_attempt_at": text(self.next_attempt_at),
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


class SourcePoller:
    """Runs one source on a schedule; every outcome ends in its SourceState."""

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
        self.source = source
        self.settings = settings
        self.state = SourceState(source.name)
        self._session = session
        self._pipeline = pipeline
        self._clock = clock
        self._health = health
        self._by_station_id = by_station_id
        self._rng = rng or random.Random()  # noqa: S311  # jitter, not secrecy
        self._validators: dict[str, tuple[str, str]] = {}
        self._lock = asyncio.Lock()
        self.last_report: IngestReport | None = None
        self._health.report(self.health_name, "ok", "not polled yet", critical=False)

    @property
    def health_name(self) -> str:
        return f"feeds.{self.source.name}"

    def due(self) -> bool:
        """False while backing off after failures."""
        at = self.state.next_attempt_at
        return at is None or self._clock.now() >= at

    async def run(self) -> None:
        """The scheduled job: poll unless backing off."""
        if self.due():
            await self.poll()

    async def poll(self) -> IngestReport | None:
        """Fetch, parse and ingest once; never raises. Returns the report, None on failure."""
        async with self._lock:
            now = self._clock.now()
            self.state.last_attempt_at = now
            client = HttpFeedClient(
                self._session,
                timeout_s=self.settings.timeout_s,
                max_bytes=self.settings.max_bytes,
                validators=self._validators,
            )
            try:
                result = await self.source.fetch(client, now)
                report = await self._pipeline.ingest(
                    self.source.name, result, by_station_id=self._by_station_id
                )
            except FeedError as err:
                self._failed(now, str(err))
                return None
            except Exception as err:
                # A bug in an adapter must not stop the poller; it is logged with its traceback
                # once, like any outage.
                if self.state.status != "failing":
                    log.exception("feed source crashed", extra={"source": self.source.name})
                self._failed(now, f"{type(err).__name__}: {err}")
                return None
            client.adopt_validators()
            self._succeeded(now, report, result.quirks)
            return report

    def _succeeded(self, now: datetime, report: IngestReport, quirks: tuple[str, ...]) -> None:
        state = self.state
        if state.status == "failing":
            log.info(
                "feed source recovered",
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
        state.readings_accepted += report.accepted + report.revised
        state.next_attempt_at = None
        if report.unmatched:
            # Not a fault: upstreams list far more stations than we watch.
            examples = ", ".join(sorted(report.unmatched_ids)[:3])
            quirks = (
                *quirks,
                f"{report.unmatched} values for stations not configured here (e.g. {examples})",
            )
        if quirks:
            state.quirks = [*quirks][-MAX_QUIRKS:]
        self.last_report = report
        detail = f"{report.accepted} new, {report.revised} revised, {report.duplicates} known"
        self._health.report(self.health_name, "ok", detail, at=now, critical=False)

    def _failed(self, now: datetime, error: str) -> None:
        state = self.state
        if state.status != "failing":
            log.warning("feed source failing", extra={"source": state.name, "error": error})
            state.failing_since = now
        state.status = "failing"
        state.last_error = error
        state.last_error_at = now
        state.consecutive_failures += 1
        state.next_attempt_at = now + self.backoff(state.consecutive_failures)
        self._health.report(self.health_name, "failing", error, at=now, critical=False)

    def backoff(self, failures: int) -> timedelta:
        """Exponential backoff from the poll interval, capped, with up to 10 % jitter."""
        base = min(self.settings.interval_s * 2 ** (failures - 1), self.settings.backoff_max_s)
        return timedelta(seconds=base * (1 + 0.1 * self._rng.random()))
