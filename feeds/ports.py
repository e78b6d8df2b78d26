"""The FeedSource port every upstream adapter implements, and the client the poller lends it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from feeds.errors import PayloadInvalid
from feeds.models import FetchResult


@dataclass(frozen=True, slots=True)
class Response:
    """An upstream's answer, already size-capped and with a 2xx status."""

    url: str
    status: int
    body: bytes
    content_type: str = ""

    def json(self) -> Any:
        """The body as JSON; an HTML error page, truncated JSON or NaN raise PayloadInvalid."""
        return decode_json(self.body, self.url)

    def text(self) -> str:
        try:
            return self.body.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise PayloadInvalid(f"{self.url}: body is not UTF-8: {err}") from None


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity, which JSON does not; an upstream sending them has a
    # broken serialiser, and its numbers cannot be trusted.
    raise PayloadInvalid(f"{name} is not a JSON number")


def decode_json(body: bytes, where: str) -> Any:
    head = body[:200].lstrip()
    if head[:1] == b"<":
        snippet = head[:60].decode("utf-8", "replace")
        raise PayloadInvalid(f"{where}: an HTML or XML page, not JSON: {snippet!r}")
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except UnicodeDecodeError as err:
        raise PayloadInvalid(f"{where}: body is not UTF-8: {err}") from None
    except json.JSONDecodeError as err:
        raise PayloadInvalid(f"{where}: not valid JSON ({err.msg} at byte {err.pos})") from None


class FeedClient(Protocol):
    """HTTP as the poller allows it: with its timeout, size cap and conditional requests."""

    async def get(
        self,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        conditional: bool = False,
    ) -> Response | None:
        """GET `url`; None when `conditional` and the upstream says 304 Not Modified."""
        ...

    async def post_form(
        self, url: str, data: Mapping[str, str], *, headers: Mapping[str, str] | None = None
    ) -> Response:
        """POST an urlencoded form."""
        ...


class FeedSource(Protocol):
    """One upstream: fetches with the lent client and parses; the poller does the rest."""

    name: str

    async def fetch(self, client: FeedClient, now: datetime) -> FetchResult:
        """Everything new from the upstream; raises FeedUnavailable or PayloadInvalid."""
        ...
