"""HTTP routes: login, logout and me; users, tokens and the audit log for admins."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from canhbao import audit, keys
from canhbao.auth.admin import AccountAdmin
from canhbao.auth.middleware import (
    SESSION_COOKIE,
    accounts_for,
    require_principal,
    require_roles,
    resolution,
)
from canhbao.auth.models import InvalidAccount, Role
from canhbao.auth.throttle import LoginThrottled, client_address
from canhbao.clock import utc_text
from canhbao.http import ApiError, error_response, int_query, read_json

AUDIT_PAGE_MAX = 500
MAX_ID = 2**63 - 1  # SQLite's largest integer


async def login(request: web.Request) -> web.Response:
    body = await _object(request, required={"username", "password"})
    config = request.app[keys.CONFIG]
    try:
        result = await accounts_for(request.app).login(
            body["username"],
            body["password"],
            address=client_address(
                request.remote,
                request.headers.get("X-Forwarded-For"),
                config.auth.trusted_proxies,
            ),
        )
    except LoginThrottled as err:
        response = error_response(err.status, err.code, str(err))
        response.headers["Retry-After"] = str(err.retry_after_s)
        return response
    response = web.json_response(
        {
            "user": result.user.to_json(),
            "roles": sorted(result.user.roles),
            "csrf_token": result.csrf_token,
            "expires_at": utc_text(result.expires_at),
        }
    )
    response.set_cookie(
        SESSION_COOKIE,
        result.session_id,
        max_age=int(config.auth.session_hours * 3600),
        path="/",
        httponly=True,
        samesite="Strict",
        # Over plain http (a laptop, a test) a Secure cookie would never be sent back.
        secure=config.server.public_base_url.startswith("https://"),
    )
    response.headers["Cache-Control"] = "no-store"  # the body carries the CSRF token
    return response


@require_roles()
async def logout(request: web.Request) -> web.Response:
    session = resolution(request).session
    if session is None:
        raise ApiError(400, "not_a_session", "only a cookie session can log out")
    await accounts_for(request.app).logout(session)
    response = web.Response(status=204)
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


@require_roles()
async def me(request: web.Request) -> web.Response:
    principal = require_principal(request)
    session = resolution(request).session
    if session is None:
        return web.json_response(
            {
                "token": {"id": principal.id, "name": principal.name},
                "roles": sorted(principal.roles),
            }
        )
    user = await accounts_for(request.app).get_user(principal.name)
    response = web.json_response(
        {
            "user": user.to_json(),
            "roles": sorted(principal.roles),
            "csrf_token": session.csrf_token,
            "expires_at": utc_text(session.expires_at),
        }
    )
    response.headers["Cache-Control"] = "no-store"  # the body carries the CSRF token
    return response


@require_roles(Role.admin)
async def list_users(request: web.Request) -> web.Response:
    users = await accounts_for(request.app).list_users()
    return web.json_response({"items": [user.to_json() for user in users]})


@require_roles(Role.admin)
async def create_user(request: web.Request) -> web.Response:
    body = await _object(
        request, required={"username", "password", "roles"}, optional={"display_name"}
    )
    user = await accounts_for(request.app).create_user(
        body["username"],
        body["password"],
        _list(body["roles"], "roles"),
        display_name=body.get("display_name", ""),
        actor=require_principal(request).actor,
    )
    return web.json_response(user.to_json(), status=201)


@require_roles(Role.admin)
async def disable_user(request: web.Request) -> web.Response:
    user = await accounts_for(request.app).disable_user(
        request.match_info["username"], actor=require_principal(request).actor
    )
    return web.json_response(user.to_json())


@require_roles(Role.admin)
async def set_roles(request: web.Request) -> web.Response:
    body = await _object(request, required={"roles"})
    user = await _admin(request).set_roles(
        request.match_info["username"],
        _list(body["roles"], "roles"),
        actor=require_principal(request).actor,
    )
    return web.json_response(user.to_json())


@require_roles(Role.admin)
async def confirm_roles(request: web.Request) -> web.Response:
    user = await _admin(request).confirm_roles(
        request.match_info["username"], actor=require_principal(request).actor
    )
    return web.json_response(user.to_json())


@require_roles(Role.admin)
async def unlock_user(request: web.Request) -> web.Response:
    user = await _admin(request).unlock(
        request.match_info["username"], actor=require_principal(request).actor
    )
    return web.json_response(user.to_json())


@require_roles(Role.admin)
async def enable_user(request: web.Request) -> web.Response:
    user = await _admin(request).enable(
        request.match_info["username"], actor=require_principal(request).actor
    )
    return web.json_response(user.to_json())


@require_roles(Role.admin)
async def reset_password(request: web.Request) -> web.Response:
    body = await _object(request, required={"password"})
    user = await _admin(request).reset_password(
        request.match_info["username"], body["password"], actor=require_principal(request).actor
    )
    return web.json_response(user.to_json())


@require_roles(Role.admin)
async def list_tokens(request: web.Request) -> web.Response:
    tokens = await accounts_for(request.app).list_tokens()
    return web.json_response({"items": [token.to_json() for token in tokens]})


@require_roles(Role.admin)
async def create_token(request: web.Request) -> web.Response:
    body = await _object(request, required={"name", "roles"})
    token, secret = await accounts_for(request.app).create_token(
        body["name"], _list(body["roles"], "roles"), actor=require_principal(request).actor
    )
    return web.json_response({"token": token.to_json(), "secret": secret}, status=201)


@require_roles(Role.admin)
async def revoke_token(request: web.Request) -> web.Response:
    token = await accounts_for(request.app).revoke_token(
        int(request.match_info["id"]), actor=require_principal(request).actor
    )
    return web.json_response(token.to_json())


@require_roles(Role.admin)
async def list_audit(request: web.Request) -> web.Response:
    query = request.query
    limit = int_query(request, "limit", default=50, low=1, high=AUDIT_PAGE_MAX)
    before_id = int_query(request, "before_id", low=1, high=MAX_ID)
    entries = await audit.list_audit(
        request.app[keys.DB],
        entity=query.get("entity"),
        entity_id=query.get("entity_id"),
        actor=query.get("actor"),
        before_id=before_id,
        limit=limit,
    )
    return web.json_response(
        {
            "items": [entry.to_json() for entry in entries],
            # A full page may have more behind it; pass this back as before_id for the next.
            "next_before_id": entries[-1].id if len(entries) == limit else None,
        }
    )


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/auth/login", login)
    app.router.add_post("/api/v1/auth/logout", logout)
    app.router.add_get("/api/v1/auth/me", me)
    app.router.add_get("/api/v1/users", list_users)
    app.router.add_post("/api/v1/users", create_user)
    app.router.add_post("/api/v1/users/{username}/disable", disable_user)
    app.router.add_put("/api/v1/users/{username}/roles", set_roles)
    app.router.add_post("/api/v1/users/{username}/roles/confirm", confirm_roles)
    app.router.add_post("/api/v1/users/{username}/unlock", unlock_user)
    app.router.add_post("/api/v1/users/{username}/enable", enable_user)
    app.router.add_post("/api/v1/users/{username}/password", reset_password)
    app.router.add_get("/api/v1/tokens", list_tokens)
    app.router.add_post("/api/v1/tokens", create_token)
    # At most 18 digits: always below SQLite's largest integer, so int() never overflows a bind.
    app.router.add_post(r"/api/v1/tokens/{id:[0-9]{1,18}}/revoke", revoke_token)
    app.router.add_get("/api/v1/audit", list_audit)


async def _object(
    request: web.Request, *, required: set[str], optional: frozenset[str] | set[str] = frozenset()
) -> dict[str, Any]:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", "the body must be a JSON object")
    missing = sorted(required - body.keys())
    if missing:
        raise ApiError(400, "invalid_body", f"missing fields: {', '.join(missing)}")
    unknown = sorted(body.keys() - required - optional)
    if unknown:
        raise ApiError(400, "invalid_body", f"unknown fields: {', '.join(unknown)}")
    return body


def _admin(request: web.Request) -> AccountAdmin:
    return AccountAdmin(accounts_for(request.app))


def _list(value: object, field: str) -> list[object]:
    if not isinstance(value, list):
        raise InvalidAccount(f"{field} must be a list")
    return value
