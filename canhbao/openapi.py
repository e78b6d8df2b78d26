"""/api/v1/openapi.json: an OpenAPI 3.1 description built from the routes the app registered.

Each operation's summary and description come from its handler's docstring, the roles that
may call it from `require_roles`, and its body, query and path parameters and responses from
the models its `canhbao.api.endpoint` validates with; so the document cannot drift from the
code that serves it.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from aiohttp import web
from pydantic import TypeAdapter

from canhbao import __version__, keys
from canhbao.api import NO_CONTENT, Spec, spec_of

DOCUMENTED_PREFIXES = ("/api/", "/cap/", "/twilio/", "/healthz", "/metrics")
_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")
# Filled on first request (every route is registered by then); a dict so it can be filled
# without changing the frozen app's state.
_CACHE = web.AppKey("openapi_cache", dict)


def build_openapi(app: web.Application) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if not path or not path.startswith(DOCUMENTED_PREFIXES) or route.method == "HEAD":
            continue
        template = _PARAM.sub(r"{\1}", path)
        paths.setdefault(template, {})[route.method.lower()] = _operation(route, template, schemas)
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
            "schemas": dict(sorted(schemas.items())),
        },
    }


ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}
_REF = "#/components/schemas/{model}"


def _schema(model: Any, mode: Any, schemas: dict[str, Any]) -> dict[str, Any]:
    """`model`'s JSON schema, its named parts moved into components (a model: a $ref)."""
    schema = TypeAdapter(model).json_schema(mode=mode, ref_template=_REF)
    schemas.update(schema.pop("$defs", {}))
    name = getattr(model, "__name__", None)
    if isinstance(model, type) and name and "properties" in schema:
        schemas[name] = schema
        return {"$ref": _REF.format(model=name)}
    return schema


def _parameters(model: Any, where: str, schemas: dict[str, Any]) -> list[dict[str, Any]]:
    schema = TypeAdapter(model).json_schema(mode="validation", ref_template=_REF)
    defs = schema.pop("$defs", {})
    schemas.update(defs)
    required = set(schema.get("required", ()))
    return [
        {
            "name": name,
            "in": where,
            "required": where == "path" or name in required,
            "schema": _parameter_schema(prop, defs),
            **({"description": prop["description"]} if "description" in prop else {}),
        }
        for name, prop in schema.get("properties", {}).items()
    ]


def _parameter_schema(prop: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """A parameter's schema, inline: an optional one is simply not sent (a query has no
    null), and an enum is spelled out where it is used."""
    schema = {k: v for k, v in prop.items() if k not in ("title", "description")}
    choices = schema.pop("anyOf", None)
    if choices is not None:
        kept = [_inline(c, defs) for c in choices if c.get("type") != "null"]
        if len(kept) == 1:
            schema.update(kept[0])
        else:
            schema["anyOf"] = kept
    if schema.get("default", 0) is None:
        del schema["default"]
    return _inline(schema, defs)


def _inline(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref", "")
    name = ref.rpartition("/")[2]
    if not ref or name not in defs:
        return schema
    rest = {k: v for k, v in schema.items() if k != "$ref"}
    return {**{k: v for k, v in defs[name].items() if k != "title"}, **rest}


def _responses(spec: Spec, schemas: dict[str, Any]) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, model in sorted(spec.responses.items()):
        if model == NO_CONTENT:
            responses[str(status)] = {"description": "no content"}
            continue
        content_type = spec.response_types.get(status, "application/json")
        if content_type != "application/json":
            schema: dict[str, Any] = {"type": "string"}
            if model is not None:
                # A stream's items (server-sent events' data): named in the components, so a
                # generated client has their types; x-itemSchema as OpenAPI 3.2's itemSchema.
                responses[str(status)] = {
                    "description": "success",
                    "content": {
                        content_type: {"schema": schema, "x-itemSchema": _item(model, schemas)}
                    },
                }
                continue
        elif model is None:
            schema = {"type": "object"}
        else:
            schema = _schema(model, "serialization", schemas)
        responses[str(status)] = {
            "description": "success",
            "content": {content_type: {"schema": schema}},
        }
    return responses


def _item(model: Any, schemas: dict[str, Any]) -> dict[str, Any]:
    """A stream item's schema, kept in the components under its title."""
    schema = _schema(model, "serialization", schemas)
    name = schema.get("title")
    if "$ref" in schema or not name:
        return schema
    schemas[name] = schema
    return {"$ref": _REF.format(model=name)}


def _operation_id(method: str, template: str) -> str:
    """`GET /api/v1/hotline/figures` → `get_api_v1_hotline_figures` (unique per operation)."""
    words = re.sub(r"[^A-Za-z0-9]+", "_", template).strip("_")
    return f"{method.lower()}_{words}"


def _operation(route: web.AbstractRoute, template: str, schemas: dict[str, Any]) -> dict[str, Any]:
    handler = route.handler
    doc = inspect.getdoc(handler) or ""
    summary, _, description = doc.partition("\n")
    operation: dict[str, Any] = {
        # From the method and path, not the handler's name: two domains' `get_figures` (or the
        # webhooks' shared wrapper) made one id for many operations, which OpenAPI forbids and
        # a generated client (the console's) merges into one operation.
        "operationId": _operation_id(route.method, template),
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
    spec = spec_of(handler)
    parameters: list[dict[str, Any]] = []
    if spec is not None and spec.path is not None:
        parameters += _parameters(spec.path, "path", schemas)
    declared = {p["name"] for p in parameters}
    parameters += [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PARAM.findall(template)
        if name not in declared
    ]
    if spec is not None and spec.query is not None:
        parameters += _parameters(spec.query, "query", schemas)
    if parameters:
        operation["parameters"] = parameters
    if spec is not None:
        content: dict[str, Any] = {}
        if spec.body is not None:
            content["application/json"] = {"schema": _schema(spec.body, "validation", schemas)}
        for content_type, schema in spec.raw_bodies.items():
            content[content_type] = {"schema": dict(schema)}
        if content:
            operation["requestBody"] = {"required": spec.body_required, "content": content}
        operation["responses"].update(_responses(spec, schemas))
    else:
        operation["responses"]["2XX"] = {"description": "success"}
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
