"""The HTTP side of one import poll: canhbao.http's capped, timed, conditional fetch, with CAP's
content types, our errors, and the validators kept only when the poll succeeds."""

from __future__ import annotations

from collections.abc import Collection

import aiohttp

from alerting.errors import CapDocumentRefused, UpstreamUnavailable
from canhbao.config import ImportSourceConfig
from canhbao.http import (
    BodyTooLarge,
    Fetched,
    FetchError,
    RedirectRefused,
    Validators,
    fetch_capped,
    short_url,
)

_ACCEPT = {
    "cap-atom": "application/atom+xml, application/rss+xml, application/xml;q=0.9, text/xml;q=0.8",
    "cap": "application/cap+xml, application/xml;q=0.9, text/xml;q=0.8",
    "nws-geojson": "application/geo+json, application/json;q=0.9",
}
# What an upstream answers when it is down for maintenance or behind a login page: never a feed.
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_MAX_REDIRECTS = 5


class UpstreamClient:
    """One poll's requests to one upstream.

    ETag and Last-Modified are remembered per URL, but adopted only when the poll succeeded,
    so a failed poll never turns the next one into a 304 that hides what it missed.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        settings: ImportSourceConfig,
        validators: dict[str, Validators],
    ) -> None:
        self._session = session
        self._settings = settings
        self._validators = validators
        self.pending: dict[str, Validators] = {}

    async def get(
        self,
        url: str,
        *,
        conditional: bool = False,
        redirect_hosts: Collection[str] | None = None,
    ) -> Fetched | None:
        """The body at `url`; None for 304 Not Modified (only when `conditional`). With
        `redirect_hosts`, redirects are followed only to those hosts.

        UpstreamUnavailable when the upstream did not answer usably (try again later);
        CapDocumentRefused when what it answered is too large or a web page.
        """
        settings = self._settings
        known = self._validators.get(url, ("", "")) if conditional else None
        try:
            fetched = await fetch_capped(
                self._session,
                url,
                max_bytes=settings.max_bytes,
                timeout_s=settings.timeout_s,
                headers={"Accept": _ACCEPT[settings.kind], "User-Agent": settings.user_agent},
                validators=known,
                max_redirects=_MAX_REDIRECTS,
                redirect_hosts=redirect_hosts,
            )
        except (BodyTooLarge, RedirectRefused) as err:
            raise CapDocumentRefused(str(err)) from err
        except FetchError as err:
            raise UpstreamUnavailable(str(err)) from err
        if fetched is None:
            return None
        if fetched.content_type in _HTML_TYPES:
            raise CapDocumentRefused(
                f"{short_url(url)}: answered {fetched.content_type} (a web page), not "
                + ("JSON" if settings.kind == "nws-geojson" else "XML")
            )
        if conditional and any(fetched.validators):
            self.pending[url] = fetched.validators
        return fetched

    def adopt_validators(self) -> None:
        self._validators.update(self.pending)
