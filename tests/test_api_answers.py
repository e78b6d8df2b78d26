"""Every /api/v1 JSON route declares the model of its answer: no "any JSON" left in the
OpenAPI document, so schemathesis (tests/test_schemathesis.py) and every test through
`app_client` (tests/answers.py) check what it answers, not only its status."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import pydantic
from aiohttp import web

from canhbao.api import ResponseModel, answer, endpoint, spec_of
from canhbao.app import create_app
from canhbao.openapi import build_openapi
from tests.answers import check_answers
from tests.conftest import make_config

# Routes whose answers are still undeclared, each with its reason: none left (the hotline's
# rescue requests moved to dispatch with typed answers, cameras typed theirs). A route that
# must answer free JSON for a while goes here with its reason; whoever gives it a model
# removes it (the test fails on a stale entry).
UNDECLARED_ANSWERS: set[tuple[str, str]] = set()
# The OpenAPI document describes the others; it is not one of the answers it describes.
NOT_DESCRIBED_BY_MODELS = {("GET", "/api/v1/openapi.json")}


def _api_routes(app: web.Application) -> list[tuple[str, str, web.AbstractRoute]]:
    found = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter") or ""
        if path.startswith("/api/") and route.method != "HEAD":
            found.append((route.method, path, route))
    return found


def test_every_json_route_declares_its_answers(tmp_path: Path) -> None:
    app = create_app(make_config(tmp_path))
    undeclared = set()
    for method, path, route in _api_routes(app):
        if (method, path) in NOT_DESCRIBED_BY_MODELS:
            continue
        spec = spec_of(route.handler)
        assert spec is not None, f"{method} {path} is not a canhbao.api endpoint"
        successes = [status for status in spec.responses if 200 <= status < 300]
        assert successes, f"{method} {path} declares no success answer"
        if any(
            spec.responses[status] is None and status not in spec.response_types
            for status in successes
        ):
            undeclared.add((method, path))
    newly = sorted(undeclared - UNDECLARED_ANSWERS)
    assert not newly, f"answers declared as any JSON (give them a model): {newly}"
    stale = sorted(UNDECLARED_ANSWERS - undeclared)
    assert not stale, f"declared now (or gone): remove from UNDECLARED_ANSWERS: {stale}"


def test_the_document_has_no_undeclared_json_answer_beyond_the_list(tmp_path: Path) -> None:
    """The same, as the served document says it: no success answer of bare "object"."""
    document = build_openapi(create_app(make_config(tmp_path)))
    bare = {
        (method.upper(), template)
        for template, operations in document["paths"].items()
        if template.startswith("/api/v1/")
        for method, operation in operations.items()
        for status, answer in operation["responses"].items()
        if status.startswith("2")
        and answer.get("content", {}).get("application/json", {}).get("schema")
        == {"type": "object"}
    }
    assert bare == UNDECLARED_ANSWERS


class _Answer(ResponseModel):
    name: str
    count: int
    note: str | None = None


@endpoint(responses={200: _Answer})
async def _as_declared(request: web.Request) -> web.Response:
    return answer(_Answer, {"name": "a", "count": 1})


@endpoint(responses={200: _Answer})
async def _built_wrong(request: web.Request) -> web.Response:
    return answer(_Answer, {"name": None, "count": 1})


@endpoint(responses={200: _Answer})
async def _raw_with_extra(request: web.Request) -> web.Response:
    return web.json_response({"name": "a", "count": 1, "secret": "x"})


@endpoint(responses={200: _Answer})
async def _raw_wrong_type(request: web.Request) -> web.Response:
    return web.json_response({"name": "a", "count": "1"})


@endpoint(responses={201: _Answer})
async def _other_status(request: web.Request) -> web.Response:
    return answer(_Answer, {"name": "a", "count": 1})


async def test_answers_are_checked_against_their_models(aiohttp_client: Any) -> None:
    """The checks themselves: answer() refuses a dict that does not fit (a 500 in the test
    that meets it) and serves only the model (unset optional fields left out); the
    middleware names a wrong type and an undeclared status, and lets an extra field by, as
    the document does."""
    app = web.Application()
    problems: list[str] = []
    check_answers(app, problems)
    for name, handler in (
        ("declared", _as_declared),
        ("wrong", _built_wrong),
        ("extra", _raw_with_extra),
        ("type", _raw_wrong_type),
        ("status", _other_status),
    ):
        app.router.add_get(f"/{name}", handler)
    client = await aiohttp_client(app)

    good = await client.get("/declared")
    assert good.status == 200
    assert await good.json() == {"name": "a", "count": 1}
    assert good.content_type == "application/json"
    assert (await client.get("/wrong")).status == 500
    assert problems == []

    for name in ("extra", "type", "status"):
        await client.get(f"/{name}")
    assert len(problems) == 2
    assert problems[0].startswith("GET /type → 200: count:")
    assert "a status the route does not declare" in problems[1]


def _models_in(kind: Any, seen: set[Any]) -> None:
    """Every pydantic model `kind` names, itself and through its fields, into `seen`."""
    if kind is None or kind in seen:
        return
    if isinstance(kind, type) and issubclass(kind, pydantic.BaseModel):
        seen.add(kind)
        for field in kind.model_fields.values():
            _models_in(field.annotation, seen)
        return
    for arg in typing.get_args(kind):
        _models_in(arg, seen)


def test_no_two_models_share_a_name_in_the_document(tmp_path: Path) -> None:
    """The document files schemas by class name: two classes of one name overwrote each other
    silently (dispatch's `Figures` once stood for the hotline's, and schemathesis checked one
    route's answers against the other's schema)."""
    seen: set[Any] = set()
    for _method, _path, route in _api_routes(create_app(make_config(tmp_path))):
        spec = spec_of(route.handler)
        if spec is None:
            continue
        for kind in (spec.body, spec.query, spec.path, *spec.responses.values()):
            _models_in(kind, seen)
    by_name: dict[str, set[str]] = {}
    for model in seen:
        by_name.setdefault(model.__name__, set()).add(f"{model.__module__}.{model.__qualname__}")
    shared = {name: sorted(where) for name, where in by_name.items() if len(where) > 1}
    assert not shared, f"rename one of each: {shared}"
