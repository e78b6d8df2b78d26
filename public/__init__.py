"""The citizens' public pages at /: warnings, river levels, wards, cameras and the hotline,
rendered on the server (no script needed), Vietnamese first, English second."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import aiohttp_jinja2
import jinja2
from aiohttp import web

from canhbao import keys as shell_keys
from canhbao.config import Config, require_positive
from canhbao.errors import ConfigError
from public import routes
from public.keys import PAGES
from public.pages import Pages
from public.ports import PublicPorts

PortsFactory = Callable[[web.Application], PublicPorts]


def setup(app: web.Application, config: Config, *, ports: PortsFactory) -> None:
    """Check [public]; add the templates, the pages' context and the routes. `ports` is called
    once at start-up, after the domains it reads from have started."""
    require_positive(config.public, "public", "rebuild_s", "max_pages")
    if config.public.recheck_s < 0 or config.public.browser_max_age_s < 0:
        raise ConfigError("public.recheck_s and public.browser_max_age_s: must not be negative")
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("public", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )

    async def context(app: web.Application) -> AsyncIterator[None]:
        app[PAGES] = Pages(ports(app), config, app[shell_keys.CLOCK], aiohttp_jinja2.get_env(app))
        yield

    app.cleanup_ctx.append(context)
    routes.setup_routes(app)
