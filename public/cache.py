"""Built pages kept in memory: compressed once, answered with strong ETags, rebuilt when their
inputs' version changes (or after `rebuild_s`), one build at a time per page however many wait."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field

import brotli

CODINGS = ("identity", "gzip", "br")


@dataclass(frozen=True)
class Rendered:
    """What a page builder returns: the text and its status (only 200 pages are kept)."""

    body: str
    status: int = 200
    content_type: str = "text/html"


@dataclass(frozen=True)
class Page:
    status: int
    content_type: str
    identity: bytes
    gzip: bytes
    brotli: bytes
    tag: str  # the body's hash; each content-coding's ETag adds its own suffix
    version: Hashable
    built_at: float
    etags: dict[str, str] = field(default_factory=dict)  # per content-coding, made once

    def __post_init__(self) -> None:
        for coding in CODINGS:
            suffix = "" if coding == "identity" else "-" + coding
            self.etags[coding] = f'"{self.tag}{suffix}"'

    def etag(self, coding: str) -> str:
        return self.etags[coding]

    def body(self, coding: str) -> bytes:
        if coding == "br":
            return self.brotli
        if coding == "gzip":
            return self.gzip
        return self.identity


def compress(rendered: Rendered, version: Hashable, built_at: float, *, quality: int = 11) -> Page:
    raw = rendered.body.encode("utf-8")
    return Page(
        status=rendered.status,
        content_type=rendered.content_type,
        identity=raw,
        gzip=gzip.compress(raw, 9, mtime=0),
        brotli=brotli.compress(raw, quality=quality),
        tag=hashlib.sha256(raw).hexdigest()[:32],
        version=version,
        built_at=built_at,
    )


class PageCache:
    """At most `max_pages` pages, least recently used dropped first."""

    def __init__(self, max_pages: int, rebuild_s: float) -> None:
        self._pages: OrderedDict[Hashable, Page] = OrderedDict()
        self._building: dict[Hashable, asyncio.Future[Page]] = {}
        self._max = max_pages
        self._rebuild_s = rebuild_s
        self.builds = 0  # pages built since start (tests and /metrics read it)

    def __len__(self) -> int:
        return len(self._pages)

    async def get(
        self, key: Hashable, version: Hashable, build: Callable[[], Awaitable[Rendered]]
    ) -> Page:
        loop = asyncio.get_running_loop()
        now = loop.time()
        page = self._pages.get(key)
        if page is not None and page.version == version and now - page.built_at < self._rebuild_s:
            self._pages.move_to_end(key)
            return page
        pending = self._building.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Page] = loop.create_future()
        self._building[key] = future
        try:
            page = compress(await build(), version, now)
        except BaseException as err:
            if isinstance(err, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(err)
                future.exception()  # the waiters re-raise it; nobody else has to look
            raise
        finally:
            del self._building[key]
        self.builds += 1
        if page.status != 200:
            # Not kept: a crawler asking for made-up identifiers must not push real pages out.
            future.set_result(page)
            return page
        self._pages[key] = page
        self._pages.move_to_end(key)
        while len(self._pages) > self._max:
            self._pages.popitem(last=False)
        future.set_result(page)
        return page

    def clear(self) -> None:
        self._pages.clear()
