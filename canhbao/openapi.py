"""/api/v1/openapi.json: an OpenAPI 3.1 description built from the routes the app registered.

Each operation's summary and description come from its handler's docstring, and the roles that
may call it from `require_roles`; so the document cannot drift from the code that serves it.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from aiohttp import web

from canhbao import __version__, keys

DOCUMENTED_PREFIXES = ("/api/", "/cap/", "/twilio/", "/healthz", "/metrics")
_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")
# Filled on first request (every route is registered by then); a dict so it can be filled
# without changing the frozen app's state.
_CACHE = web.AppKey("openapi_cache", dict)


def build_openapi(app: web.Application) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if not path or not path.startswith(DOCUMENTED_PREFIXES) or route.method == "HEAD":
            continue
        template = _PARAM.sub(r"{\1}", path)
        paths.setdefault(template, {})[route.method.lower()] = _operation(route, template)
    return {
        "openapi": "3.1.0",
        "info": {"title": "canhbao", "version": __version__},
        "servers": [{"url": app[keys.CONFIG].server.public_base_url}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "canhbao_session"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                            },
                        }
                    },
                }
            },
        },
    }


def _operation(route: web.AbstractRoute, template: str) -> dict[str, Any]:
    handler = route.handler
    doc = inspect.getdoc(handler) or ""
    summary, _, description = doc.partition("\n")
    operation: dict[str, Any] = {
        "operationId": f"{route.method.lower()}_{getattr(handler, '__name__', 'handler')}",
        "summary": summary.strip() or f"{route.method} {template}",
        "responses": {
            "default": {
                "description": "an error",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
        },
    }
    if description.strip():
        operation["description"] = description.strip()
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PARAM.findall(template)
    ]
    if parameters:
        operation["parameters"] = parameters
    roles = getattr(handler, "required_roles", None)
    if roles is not None:
        operation["security"] = [{"session": []}, {"bearer": []}]
        operation["x-roles"] = sorted(str(role) for role in roles) or ["any staff"]
    return operation


async def openapi_json(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 description of this service's HTTP API."""
    cache = request.app[_CACHE]
    if not cache:
        cache.update(build_openapi(request.app))
    return web.json_response(cache)


def setup_routes(app: web.Application) -> None:
    app[_CACHE] = {}
    app.router.add_get("/api/v1/openapi.json", openapi_json)
