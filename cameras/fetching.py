"""Getting one still from a camera: a snapshot (or ONVIF snapshot URI) through the shared
capped fetch, or the first frame of an MJPEG stream; basic or digest credentials. Every
failure leaves as FetchFailed with a stable reason."""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp

from cameras.errors import FetchFailed
from cameras.mjpeg import boundary_of, first_frame
from cameras.models import Camera
from canhbao.http import (
    BodyTooLarge,
    FetchError,
    RedirectRefused,
    UpstreamFailed,
    UpstreamTimedOut,
    Validators,
    fetch_capped,
)

_CHUNK = 65536


@dataclass(frozen=True)
class Got:
    """A camera's answer: its body, or None when it answered 304 Not Modified."""

    status: int
    body: bytes | None
    validators: Validators


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str


class CameraClient:
    """Fetches one camera's stills; keeps its digest state (nonce) between fetches."""

    def __init__(self, camera: Camera, credentials: Credentials | None) -> None:
        self.camera = camera
        self._headers = {"Accept": "image/jpeg, image/png"}
        self._middlewares: tuple[aiohttp.ClientMiddlewareType, ...] = ()
        if credentials is not None and camera.auth == "basic":
            self._headers["Authorization"] = aiohttp.encode_basic_auth(
                credentials.username, credentials.password
            )
        elif credentials is not None and camera.auth == "digest":
            self._middlewares = (
                aiohttp.DigestAuthMiddleware(credentials.username, credentials.password),
            )
        host = urlsplit(camera.url).hostname or ""
        self._hosts = frozenset({host, *camera.redirect_hosts})

    async def fetch(
        self,
        session: aiohttp.ClientSession,
        *,
        timeout_s: float,
        max_bytes: int,
        validators: Validators | None,
    ) -> Got:
        if self.camera.kind == "mjpeg":
            return await self._frame(session, timeout_s, max_bytes)
        try:
            fetched = await fetch_capped(
                session,
                self.camera.url,
                max_bytes=max_bytes,
                timeout_s=timeout_s,
                validators=validators,
                redirect_hosts=self._hosts,
                middlewares=self._middlewares,
                headers=self._headers,
            )
        except FetchError as err:
            raise _translated(err) from err
        if fetched is None:
            return Got(304, None, validators or ("", ""))
        return Got(fetched.status, fetched.body, fetched.validators)

    async def _frame(self, session: aiohttp.ClientSession, timeout_s: float, max_bytes: int) -> Got:
        """Read the stream only until its first whole frame, then close it."""
        deadline = time.monotonic() + timeout_s
        try:
            async with session.get(
                self.camera.url,
                timeout=aiohttp.ClientTimeout(total=timeout_s),
                allow_redirects=False,
                headers=self._headers,
                middlewares=self._middlewares or None,
            ) as answer:
                if answer.status in (401, 403):
                    raise FetchFailed("auth_failed", f"HTTP {answer.status}", status=answer.status)
                if 300 <= answer.status < 400:
                    raise FetchFailed(
                        "redirect_refused",
                        "the stream redirects; not followed",
                        status=answer.status,
                    )
                if not 200 <= answer.status < 300:
                    raise FetchFailed("http_status", f"HTTP {answer.status}", status=answer.status)
                boundary = boundary_of(answer.headers.get("Content-Type", ""))
                buffer = b""
                async for chunk in answer.content.iter_any():
                    buffer += chunk
                    frame = first_frame(buffer, boundary)
                    if frame is not None:
                        return Got(answer.status, frame, ("", ""))
                    if len(buffer) > max_bytes:
                        raise FetchFailed(
                            "too_large", f"no whole frame in the first {max_bytes} bytes"
                        )
                    if time.monotonic() > deadline:
                        break
                raise FetchFailed("no_frame", "the stream ended before its first whole frame")
        except TimeoutError:
            raise FetchFailed("timeout", f"no whole frame within {timeout_s:g} s") from None
        except aiohttp.ClientError as err:
            raise FetchFailed("unreachable", f"{type(err).__name__}: {err}") from err


def _translated(err: FetchError) -> FetchFailed:
    if isinstance(err, UpstreamTimedOut):
        return FetchFailed("timeout", str(err))
    if isinstance(err, BodyTooLarge):
        return FetchFailed("too_large", str(err))
    if isinstance(err, RedirectRefused):
        return FetchFailed("redirect_refused", str(err))
    if isinstance(err, UpstreamFailed) and err.status is not None:
        reason = "auth_failed" if err.status in (401, 403) else "http_status"
        return FetchFailed(reason, str(err), status=err.status)
    if "cut short" in str(err):
        return FetchFailed("cut_short", str(err))
    return FetchFailed("unreachable", str(err))
