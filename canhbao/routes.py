"""The shell's own routes: /healthz and /metrics."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from canhbao import keys, openapi
from canhbao.clock import utc_text


async def healthz(request: web.Request) -> web.Response:
    """Health: database, scheduler and every background component; 503 when unhealthy."""
    app = request.app
    db = app[keys.DB]
    database_ok = await db.ping()
    # Reads keep working on a database that has turned read-only (or whose disk is full):
    # only a write shows it.
    write_refused = await db.check_writable() if database_ok else None
    scheduler_ok = bool(app[keys.SCHEDULER].running)
    registry = app[keys.HEALTH]
    failing = registry.unhealthy()
    healthy = database_ok and write_refused is None and scheduler_ok and not failing
    if not database_ok:
        database = "unreachable"
    else:
        database = "ok" if write_refused is None else "not_writable"
    body = {
        "status": "ok" if healthy else "unhealthy",
        "database": database,
        **({"database_detail": write_refused} if write_refused else {}),
        "scheduler": "running" if scheduler_ok else "stopped",
        "components": {
            name: {
                "status": state.status,
                "detail": state.detail,
                "since": utc_text(state.since) if state.since else None,
                "critical": state.critical,
            }
            for name, state in sorted(registry.components.items())
        },
    }
    return web.json_response(body, status=200 if healthy else 503)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus metrics in the text exposition format."""
    registry = request.app[keys.METRICS]
    for refresh in request.app[keys.METRIC_REFRESHERS]:
        await refresh()
    response = web.Response(body=generate_latest(registry))
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


def setup_routes(app: web.Application) -> None:
    openapi.setup_routes(app)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
