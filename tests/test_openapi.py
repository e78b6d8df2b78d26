"""/api/v1/openapi.json describes the routes the app really serves, with who may call them."""

from __future__ import annotations

from tests.conftest import AppClient


async def test_openapi_lists_the_served_routes(app_client: AppClient) -> None:
    client = await app_client()
    response = await client.get("/api/v1/openapi.json")
    assert response.status == 200
    doc = await response.json()
    assert doc["openapi"] == "3.1.0"
    paths = doc["paths"]

    health = paths["/healthz"]["get"]
    assert health["summary"].startswith("Health: database, scheduler")
    assert "security" not in health

    login = paths["/api/v1/auth/login"]["post"]
    assert "security" not in login

    outbox = paths["/api/v1/dev/outbox"]["get"]
    assert outbox["security"] == [{"session": []}, {"bearer": []}]
    assert "operator" in outbox["x-roles"]

    disable = paths["/api/v1/users/{username}/disable"]["post"]
    assert disable["parameters"] == [
        {
            "name": "username",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "minLength": 1, "maxLength": 64},
        }
    ]
    assert disable["x-roles"] == ["admin"]


async def test_every_served_api_route_is_described(app_client: AppClient) -> None:
    client = await app_client()
    doc = await (await client.get("/api/v1/openapi.json")).json()
    described = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    for route in client.app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter") or ""
        if path.startswith("/api/") and route.method != "HEAD":
            template = path.replace(":[^{}/]+", "")
            assert (template, route.method.lower()) in described, (path, route.method)


async def test_every_api_operation_declares_its_inputs_and_answers(app_client: AppClient) -> None:
    """Each /api/v1 route is a canhbao.api endpoint: its success answers are declared (so the
    schema can be checked against what it serves), and every path parameter has a type."""
    client = await app_client()
    doc = await (await client.get("/api/v1/openapi.json")).json()
    for template, operations in doc["paths"].items():
        if not template.startswith("/api/v1/") or template == "/api/v1/openapi.json":
            continue
        for method, operation in operations.items():
            successes = [status for status in operation["responses"] if status.startswith("2")]
            assert successes, (method, template)
            assert "2XX" not in successes, (method, template)
            for parameter in operation.get("parameters", []):
                assert parameter["schema"].get("type"), (method, template, parameter)


async def test_protected_routes_show_their_roles(app_client: AppClient) -> None:
    """Anything that refuses an anonymous caller says who may call it."""
    client = await app_client()
    doc = await (await client.get("/api/v1/openapi.json")).json()
    for path in (
        "/api/v1/hotline/callbacks/{id}/start",
        "/api/v1/hotline/callbacks/{id}/close",
    ):
        assert doc["paths"][path]["post"]["x-roles"] == ["dispatcher", "operator"]
    for method in ("get", "patch"):
        operation = doc["paths"]["/api/v1/dispatch/requests/{id}"][method]
        assert operation["x-roles"] == ["dispatcher", "operator"]
    for template, operations in doc["paths"].items():
        if not template.startswith("/api/v1/") or "{" in template:
            continue
        for method, operation in operations.items():
            if method != "get":
                continue
            response = await client.get(template)
            if response.status == 401:
                assert "x-roles" in operation, template
