"""Every bad input is a 4xx, never a 500 or a hang: bodies, query and path parameters, CSV.

Each test walks every route the app serves (or every parameter its OpenAPI declares), so a
route added later is covered without being named here.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from canhbao.api import INT64_MAX, check_json, decode_json
from canhbao.csvfile import CsvRefused, CsvTooLong, read_rows
from canhbao.http import ApiError
from hotline.models import parse_people
from tests.conftest import AppClient, StaffFactory, StaffLogin

WRITES = ("POST", "PUT", "PATCH")
DEEP = b"[" * 1000 + b"]" * 1000
DEEP_OBJECT = b'{"a":' * 1000 + b"1" + b"}" * 1000


def _api_routes(client: TestClient[Any, Any], methods: tuple[str, ...]) -> list[tuple[str, str]]:
    found = []
    for route in client.app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter") or ""
        if path.startswith("/api/") and route.method in methods:
            found.append((route.method, re.sub(r"\{[^}]+\}", "1", path)))
    return sorted(found)


async def _admin(app_client: AppClient, staff: StaffFactory) -> StaffLogin:
    client = await app_client()
    return await staff(client, "root-admin", roles=["admin"])


@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT], ids=["array", "object"])
async def test_deeply_nested_json_is_a_4xx_on_every_json_route(
    app_client: AppClient, staff: StaffFactory, body: bytes
) -> None:
    admin = await _admin(app_client, staff)
    routes = _api_routes(admin.client, WRITES)
    assert ("POST", "/api/v1/auth/login") in routes
    assert ("POST", "/api/v1/devices") in routes
    doc = await (await admin.client.get("/api/v1/openapi.json")).json()
    for method, path in routes:
        if path == "/api/v1/auth/logout":  # would end the admin's session
            continue
        template = next(
            t for t in doc["paths"] if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", t), path)
        )
        takes_json = "application/json" in (
            doc["paths"][template][method.lower()].get("requestBody", {}).get("content", {})
        )
        for who in (admin.request, admin.client.request):  # as admin, and anonymous
            response = await who(
                method, path, data=body, headers={"Content-Type": "application/json"}
            )
            assert response.status < 500, (method, path, response.status)
            if takes_json:
                assert 400 <= response.status < 500, (method, path, response.status)
                assert "error" in await response.json(), (method, path)


@pytest.mark.parametrize(
    "body",
    [
        b'{"username": "a", "password": ' + b"1" * 5000 + b"}",  # past Python's int digits
        b'{"username": "a", "password": 1e400}',
        b'{"username": "a", "password": NaN}',
        b'{"username": "\xff\xfe", "password": "x"}',
        b"",
        b"   ",
        b"\xef\xbb\xbf",
    ],
)
async def test_malformed_json_is_a_400_or_422(app_client: AppClient, body: bytes) -> None:
    client = await app_client()
    response = await client.post(
        "/api/v1/auth/login", data=body, headers={"Content-Type": "application/json"}
    )
    assert response.status in (400, 422)


@pytest.mark.parametrize(
    "value",
    [
        str(INT64_MAX + 1),
        "9" * 10_000,
        "١٢",  # Arabic-Indic digits: int() takes them
        "²",  # str.isdigit() takes it, int() does not
        "1_000",
        "-1",
        "1e3",
        "",
        " 5",
    ],
)
async def test_integer_query_parameters_refuse_what_sqlite_cannot_bind(
    app_client: AppClient, staff: StaffFactory, value: str
) -> None:
    admin = await _admin(app_client, staff)
    doc = await (await admin.client.get("/api/v1/openapi.json")).json()
    checked = 0
    for template, operations in doc["paths"].items():
        if not template.startswith("/api/"):
            continue
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] != "query" or parameter["schema"].get("type") != "integer":
                    continue
                path = re.sub(r"\{[^}]+\}", "1", template)
                response = await admin.request(
                    method.upper(), path, params={parameter["name"]: value}
                )
                assert response.status < 500, (method, template, parameter["name"])
                low = parameter["schema"].get("minimum", 0)
                if value in (str(INT64_MAX + 1), "9" * 10_000, "١٢", "²", "1e3", "") or low > -1:
                    # 400: aiohttp refuses a request line past 8,190 bytes before any handler.
                    assert response.status in (400, 401, 403, 404, 422), (
                        method,
                        template,
                        parameter["name"],
                        response.status,
                    )
                checked += 1
    assert checked >= 5  # the limits, ids and pages of several domains


@pytest.mark.parametrize("value", [str(INT64_MAX + 1), "9" * 10_000, "١٢", "x", "0"])
async def test_id_path_parameters_beyond_sqlite_are_not_found(
    app_client: AppClient, staff: StaffFactory, value: str
) -> None:
    admin = await _admin(app_client, staff)
    doc = await (await admin.client.get("/api/v1/openapi.json")).json()
    checked = 0
    for template, operations in doc["paths"].items():
        for method, operation in operations.items():
            ids = [
                p["name"]
                for p in operation.get("parameters", [])
                if p["in"] == "path" and p["schema"].get("type") == "integer"
            ]
            if not ids or not template.startswith("/api/"):
                continue
            path = template
            for name in ids:
                path = path.replace("{" + name + "}", value)
            path = re.sub(r"\{[^}]+\}", "1", path)
            response = await admin.request(method.upper(), path, json={})
            expected = (400, 404) if len(value) > 8000 else (404,)  # 400: aiohttp's line cap
            assert response.status in expected, (method, template, response.status)
            checked += 1
    assert checked >= 3


# -- the parsing layer itself ---------------------------------------------------------------


def test_decode_json_bounds() -> None:
    assert decode_json(b'{"a": [1, 2.5, "x", null, true]}') == {"a": [1, 2.5, "x", None, True]}
    assert decode_json(b"\xef\xbb\xbf[1]") == [1]
    for raw in (DEEP, b"[" * 40 + b"]" * 40, b"[" + b"9" * 30 + b"]", b'"' + b"x" * 70_000 + b'"'):
        with pytest.raises(ApiError) as refused:
            decode_json(raw)
        assert (refused.value.status, refused.value.code) == (422, "invalid_body")
    for raw in (b"[1,", b"NaN", b"\xff", b"   "):
        with pytest.raises(ApiError) as refused:
            decode_json(raw)
        assert refused.value.status == 400
    assert check_json({"a": [[1]]}) == ""
    assert "deeper" in check_json(
        [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]
    )


def test_csv_reader_caps_cells_rows_and_columns() -> None:
    assert list(read_rows("a,b\n1,2\n\n3,4\n", max_rows=10)) == [
        ["a", "b"],
        ["1", "2"],
        [],
        ["3", "4"],
    ]
    with pytest.raises(CsvRefused, match="line 2: a cell over 4,096 characters"):
        list(read_rows("a\n" + "x" * 5000 + "\n", max_rows=10))
    # Past csv's own process-wide limit (131,072): a CsvRefused too, not a bare _csv.Error.
    with pytest.raises(CsvRefused, match="a cell over"):
        list(read_rows('a\n"' + "x" * 140_000 + '"\n', max_rows=10))
    with pytest.raises(CsvTooLong, match="more than 2 rows"):
        list(read_rows("a\n1\n2\n", max_rows=2))
    with pytest.raises(CsvRefused, match="more than 64 columns"):
        list(read_rows("," * 70, max_rows=2))


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/api/v1/ingest/readings", "text/csv"),
        ("/api/v1/contacts/import", "text/csv"),
    ],
)
@pytest.mark.parametrize("size", [5_000, 131_073, 400_000])
async def test_an_oversized_csv_cell_is_a_4xx(
    app_client: AppClient, staff: StaffFactory, path: str, content_type: str, size: int
) -> None:
    admin = await _admin(app_client, staff)
    header = "station_id,parameter,value,observed_at" if "ingest" in path else "name,phone,area"
    for cell in ("x" * size, '"' + "x" * size + '"'):
        body = f"{header}\n{cell},a,b,c\n".encode()
        response = await admin.post(path, data=body, headers={"Content-Type": content_type})
        assert 400 <= response.status < 500, (path, size, await response.text())


@pytest.mark.parametrize("digits", ["9" * 10_000, "²", "١٢", "1000", "0", ""])
def test_a_people_count_that_is_not_one_is_none(digits: str) -> None:
    assert parse_people(digits) is None


def test_a_people_count() -> None:
    assert [parse_people(d) for d in ("3", "3#", " 12 ", "999")] == [3, 3, 12, 999]


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        (
            "POST",
            "/api/v1/users",
            {"username": "x", "password": "y" * 20, "roles": ["boss"]},
            "roles.0",
        ),
        (
            "POST",
            "/api/v1/stations",
            {
                "id": "s",
                "name": "S",
                "kind": "river_level",
                "lat": 91,
                "lon": 0,
                "source": "ingest",
            },
            "lat",
        ),
        (
            "POST",
            "/api/v1/targeting/preview",
            {"geometry": {}, "max_location_age_h": 1e15},
            "max_location_age_h",
        ),
        ("POST", "/api/v1/contacts", {"name": "A", "phone": "1", "surname": "B"}, "surname"),
        (
            "POST",
            "/api/v1/hotline/operators",
            {
                "name": "A",
                "phone": "+84",
                "shift_start": "07:00",
                "shift_end": "19:00",
                "active": "yes please",
            },
            "active",
        ),
        ("PUT", "/api/v1/alerts/x?version=1", {"template": "t", "ward_codes": "all"}, "ward_codes"),
    ],
)
async def test_a_body_that_does_not_fit_is_422_naming_the_field(
    app_client: AppClient,
    staff: StaffFactory,
    method: str,
    path: str,
    body: dict[str, Any],
    field: str,
) -> None:
    admin = await _admin(app_client, staff)
    response = await admin.request(method, path, json=body)
    assert response.status == 422, await response.text()
    error = (await response.json())["error"]
    assert error["code"] == "invalid_body"
    assert field in [e["field"] for e in error["errors"]] or error["field"].endswith(field)
