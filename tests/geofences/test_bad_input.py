"""Bad input to geofences' staff routes: a clear 4xx naming the problem, never a 500 or a hang."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import StaffFactory
from tests.geofences.conftest import Client

SQUARE = [[107.5, 16.4], [107.6, 16.4], [107.6, 16.5], [107.5, 16.5], [107.5, 16.4]]
GEOMETRY = {"type": "Polygon", "coordinates": [SQUARE]}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"geometry": %s, "max_location_age_h": 1e15}', "max_location_age_h"),
        ('{"geometry": %s, "max_location_age_h": 1e400}', "max_location_age_h"),
        ('{"geometry": %s, "max_location_age_h": -1}', "max_location_age_h"),
        ('{"geometry": %s, "max_location_age_h": 0}', "max_location_age_h"),
        ('{"geometry": %s, "max_location_age_h": "24"}', "max_location_age_h"),
        ('{"geometry": %s, "max_location_age_h": true}', "max_location_age_h"),
        ('{"geometry": %s, "bleed_m": 1e308}', "bleed_m"),
        ('{"geometry": %s, "bleed_m": -0.5}', "bleed_m"),
        ('{"geometry": %s, "bleed_m": null}', "bleed_m"),
        ('{"geometry": %s, "bled_m": 100}', "bled_m"),
        ('{"geometri": %s}', "geometri"),
    ],
)
async def test_the_preview_refuses_absurd_options_with_422(
    hue: Client, staff: StaffFactory, body: str, field: str
) -> None:
    issuer = await staff(hue, "lan", roles=["issuer"])
    response = await issuer.post(
        "/api/v1/targeting/preview",
        data=body % json.dumps(GEOMETRY),
        headers={"Content-Type": "application/json"},
    )
    assert response.status == 422, await response.text()
    error = (await response.json())["error"]
    assert error["field"] == field


async def test_the_preview_takes_a_year_of_location_age(hue: Client, staff: StaffFactory) -> None:
    issuer = await staff(hue, "lan", roles=["issuer"])
    response = await issuer.post(
        "/api/v1/targeting/preview",
        json={"geometry": GEOMETRY, "max_location_age_h": 8784, "bleed_m": 0},
    )
    assert response.status == 200, await response.text()


def nested(depth: int) -> Any:
    value: Any = SQUARE
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    "geometry",
    [
        {"type": "Polygon", "coordinates": [[[107.5, 1e300], *SQUARE[1:]]]},
        {"type": "Polygon", "coordinates": nested(60)},
        {"type": "Polygon", "coordinates": [SQUARE], "extra": nested(200)},
        {"type": "Feature", "properties": {"a": nested(200)}, "geometry": GEOMETRY},
    ],
)
async def test_the_preview_refuses_impossible_geometry_with_422(
    hue: Client, staff: StaffFactory, geometry: Any
) -> None:
    issuer = await staff(hue, "lan", roles=["issuer"])
    response = await issuer.post("/api/v1/targeting/preview", json={"geometry": geometry})
    assert response.status == 422, await response.text()


@pytest.mark.parametrize("depth", [100, 5_000])
async def test_an_import_nested_deeply_is_refused_with_422(
    hue: Client, staff: StaffFactory, depth: int
) -> None:
    admin = await staff(hue, "admin", roles=["admin"])
    body = '{"type": "Polygon", "coordinates": ' + "[" * depth + "]" * depth + "}"
    response = await admin.post("/api/v1/areas/import?name=x", data=body.encode())
    assert response.status == 422, await response.text()
    assert (await response.json())["error"]["code"] == "invalid_geometry"


@pytest.mark.parametrize(
    "query",
    [
        "after=100000000000000000000000000000",
        "after=-1",
        "after=١٢",
        "limit=١٢",
        "limit=1e3",
        "after=9223372036854775808",
    ],
)
async def test_contact_listing_refuses_numbers_sqlite_cannot_hold(
    hue: Client, staff: StaffFactory, query: str
) -> None:
    admin = await staff(hue, "admin", roles=["admin"])
    response = await admin.get("/api/v1/contacts?" + query)
    assert response.status == 422, await response.text()
    assert (await response.json())["error"]["field"] == query.partition("=")[0]


@pytest.mark.parametrize("contact_id", ["100000000000000000000000000000", "١٢", "-1"])
async def test_deleting_an_impossible_contact_id_is_404(
    hue: Client, staff: StaffFactory, contact_id: str
) -> None:
    admin = await staff(hue, "admin", roles=["admin"])
    response = await admin.delete(f"/api/v1/contacts/{contact_id}")
    assert response.status == 404, await response.text()
