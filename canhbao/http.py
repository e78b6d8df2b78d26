"""HTTP plumbing shared by every domain: JSON errors, body parsing, the shared client session."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, overload
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler

from canhbao import keys
from canhbao.errors import CanhbaoError

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error answered to the client as JSON: {"error": {"code", "message", ...details}}."""

    def __init__(self, status: int, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def error_response(status: int, code: str, message: str, **details: Any) -> web.Response:
    return web.json_response(
        {"error": {"code": code, "message": message, **details}}, status=status
    )


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error leaves as JSON with a stable code; nothing leaks a traceback to the client."""
    try:
        return await handler(request)
    except ApiError as err:
        return error_response(err.status, err.code, err.message, **err.details)
    except web.HTTPRequestEntityTooLarge:
        limit = request.app[keys.CONFIG].server.max_body_bytes
        return error_response(413, "body_too_large", f"request body over the {limit}-byte limit")
    except web.HTTPException as err:
        if err.status < 400 or err.content_type == "application/json":
            raise
        code = err.reason.lower().replace(" ", "_")
        return error_response(err.status, code, err.text or err.reason)
    except Exception:
        log.exception("unhandled error", extra={"path": request.path})
        return error_response(500, "internal_error", "internal error; see the server log")


SQLITE_MAX_INT = 2**63 - 1  # ids and counts above this cannot be bound as SQLite integers


@overload
def int_query(request: web.Request, name: str, *, default: int, low: int, high: int) -> int: ...


@overload
def int_query(
    request: web.Request, name: str, *, default: None = None, low: int, high: int = SQLITE_MAX_INT
) -> int | None: ...


def int_query(
    request: web.Request,
    name: str,
    *,
    default: int | None = None,
    low: int,
    high: int = SQLITE_MAX_INT,
) -> int | None:
    """A whole-number query parameter within [low, high], the default when absent, else 400."""
    text = request.query.get(name)
    if text is None:
        return default
    # isascii: str.isdigit also accepts digits such as '²' that int() refuses.
    if not (text.isascii() and text.isdigit() and low <= int(text) <= high):
        raise ApiError(400, "invalid_query", f"{name} must be a whole number from {low} to {high}")
    return int(text)


async def http_session_ctx(app: web.Application) -> AsyncIterator[None]:
    """The one outbound aiohttp session; adapters receive it, they never make their own."""
    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
    session = aiohttp.ClientSession(connector=connector, raise_for_status=False)
    app[keys.HTTP] = session
    yield
    await session.close()


# -- outbound: one capped, timed, conditional request -------------------------------------------

_CHUNK = 65536
Validators = tuple[str, str]  # (ETag, Last-Modified), as the server sent them; "" when absent


class FetchError(CanhbaoError):
    """An upstream gave no usable body; each domain translates it at its edge.

    FetchError
    ├── UpstreamFailed   an HTTP error status, a timeout, a connection error, a body cut short
    │   └── UpstreamTimedOut   the timeout
    ├── BodyTooLarge     the body is over the byte cap (as declared, or found while streaming)
    └── RedirectRefused  a redirect to a host the caller did not allow (not followed)
    """


class UpstreamFailed(FetchError):
    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status  # the HTTP status, when the upstream answered with an error one


class UpstreamTimedOut(UpstreamFailed):
    """No whole answer within the timeout (a stalled or slow-loris upstream)."""


class BodyTooLarge(FetchError):
    pass


class RedirectRefused(FetchError):
    pass


@dataclass(frozen=True)
class Fetched:
    """A 2xx answer: its final URL (after redirects), body and the validators it carried."""

    url: str
    status: int
    body: bytes
    content_type: str
    validators: Validators


async def fetch_capped(
    session: aiohttp.ClientSession,
    url: str,
    *,
    max_bytes: int,
    timeout_s: float,
    method: str = "GET",
    params: Mapping[str, str] | None = None,
    data: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    validators: Validators | None = None,
    max_redirects: int = 10,
    redirect_hosts: Collection[str] | None = None,
    middlewares: Sequence[aiohttp.ClientMiddlewareType] = (),
) -> Fetched | None:
    """One request whose body is refused at `max_bytes`, never held whole past it.

    With `validators` the request is conditional (If-None-Match, If-Modified-Since for the
    parts known) and a 304 answers None. The answer's own validators come back in Fetched, for
    the caller to keep once it has used the body: a payload that failed further on must be
    fetched again, not answered 304. With `redirect_hosts`, a redirect is followed only to
    http(s) on those hosts, checked before the next request is made (so an allowed host cannot
    bounce us to an internal address). `middlewares` (e.g. aiohttp's DigestAuthMiddleware) go
    with the request.
    """
    sent = dict(headers or {})
    if validators is not None:
        etag, modified = validators
        if etag:
            sent["If-None-Match"] = etag
        if modified:
            sent["If-Modified-Since"] = modified
    where = short_url(url)
    request = functools.partial(
        session.request,
        method,
        params=params,
        data=data,
        headers=sent,
        timeout=aiohttp.ClientTimeout(total=timeout_s),
        middlewares=tuple(middlewares) or None,
    )
    try:
        for _ in range(max_redirects + 1):
            if redirect_hosts is None:
                context = request(url, max_redirects=max_redirects)
            else:
                context = request(url, allow_redirects=False)
            async with context as answer:
                location = answer.headers.get("Location")
                if redirect_hosts is not None and answer.status in _REDIRECTS and location:
                    url = urljoin(str(answer.url), location)
                    parts = urlsplit(url)
                    if (
                        parts.scheme not in ("http", "https")
                        or parts.hostname not in redirect_hosts
                    ):
                        raise RedirectRefused(
                            f"{where}: redirected to {short_url(url)}, not an allowed host"
                        )
                    continue
                return await _read_capped(answer, where, max_bytes, validators is not None)
        raise UpstreamFailed(f"{where}: more than {max_redirects} redirects")
    except TimeoutError:
        raise UpstreamTimedOut(f"{where}: no answer within {timeout_s:g} s") from None
    except aiohttp.ClientPayloadError as err:
        raise UpstreamFailed(f"{where}: body cut short ({err})") from err
    except aiohttp.ClientError as err:
        raise UpstreamFailed(f"{where}: {type(err).__name__}: {err}") from err


_REDIRECTS = frozenset({301, 302, 303, 307, 308})


async def _read_capped(
    answer: aiohttp.ClientResponse, where: str, max_bytes: int, conditional: bool
) -> Fetched | None:
    if answer.status == 304 and conditional:
        return None
    if not 200 <= answer.status < 300:
        raise UpstreamFailed(f"{where}: HTTP {answer.status}", status=answer.status)
    length = answer.content_length
    if length is not None and length > max_bytes:
        raise BodyTooLarge(f"{where}: body of {length} bytes is over the {max_bytes}-byte cap")
    chunks: list[bytes] = []
    size = 0
    async for chunk in answer.content.iter_chunked(_CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLarge(f"{where}: body over the {max_bytes}-byte cap; abandoned")
        chunks.append(chunk)
    return Fetched(
        str(answer.url),
        answer.status,
        b"".join(chunks),
        answer.content_type,
        (answer.headers.get("ETag", ""), answer.headers.get("Last-Modified", "")),
    )


def short_url(url: str) -> str:
    """A URL cut to 120 characters, for messages and logs."""
    return url if len(url) <= 120 else url[:117] + "..."
