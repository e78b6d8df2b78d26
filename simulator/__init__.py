"""The Local mode's simulators: a citizen's phone (what push delivered), a call and an SMS into
the hotline through our own webhooks, signed as Twilio signs them. Off (404) unless the push and
telephony providers are the Local ones."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from canhbao import keys
from canhbao.config import Config
from simulator import routes
from simulator.calls import CallSimulator
from simulator.phone import PhoneSimulator
from simulator.ports import SimulatorPorts

__all__ = ["setup"]


def setup(
    app: web.Application,
    config: Config,
    *,
    ports: SimulatorPorts,
) -> None:
    """Routes always (the OpenAPI document lists them); they answer 404 `simulator_off` unless
    the channel's provider is Local. `devices` and `pushes` are built once the database is open."""
    app[routes.LOCAL] = (config.push.provider == "local", config.telephony.provider == "local")
    app[routes.WEBHOOKS] = ports.webhooks
    app[routes.CALLS] = CallSimulator(
        app[keys.CLOCK], config.server.public_base_url, config.telephony.hotline_number
    )

    async def phone_ctx(app: web.Application) -> AsyncIterator[None]:
        app[routes.PHONE] = PhoneSimulator(ports.devices(), ports.pushes())
        yield

    app.cleanup_ctx.append(phone_ctx)
    routes.setup_routes(app)
