"""HTTP routes: login, logout and me; users, tokens and the audit log for admins."""

from __future__ import annotations

from aiohttp import web

from canhbao import audit, keys
from canhbao.api import NO_CONTENT, endpoint
from canhbao.auth.admin import AccountAdmin
from canhbao.auth.middleware import (
    SESSION_COOKIE,
    accounts_for,
    require_principal,
    require_roles,
    resolution,
)
from canhbao.auth.models import Role
from canhbao.auth.schemas import (
    AuditPage,
    AuditQuery,
    CreatedToken,
    CreateTokenBody,
    CreateUserBody,
    LoginBody,
    PasswordBody,
    RolesBody,
    SessionView,
    TokenList,
    TokenMe,
    TokenPath,
    TokenView,
    UserList,
    UserPath,
    UserView,
)
from canhbao.auth.throttle import LoginThrottled, client_address
from canhbao.clock import utc_text
from canhbao.http import ApiError, error_response


@endpoint(responses={200: SessionView})
async def login(request: web.Request, body: LoginBody) -> web.Response:
    """Log in: a session cookie, and the CSRF token that writes must send back."""
    config = request.app[keys.CONFIG]
    try:
        result = await accounts_for(request.app).login(
            body.username,
            body.password,
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
@endpoint(responses={204: NO_CONTENT})
async def logout(request: web.Request) -> web.Response:
    """End this cookie session."""
    session = resolution(request).session
    if session is None:
        raise ApiError(400, "not_a_session", "only a cookie session can log out")
    await accounts_for(request.app).logout(session)
    response = web.Response(status=204)
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


@require_roles()
@endpoint(responses={200: SessionView | TokenMe})
async def me(request: web.Request) -> web.Response:
    """Who is asking: the user (or token), roles, and a session's CSRF token."""
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
@endpoint(responses={200: UserList})
async def list_users(request: web.Request) -> web.Response:
    """Every staff account."""
    users = await accounts_for(request.app).list_users()
    return web.json_response({"items": [user.to_json() for user in users]})


@require_roles(Role.admin)
@endpoint(responses={201: UserView})
async def create_user(request: web.Request, body: CreateUserBody) -> web.Response:
    """Create a staff account (audited)."""
    user = await accounts_for(request.app).create_user(
        body.username,
        body.password,
        body.roles,
        display_name=body.display_name,
        actor=require_principal(request).actor,
    )
    return web.json_response(user.to_json(), status=201)


@require_roles(Role.admin)
@endpoint(responses={200: UserView})
async def disable_user(request: web.Request, path: UserPath) -> web.Response:
    """Disable a staff account (audited); its sessions end."""
    user = await accounts_for(request.app).disable_user(
        path.username, actor=require_principal(request).actor
    )
    return web.json_response(user.to_json())


@require_roles(Role.admin)
@endpoint(responses={200: UserView})
async def set_roles(request: web.Request, path: UserPath, body: RolesBody) -> web.Response:
    """Replace a user's roles (audited; a grant of approver/admin may wait for a second admin)."""
    user = await _admin(request).set_roles(
        path.username, body.roles, actor=require_principal(request).actor
    )
    return web.json_response(user.to_json())


@require_roles(Role.admin)
@endpoint(responses={200: UserView})
async def confirm_roles(request: web.Request, path: UserPath) -> web.Response:
    """Confirm another admin's pending grant of roles (audited)."""
    user = await _admin(request).confirm_roles(
        path.username, actor=require_principal(request).actor
    )
    return web.json_response(user.to_json())


@require_roles(Role.admin)
@endpoint(responses={200: UserView})
async def unlock_user(request: web.Request, path: UserPath) -> web.Response:
    """Lift a login lock (audited)."""
    user = await _admin(request).unlock(path.username, actor=require_principal(request).actor)
    return web.json_response(user.to_json())


@require_roles(Role.admin)
@endpoint(responses={200: UserView})
async def enable_user(request: web.Request, path: UserPath) -> web.Response:
    """Re-enable a disabled account (audited)."""
    user = await _admin(request).enable(path.username, actor=require_principal(request).actor)
    return web.json_response(user.to_json())


@require_roles(Role.admin)
@endpoint(responses={200: UserView})
async def reset_password(request: web.Request, path: UserPath, body: PasswordBody) -> web.Response:
    """Set a new password (audited)."""
    user = await _admin(request).reset_password(
        path.username, body.password, actor=require_principal(request).actor
    )
    return web.json_response(user.to_json())


@require_roles(Role.admin)
@endpoint(responses={200: TokenList})
async def list_tokens(request: web.Request) -> web.Response:
    """Every machine token (never its secret)."""
    tokens = await accounts_for(request.app).list_tokens()
    return web.json_response({"items": [token.to_json() for token in tokens]})


@require_roles(Role.admin)
@endpoint(responses={201: CreatedToken})
async def create_token(request: web.Request, body: CreateTokenBody) -> web.Response:
    """Create a machine token; its secret is in this answer only (audited)."""
    token, secret = await accounts_for(request.app).create_token(
        body.name, body.roles, actor=require_principal(request).actor
    )
    return web.json_response({"token": token.to_json(), "secret": secret}, status=201)


@require_roles(Role.admin)
@endpoint(responses={200: TokenView})
async def revoke_token(request: web.Request, path: TokenPath) -> web.Response:
    """Revoke a machine token (audited)."""
    token = await accounts_for(request.app).revoke_token(
        path.id, actor=require_principal(request).actor
    )
    return web.json_response(token.to_json())


@require_roles(Role.admin)
@endpoint(responses={200: AuditPage})
async def list_audit(request: web.Request, query: AuditQuery) -> web.Response:
    """The audit log, newest first; filter by entity, entity_id and actor; page with before_id."""
    limit = query.limit
    entries = await audit.list_audit(
        request.app[keys.DB],
        entity=query.entity,
        entity_id=query.entity_id,
        actor=query.actor,
        before_id=query.before_id,
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
    app.router.add_post("/api/v1/tokens/{id}/revoke", revoke_token)
    app.router.add_get("/api/v1/audit", list_audit)


def _admin(request: web.Request) -> AccountAdmin:
    return AccountAdmin(accounts_for(request.app))
