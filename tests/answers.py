"""Every answer a test sees is checked against the model its route declares.

`app_client` installs `check_answers` on each app it starts: a middleware that validates every
success answer of a `canhbao.api.endpoint` against the JSON schema of the model declared for
its status (what /api/v1/openapi.json publishes and schemathesis checks), the fixture failing
the test at teardown if one did not fit. So the whole suite, with its real data (readings,
calls, plans, fan-outs), checks the answers' shape, not only schemathesis' generated requests
(which mostly find nothing to answer with). Like the document, it lets an answer carry fields
its model does not list (ResponseModel: later fields are allowed); routes built with
canhbao.api.answer serve only what their model declares anyway.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import jsonschema_rs
from aiohttp import web
from pydantic import TypeAdapter

from canhbao.api import NO_CONTENT, spec_of

_VALIDATORS: dict[Any, Any] = {}


def _validator(model: Any) -> Any:
    validator = _VALIDATORS.get(model)
    if validator is None:
        schema = TypeAdapter(model).json_schema(mode="serialization")
        # Formats too (date-time), as schemathesis checks them.
        validator = _VALIDATORS[model] = jsonschema_rs.validator_for(schema, validate_formats=True)
    return validator


def answer_problem(request: web.Request, response: web.StreamResponse) -> str | None:
    """What is wrong with a success answer, given what its route declares (None: nothing)."""
    spec = spec_of(request.match_info.handler)
    if spec is None or not 200 <= response.status < 300:
        return None
    where = f"{request.method} {request.path} → {response.status}"
    if response.status not in spec.responses:
        return f"{where}: a status the route does not declare ({sorted(spec.responses)})"
    model = spec.responses[response.status]
    if model is None or response.status in spec.response_types:
        return None  # undeclared ("any JSON": see tests/test_openapi.py) or not JSON
    body = response.body if isinstance(response, web.Response) else None
    if model == NO_CONTENT:
        return f"{where}: a body where none is declared" if body else None
    if not isinstance(body, bytes):
        return f"{where}: no JSON body"
    errors = [
        f"{'/'.join(str(part) for part in error.instance_path) or '(top)'}: {error.message}"
        for error in _validator(model).iter_errors(json.loads(body))
    ]
    return f"{where}: {'; '.join(errors[:5])}" if errors else None


def check_answers(app: web.Application, problems: list[str]) -> None:
    """Append what is wrong with each answer `app` gives to `problems`."""

    @web.middleware
    async def answers_as_declared(
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        response = await handler(request)
        problem = answer_problem(request, response)
        if problem is not None:
            problems.append(problem)
        return response

    app.middlewares.append(answers_as_declared)
