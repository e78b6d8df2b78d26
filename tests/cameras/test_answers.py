"""Every JSON route of the cameras API answers what its declared model says, no more and no
less: each answer is read back through the model the route publishes in the OpenAPI."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel

from canhbao.api import spec_of
from tests.cameras.conftest import LAT, LON, RigFactory, camera_entry, jpeg, scene
from tests.conftest import StaffFactory
from tests.geofences.conftest import load_hue

WITHIN = f"{LAT - 0.01},{LON - 0.01} {LAT - 0.01},{LON + 0.01} {LAT + 0.01},{LON + 0.01} " + (
    f"{LAT + 0.01},{LON - 0.01} {LAT - 0.01},{LON - 0.01}"
)


STILLS = "/api/v1/cameras/{camera_id}/stills"


def _declared(app: web.Application, method: str, path: str, status: int) -> type[BaseModel]:
    for route in app.router.routes():
        if route.method != method:
            continue
        if route.resource is not None and route.resource.canonical == path:
            spec = spec_of(route.handler)
            assert spec is not None, path
            model = spec.responses.get(status)
            assert isinstance(model, type), (path, status)
            assert issubclass(model, BaseModel), (path, status)
            return model
    raise AssertionError(f"no route {method} {path}")


def _fits(model: type[BaseModel], data: Any) -> None:
    """The answer validates and its model serves it back unchanged: nothing undeclared."""
    parsed = model.model_validate(data)
    assert parsed.model_dump(mode="json", exclude_unset=True) == data


async def test_every_json_route_answers_its_declared_model(
    rig: RigFactory, staff: StaffFactory
) -> None:
    r = await rig([camera_entry("kl1", "/a.jpg")])
    await load_hue(r.client)
    r.camera.still("/a.jpg", jpeg(scene(1)))
    await r.poll("kl1")
    await r.service.place_wards()
    boss = await staff(r.client, "boss", roles=["admin"])
    app = r.client.app
    assert app is not None
    new = {**camera_entry("new", r.base_url + "/b.jpg"), "lat": LAT + 0.001}
    still_id = (await (await r.client.get("/api/v1/cameras/kl1")).json())["latest"]["id"]
    calls: list[tuple[str, str, str, int, Any]] = [
        ("GET", "/api/v1/cameras", "/api/v1/cameras", 200, None),
        ("GET", "/api/v1/cameras?near=16.4572,107.558", "/api/v1/cameras", 200, None),
        ("GET", f"/api/v1/cameras?within={WITHIN}", "/api/v1/cameras", 200, None),
        ("GET", "/api/v1/cameras/kl1", "/api/v1/cameras/{camera_id}", 200, None),
        ("GET", "/api/v1/cameras/kl1/stills", "/api/v1/cameras/{camera_id}/stills", 200, None),
        (
            "GET",
            "/api/v1/cameras/kl1/stills?limit=1",
            "/api/v1/cameras/{camera_id}/stills",
            200,
            None,
        ),
        ("GET", "/api/v1/cameras/kl1/fetches", "/api/v1/cameras/{camera_id}/fetches", 200, None),
        ("POST", "/api/v1/cameras/kl1/poll", "/api/v1/cameras/{camera_id}/poll", 200, None),
        (
            "GET",
            f"/api/v1/camera-stills/{still_id}/cap-resource",
            "/api/v1/camera-stills/{still_id}/cap-resource",
            200,
            None,
        ),
        ("POST", "/api/v1/cameras", "/api/v1/cameras", 201, new),
        ("PATCH", "/api/v1/cameras/new", "/api/v1/cameras/{camera_id}", 200, {"name": "Mới"}),
        ("DELETE", "/api/v1/cameras/new", "/api/v1/cameras/{camera_id}", 200, None),
    ]
    for method, url, route, status, body in calls:
        answer = await boss.request(method, url, **({} if body is None else {"json": body}))
        assert answer.status == status, (url, await answer.text())
        data = await answer.json()
        _fits(_declared(app, method, route, status), data)
        if route == "/api/v1/cameras":
            assert data["cameras"] if method == "GET" else data["id"] == "new"
    assert (await (await boss.get("/api/v1/cameras/kl1")).json())["ward"] is not None
