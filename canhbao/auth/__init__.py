"""Staff users and roles, login sessions with CSRF tokens, machine tokens; setup(app, config)."""

from __future__ import annotations

from aiohttp import web

from canhbao import audit
from canhbao.auth import first_admin, routes
from canhbao.auth.middleware import (
    LOGIN_THROTTLE,
    auth_middleware,
    current_principal,
    require_principal,
    require_roles,
)
from canhbao.auth.models import AuthError, Principal, Role
from canhbao.auth.passwords import Argon2Parameters
from canhbao.auth.store import MIGRATIONS as _AUTH_MIGRATIONS
from canhbao.auth.throttle import LoginThrottle
from canhbao.config import Config, require_positive
from canhbao.db import Migration
from canhbao.errors import ConfigError

__all__ = [
    "MIGRATIONS",
    "AuthError",
    "Principal",
    "Role",
    "auth_middleware",
    "current_principal",
    "require_principal",
    "require_roles",
    "setup",
]

# The audit log first: auth's own changes are written to it.
MIGRATIONS: tuple[Migration, ...] = (*audit.MIGRATIONS, *_AUTH_MIGRATIONS)


def setup(app: web.Application, config: Config) -> None:
    """Check the auth config and add the routes (the middleware is installed by create_app)."""
    Argon2Parameters.from_config(config.auth)
    require_positive(
        config.auth,
        "auth",
        "session_hours",
        "login_address_backoff_max_s",
        "login_account_backoff_max_s",
    )
    require_positive(config.auth, "auth", "login_free_failures", "password_min_length", minimum=1)
    if config.auth.approver_grant_admins not in (1, 2):
        raise ConfigError("auth.approver_grant_admins: must be 1 or 2")
    app[LOGIN_THROTTLE] = LoginThrottle(config.auth)
    # After the database's context (create_app adds that first): it looks for an admin.
    app.cleanup_ctx.append(first_admin.first_admin_ctx)
    routes.setup_routes(app)
    first_admin.setup_routes(app)
