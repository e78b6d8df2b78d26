"""Who is asking: the middleware resolves a session cookie or a bearer token once per request;
`require_roles` is the one place that refuses."""

from __future__ import annotations

import functools
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, TypeVar, cast

from aiohttp import web
from aiohttp.typedefs import Handler

from canhbao import keys
from canhbao.auth.models import AuthError, Principal, Role, Session
from canhbao.auth.store import Accounts
from canhbao.auth.throttle import LoginThrottle
from canhbao.http import ApiError

SESSION_COOKIE = "canhbao_session"
CSRF_HEADER = "X-CSRF-Token"
# Methods that change state; a cookie alone never authorises them (a browser sends cookies on
# requests another site makes it send, which is what cross-site request forgery exploits).
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

H = TypeVar("H", bound=Callable[[web.Request], Awaitable[web.StreamResponse]])


@dataclass(frozen=True)
class Resolution:
    """What the request's credentials came to.

    `principal` is set only when the credentials are good for this request; `refusal` is the
    answer a protected route gives when credentials were sent but are not good.
    """

    principal: Principal | None = None
    via: Literal["cookie", "bearer"] | None = None
    session: Session | None = None
    refusal: ApiError | None = None


ANONYMOUS = Resolution()
RESOLUTION = web.RequestKey("canhbao.auth.resolution", Resolution)


# The login backoff's in-memory state, one per app (set by canhbao.auth.setup).
LOGIN_THROTTLE = web.AppKey("auth_login_throttle", LoginThrottle)


def accounts_for(app: web.Application) -> Accounts:
    """The app's accounts service (cheap to build: it holds references, not connections)."""
    config = app[keys.CONFIG].auth
    return Accounts(app[keys.DB], app[keys.CLOCK], config, throttle=app.get(LOGIN_THROTTLE))


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Resolve credentials for the handlers; public routes stay public whatever was sent."""
    request[RESOLUTION] = await _resolve(request)
    try:
        return await handler(request)
    except AuthError as err:
        raise ApiError(err.status, err.code, str(err)) from None


async def _resolve(request: web.Request) -> Resolution:
    authorization = request.headers.get("Authorization")
    if authorization is not None:
        # A bearer token wins over a cookie: machine clients have no browser to forge through.
        scheme, _, secret = authorization.partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret:
            return Resolution(
                via="bearer",
                refusal=ApiError(401, "invalid_token", "expected 'Authorization: Bearer <token>'"),
            )
        principal = await accounts_for(request.app).resolve_token(secret)
        if principal is None:
            return Resolution(
                via="bearer", refusal=ApiError(401, "invalid_token", "unknown or revoked token")
            )
        return Resolution(principal=principal, via="bearer")
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return ANONYMOUS
    session = await accounts_for(request.app).resolve_session(cookie)
    if session is None:
        return Resolution(
            via="cookie",
            refusal=ApiError(401, "session_expired", "the session has ended; log in again"),
        )
    if request.method in UNSAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER)
        if not sent:
            refusal = ApiError(403, "csrf_missing", f"a {CSRF_HEADER} header is required")
            return Resolution(via="cookie", session=session, refusal=refusal)
        if not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
            refusal = ApiError(403, "csrf_invalid", f"the {CSRF_HEADER} header does not match")
            return Resolution(via="cookie", session=session, refusal=refusal)
    return Resolution(principal=session.principal, via="cookie", session=session)


def resolution(request: web.Request) -> Resolution:
    try:
        return request[RESOLUTION]
    except KeyError:
        raise RuntimeError("auth_middleware is not installed on this app") from None


def current_principal(request: web.Request) -> Principal | None:
    """Who is asking, if their credentials are good for this request; None otherwise.

    A cookie on a write without its CSRF token counts as no one: a public handler that looks
    here must never act with the authority of a forged request.
    """
    return resolution(request).principal


def require_principal(request: web.Request) -> Principal:
    """The principal of a request behind `require_roles` (401 if there is none)."""
    return _authorize(request, frozenset())


def require_roles(*roles: Role) -> Callable[[H], H]:
    """Refuse the handler to anyone without one of `roles` (admin passes every check).

    No valid credentials → 401 (`unauthenticated`, `invalid_token` or `session_expired`); a
    cookie write without the right X-CSRF-Token → 403 (`csrf_missing`/`csrf_invalid`); none of
    the roles → 403 `forbidden`. With no roles, any authenticated principal passes.
    """
    wanted = frozenset(roles)

    def decorate(handler: H) -> H:
        @functools.wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            _authorize(request, wanted)
            return await handler(request)

        # Read by canhbao.openapi to document who may call the route.
        guarded.required_roles = wanted  # type: ignore[attr-defined]  # a function attribute
        return cast(H, guarded)

    return decorate


def _authorize(request: web.Request, wanted: frozenset[Role]) -> Principal:
    found = resolution(request)
    if found.refusal is not None:
        raise found.refusal
    if found.principal is None:
        raise ApiError(401, "unauthenticated", "log in, or send 'Authorization: Bearer <token>'")
    if wanted and not found.principal.has_any(wanted):
        needed = ", ".join(sorted(wanted))
        raise ApiError(403, "forbidden", f"this needs one of the roles: {needed}")
    return found.principal
