"""A fake flood camera: a local aiohttp app serving stills the test generates with Pillow.

    camera = FakeCameraServer()
    camera.still("/snap.jpg", jpeg_bytes, etag=True)        # conditional requests answered 304
    camera.mjpeg("/video", [frame1, frame2])                   # multipart/x-mixed-replace
    camera.fault("/snap.jpg", "slow")                          # html, huge_body, slow, stall...
    camera.credentials("/snap.jpg", "digest", "admin", "secret")
    server = await aiohttp_server(camera.app)

Every request is recorded (path and headers). Handlers that would hang wait on an event set
when the app shuts down, so nothing outlives its test.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Literal

from aiohttp import web

Fault = Literal[
    "html",  # 200 with an HTML page (Content-Type claiming image/jpeg)
    "huge_body",  # 50 MB streamed without a Content-Length
    "slow",  # a few bytes, then one more every so often, never finishing
    "stall",  # headers and then nothing
    "redirect_away",  # 302 to a host that is not the camera's
    "no_boundary",  # an MJPEG answer whose body never carries its boundary
    "status_500",
]
HTML_PAGE = (
    b"<!DOCTYPE html><html><head><title>Camera login</title></head>"
    b"<body><form action=/login><input name=user></form></body></html>"
)
HUGE_BYTES = 50 * 1024 * 1024
BOUNDARY = "myboundary"
REALM = "IP Camera"


@dataclass
class CameraRoute:
    kind: Literal["still", "mjpeg"]
    frames: list[bytes]
    content_type: str = "image/jpeg"
    etag: bool = False
    last_modified: str = ""  # an HTTP date: sent as Last-Modified, If-Modified-Since it → 304
    fault: Fault | None = None
    auth: Literal["none", "basic", "digest"] = "none"
    username: str = ""
    password: str = ""
    served: int = 0
    nonces: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Seen:
    path: str
    headers: dict[str, str]


class FakeCameraServer:
    def __init__(self) -> None:
        self.routes: dict[str, CameraRoute] = {}
        self.seen: list[Seen] = []
        self.not_modified = 0
        self.streams_closed = 0
        self._release = asyncio.Event()
        self.app = web.Application()
        self.app.router.add_get("/{tail:.*}", self._handle)
        self.app.on_shutdown.append(self._on_shutdown)

    # -- scripting --------------------------------------------------------------------------

    def still(
        self,
        path: str,
        body: bytes,
        *,
        content_type: str = "image/jpeg",
        etag: bool = False,
        last_modified: str = "",
    ) -> None:
        """Serve `body` at `path`; with `etag`, an ETag (its hash) and 304s for it; with
        `last_modified` (an HTTP date), that Last-Modified and 304s to If-Modified-Since it."""
        self.routes[path] = CameraRoute("still", [body], content_type, etag, last_modified)

    def change(self, path: str, body: bytes) -> None:
        self.routes[path].frames = [body]

    def mjpeg(self, path: str, frames: list[bytes]) -> None:
        self.routes[path] = CameraRoute("mjpeg", frames)

    def fault(self, path: str, fault: Fault | None) -> None:
        self.routes[path].fault = fault

    def credentials(
        self, path: str, auth: Literal["basic", "digest"], username: str, password: str
    ) -> None:
        route = self.routes[path]
        route.auth, route.username, route.password = auth, username, password

    def requests_to(self, path: str) -> list[Seen]:
        return [seen for seen in self.seen if seen.path == path]

    async def _on_shutdown(self, app: web.Application) -> None:
        self._release.set()

    # -- serving ----------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(Seen(request.path, dict(request.headers)))
        route = self.routes.get(request.path)
        if route is None:
            return web.Response(status=404, text="not found")
        refused = self._check_auth(request, route)
        if refused is not None:
            return refused
        if route.fault is not None:
            return await self._fault(request, route)
        if route.kind == "mjpeg":
            return await self._stream(request, route)
        body = route.frames[0]
        headers = {}
        if route.etag:
            tag = f'"{hashlib.sha256(body).hexdigest()[:16]}"'
            headers["ETag"] = tag
            if request.headers.get("If-None-Match") == tag:
                self.not_modified += 1
                return web.Response(status=304, headers=headers)
        if route.last_modified:
            headers["Last-Modified"] = route.last_modified
            if request.headers.get("If-Modified-Since") == route.last_modified:
                self.not_modified += 1
                return web.Response(status=304, headers=headers)
        route.served += 1
        return web.Response(body=body, content_type=route.content_type, headers=headers)

    def _check_auth(self, request: web.Request, route: CameraRoute) -> web.Response | None:
        if route.auth == "none":
            return None
        given = request.headers.get("Authorization", "")
        if route.auth == "basic":
            expected = base64.b64encode(f"{route.username}:{route.password}".encode()).decode()
            if given == f"Basic {expected}":
                return None
            return web.Response(status=401, headers={"WWW-Authenticate": f'Basic realm="{REALM}"'})
        if given.startswith("Digest ") and self._digest_ok(request, route, given[7:]):
            return None
        nonce = secrets.token_hex(16)
        route.nonces.add(nonce)
        challenge = f'Digest realm="{REALM}", qop="auth", nonce="{nonce}", algorithm=MD5'
        return web.Response(status=401, headers={"WWW-Authenticate": challenge})

    @staticmethod
    def _digest_ok(request: web.Request, route: CameraRoute, header: str) -> bool:
        fields: dict[str, str] = {}
        for part in header.split(","):
            name, _, value = part.strip().partition("=")
            fields[name.strip().lower()] = value.strip().strip('"')
        if fields.get("nonce") not in route.nonces or fields.get("username") != route.username:
            return False

        def md5(text: str) -> str:
            return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()

        ha1 = md5(f"{route.username}:{REALM}:{route.password}")
        ha2 = md5(f"{request.method}:{fields.get('uri', '')}")
        expected = md5(
            f"{ha1}:{fields['nonce']}:{fields.get('nc', '')}:{fields.get('cnonce', '')}:"
            f"{fields.get('qop', '')}:{ha2}"
        )
        return secrets.compare_digest(expected, fields.get("response", ""))

    async def _stream(self, request: web.Request, route: CameraRoute) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": f"multipart/x-mixed-replace; boundary={BOUNDARY}"}
        )
        await response.prepare(request)
        index = 0
        try:
            while not self._release.is_set():
                frame = route.frames[index % len(route.frames)]
                await response.write(
                    f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                    f"Content-Length: {len(frame)}\r\n\r\n".encode()
                    + frame
                    + b"\r\n"
                )
                route.served += 1
                index += 1
                await self._pause(0.05)
        except (ConnectionResetError, ConnectionError):
            self.streams_closed += 1
        return response

    async def _pause(self, seconds: float) -> None:
        # The double's own pacing (a camera sends frames at its frame rate); ends at shutdown.
        try:
            await asyncio.wait_for(self._release.wait(), seconds)
        except TimeoutError:
            pass

    async def _fault(self, request: web.Request, route: CameraRoute) -> web.StreamResponse:
        if route.fault == "html":
            return web.Response(body=HTML_PAGE, content_type="image/jpeg")
        if route.fault == "status_500":
            return web.Response(status=500, body=HTML_PAGE, content_type="text/html")
        if route.fault == "redirect_away":
            raise web.HTTPFound("http://portal.example.invalid/login.html")
        response = web.StreamResponse()
        if route.kind == "mjpeg":
            response.headers["Content-Type"] = f"multipart/x-mixed-replace; boundary={BOUNDARY}"
        else:
            response.content_type = "image/jpeg"
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            if route.fault == "huge_body":
                chunk = b"\xff" * (1024 * 1024)
                for _ in range(HUGE_BYTES // len(chunk)):
                    await response.write(chunk)
            elif route.fault == "no_boundary":
                while not self._release.is_set():
                    await response.write(b"\x00garbage without a boundary\x00" * 64)
                    await self._pause(0.01)
            elif route.fault == "slow":
                await response.write(route.frames[0][:16])
                for byte in route.frames[0][16:]:
                    await self._pause(0.2)
                    if self._release.is_set():
                        break
                    await response.write(bytes([byte]))
            else:  # stall
                await self._release.wait()
        except (ConnectionResetError, ConnectionError):
            self.streams_closed += 1
            return response
        await response.write_eof()
        return response
