"""A fake hydro-met upstream: a local aiohttp app serving recorded payloads, and scripted faults.

    upstream = FeedUpstream()
    upstream.serve("/id/measures", payload_bytes, etag='"v1"')
    server = await aiohttp_server(upstream.app)
    upstream.fault("/id/measures", "timeout")      # then "reset", "html", "truncated", "huge"...

Every request is recorded (method, path, query, headers, form) for assertions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from aiohttp import web

Fault = Literal["timeout", "reset", "html", "truncated", "huge", "declared_huge", "status_500"]
Body = bytes | Callable[[web.Request], Awaitable[bytes]]

HTML_ERROR = (
    b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
    b"<body><h1>Bad Gateway</h1><p>The upstream server is temporarily unavailable.</p>"
    b"</body></html>"
)
HUGE_BYTES = 50 * 1024 * 1024


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    form: dict[str, str]


@dataclass
class Route:
    body: Body
    content_type: str = "application/json"
    etag: str = ""
    last_modified: str = ""
    required_headers: Mapping[str, str] = field(default_factory=dict)
    fault: Fault | None = None


class FeedUpstream:
    """The upstream's routes and what it has been asked."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Route] = {}
        self.seen: list[Seen] = []
        self.not_modified = 0
        # Released when the app shuts down, so a "timeout" handler never outlives its test.
        self._release = asyncio.Event()
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self._handle)
        self.app.on_shutdown.append(self._on_shutdown)

    def serve(
        self,
        path: str,
        body: Body,
        *,
        method: str = "GET",
        content_type: str = "application/json",
        etag: str = "",
        last_modified: str = "",
        required_headers: Mapping[str, str] | None = None,
    ) -> None:
        self.routes[(method, path)] = Route(
            body, content_type, etag, last_modified, dict(required_headers or {})
        )

    def fault(self, path: str, fault: Fault | None, *, method: str = "GET") -> None:
        self.routes[(method, path)].fault = fault

    def requests_to(self, path: str) -> list[Seen]:
        return [seen for seen in self.seen if seen.path == path]

    async def _on_shutdown(self, app: web.Application) -> None:
        self._release.set()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.seen.append(
            Seen(request.method, request.path, dict(request.query), dict(request.headers), form)
        )
        route = self.routes.get((request.method, request.path))
        if route is None:
            return web.Response(status=404, text="not found")
        for name, value in route.required_headers.items():
            if request.headers.get(name) != value:
                return web.Response(status=403, body=HTML_ERROR, content_type="text/html")
        if route.fault is not None:
            return await self._fault(request, route)
        if route.etag and request.headers.get("If-None-Match") == route.etag:
            self.not_modified += 1
            return web.Response(status=304)
        if route.last_modified and request.headers.get("If-Modified-Since") == route.last_modified:
            self.not_modified += 1
            return web.Response(status=304)
        body = route.body if isinstance(route.body, bytes) else await route.body(request)
        headers = {}
        if route.etag:
            headers["ETag"] = route.etag
        if route.last_modified:
            headers["Last-Modified"] = route.last_modified
        return web.Response(body=body, content_type=route.content_type, headers=headers)

    async def _fault(self, request: web.Request, route: Route) -> web.StreamResponse:
        if route.fault == "timeout":
            await self._release.wait()
            return web.Response(status=504)
        if route.fault == "reset":
            assert request.transport is not None
            request.transport.abort()  # RST before any byte of an answer
            return web.Response()
        if route.fault == "html":
            return web.Response(body=HTML_ERROR, content_type="text/html")
        if route.fault == "status_500":
            return web.Response(status=500, body=HTML_ERROR, content_type="text/html")
        body = route.body if isinstance(route.body, bytes) else await route.body(request)
        if route.fault == "truncated":
            return web.Response(body=body[: len(body) // 2], content_type=route.content_type)
        if route.fault == "declared_huge":
            response = web.StreamResponse(headers={"Content-Length": str(HUGE_BYTES)})
            response.content_type = route.content_type
            await response.prepare(request)
            return response  # the client refuses on the header alone
        # "huge": 50 MB streamed without a Content-Length, in 1 MB chunks.
        response = web.StreamResponse()
        response.content_type = route.content_type
        response.enable_chunked_encoding()
        await response.prepare(request)
        chunk = b"[" + b"0," * (512 * 1024 - 1)
        try:
            for _ in range(HUGE_BYTES // len(chunk)):
                await response.write(chunk)
        except (ConnectionResetError, ConnectionError):
            return response  # the client hung up, as it should past its cap
        await response.write_eof()
        return response
