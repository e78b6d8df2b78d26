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
