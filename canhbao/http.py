"""HTTP plumbing shared by every domain: JSON errors, body parsing, the shared client session."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any, overload

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler

from canhbao import keys

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


async def read_json(request: web.Request) -> Any:
    """The request's JSON body, or a 400 that says what is wrong with it."""
    raw = await request.read()
    if not raw:
        raise ApiError(400, "empty_body", "a JSON body is required")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ApiError(400, "invalid_json", f"body is not valid JSON: {err}") from None


async def http_session_ctx(app: web.Application) -> AsyncIterator[None]:
    """The one outbound aiohttp session; adapters receive it, they never make their own."""
    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
    session = aiohttp.ClientSession(connector=connector, raise_for_status=False)
    app[keys.HTTP] = session
    yield
    await session.close()
