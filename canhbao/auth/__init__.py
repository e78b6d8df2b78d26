"""Staff users, roles, sessions, machine tokens and the audit log (placeholder, being built)."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from canhbao.config import Config
from canhbao.db import Migration

MIGRATIONS: tuple[Migration, ...] = ()


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    return await handler(request)


def setup(app: web.Application, config: Config) -> None:
    """Nothing yet."""
