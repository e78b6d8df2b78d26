"""Area import: the real Huế and Vietnam files, every refusal with its reason, repair, outlines."""

from __future__ import annotations

import contextlib
import functools
import io
import json
import math
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from canhbao import keys
from canhbao.cli import main as cli_main
from geofences.areas import (
    ImportOptions,
    ImportPlan,
    make_outline,
    parse_geometry,
    prepare_import,
    read_document,
)
from geofences.errors import ImportTooLarge, InvalidGeometry
from geofences.models import slugify
from tests.conftest import AppClient, StaffFactory
from tests.geofences.conftest import HUE_FILE, VIETNAM_FILE, WARD_OPTIONS, registry

SQUARE = [[107.5, 16.4], [107.6, 16.4], [107.6, 16.5], [107.5, 16.5], [107.5, 16.4]]
BOWTIE = [[107.5, 16.4], [107.6, 16.5], [107.6, 16.4], [107.5, 16.5], [107.5, 16.4]]


def feature(ring: list[Any], name: str = "Vùng ngập", kind: str = "Polygon") -> dict[str, Any]:
    coordinates: Any = [ring] if kind == "Polygon" else [[ring]]
    return {
        "type": "Feature",
        "properties": {"ten": name},
        "geometry": {"type": kind, "coordinates": coordinates},
    }


def collection(*features: dict[str, Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


NAMED = ImportOptions(name_property="ten")


@functools.cache
def vietnam() -> ImportPlan:
    """The whole country's import, read once for the tests that need it (it takes seconds)."""
    return prepare_import(read_document(VIETNAM_FILE.read_bytes(), 10**8), WARD_OPTIONS)


def covers_all(outlines: list[Any], geometries: list[Any]) -> bool:
    return bool(shapely.covers(np.array(outlines), np.array(geometries)).all())


# -- the shared files ----------------------------------------------------------------------------


def test_hue_wards_import_as_a_city_of_40_wards_with_their_population() -> None:
    plan = prepare_import(read_document(HUE_FILE.read_bytes(), 10**8), WARD_OPTIONS)
    city, *wards = plan.areas
    assert (city.code, city.name, city.parent_code) == ("hue", "TP Huế", None)
    assert len(wards) == 40
    assert {ward.parent_code for ward in wards} == {"hue"}
    assert city.population == sum(ward.population or 0 for ward in wards) == 1_433_465
    by_code = {ward.code: ward for ward in wards}
    assert by_code["hue.phu-xuan"].name == "Phú Xuân"
    assert by_code["hue.chan-may-lang-co"].name == "Chân Mây - Lăng Cô"
    assert by_code["hue.a-luoi-2"].population == 20_496
    assert sum(ward.vertices for ward in wards) == 1_074
    # The city is the union of its wards: every ward lies inside it.
    assert covers_all([city.geometry] * 40, [ward.geometry for ward in wards])
    assert not plan.repairs


def test_vietnam_wards_import_with_provinces_and_the_files_quirks() -> None:
    plan = vietnam()
    provinces = [area for area in plan.areas if area.parent_code is None]
    wards = [area for area in plan.areas if area.parent_code is not None]
    assert len(wards) == 3_321
    assert len(provinces) == 34
    assert {"hue", "ha-noi", "ho-chi-minh", "da-nang"} <= {p.code for p in provinces}
    codes = [area.code for area in plan.areas]
    assert len(set(codes)) == len(codes)
    # "Thanh An" and "Thạnh An" share a slug: both get a suffix, whatever the file's order.
    thanh_an = sorted(a.code for a in wards if a.code.startswith("ho-chi-minh.thanh-an-"))
    assert len(thanh_an) == 2
    assert any("shares" in note or "shared" in note for note in plan.notes)
    # 66 wards give their population as "đang cập nhật" (being updated): unknown, not an error.
    unknown = [a for a in wards if a.population is None]
    assert len(unknown) == 66
    assert sum(1 for note in plan.notes if "đang cập nhật" in note) == 66
    # "30,509" is a number written with a thousands separator.
    assert any(a.population == 30_509 for a in wards)
    outlines = [area.outline for area in plan.areas]
    assert max(int(shapely.get_num_coordinates(o)) for o in outlines) <= 250
    assert covers_all(outlines, [area.geometry for area in plan.areas])


def test_slugs_keep_vietnamese_letters_readable() -> None:
    assert slugify("Chân Mây - Lăng Cô") == "chan-may-lang-co"
    assert slugify("Đan Điền") == "dan-dien"
    assert slugify("Thủy Xuân") == "thuy-xuan"


# -- refusals, each with its reason --------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        pytest.param(
            collection(feature([*SQUARE[:-1], [107.5, 16.41]])),
            r"outer ring is not closed: it starts at \[107\.5, 16\.4\] and ends at"
            r" \[107\.5, 16\.41\]",
            id="unclosed ring",
        ),
        pytest.param(
            collection(feature(BOWTIE)),
            r"invalid geometry: Self-intersection\[107\.55 16\.45\]; .*repair",
            id="self-intersection",
        ),
        pytest.param(
            collection(feature([*SQUARE[:2], [107.6, 16.5, 3.0], [107.5, 16.5], SQUARE[0]])),
            None,
            id="a third coordinate (altitude) is accepted",
        ),
        pytest.param(
            collection(feature([[16.4, 107.5], [16.4, 107.6], [16.5, 107.6], [16.4, 107.5]])),
            r"position \[16\.4, 107\.5\] is out of range \(longitude within ±180, latitude",
            id="latitude first (out of range)",
        ),
        pytest.param(
            collection(feature([[181, 16], [182, 16], [182, 17], [181, 16]])),
            r"position \[181, 16\] is out of range",
            id="longitude out of range",
        ),
        pytest.param(
            collection(feature([[107.5, 16.4], [107.6, 16.4], [107.5, 16.4]])),
            r"outer ring has 3 positions; a ring needs at least 4",
            id="too few positions",
        ),
        pytest.param(
            collection(feature([[107.5, 16.4], [107.6, "16.4"], [107.6, 16.5], [107.5, 16.4]])),
            r'position \[107\.6, "16\.4"\] is not \[longitude, latitude\]',
            id="a coordinate as text",
        ),
        pytest.param(
            {"type": "Point", "coordinates": [107.5, 16.4]},
            r"unsupported GeoJSON type 'Point'",
            id="a point",
        ),
        pytest.param(
            collection({**feature(SQUARE), "properties": {"name": "x"}}),
            r"feature 0: property 'ten' is missing or empty \(properties: name\)",
            id="no name property",
        ),
        pytest.param(
            collection(feature(SQUARE, "A"), feature(SQUARE, "A")),
            r"feature 1 \(A\): code 'a' is also the code of feature 0",
            id="the same area twice",
        ),
    ],
)
def test_a_bad_document_is_refused_with_its_reason(document: Any, reason: str | None) -> None:
    raw = json.dumps(document).encode()
    if reason is None:
        plan = prepare_import(read_document(raw, 10**6), NAMED)
        assert plan.areas[0].vertices == 5
        return
    with pytest.raises(InvalidGeometry, match=reason):
        prepare_import(read_document(raw, 10**6), NAMED)


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_refused(token: str) -> None:
    raw = json.dumps(collection(feature(SQUARE))).replace("16.5]", f"{token}]", 1).encode()
    with pytest.raises(InvalidGeometry, match=rf"{token} is not a coordinate"):
        read_document(raw, 10**6)


def test_a_number_too_large_for_a_float_is_refused_as_not_finite() -> None:
    raw = json.dumps(collection(feature(SQUARE))).replace("16.5]", "1e999]", 1).encode()
    with pytest.raises(InvalidGeometry, match=r"position \[107\.6, Infinity\] is not a finite"):
        prepare_import(read_document(raw, 10**6), NAMED)


def test_a_million_vertices_are_refused_before_any_geometry_is_built() -> None:
    angles = np.linspace(0.0, 2 * math.pi, 1_000_000, endpoint=False)
    ring = np.column_stack((107.58 + 0.1 * np.cos(angles), 16.46 + 0.1 * np.sin(angles)))
    ring = np.vstack((ring, ring[:1])).tolist()
    with pytest.raises(ImportTooLarge, match=r"more than 500,000 vertices in one import"):
        prepare_import(collection(feature(ring)), ImportOptions(name_property="ten"))


def test_a_100_mb_body_is_refused_before_it_is_parsed() -> None:
    raw = b" " * 100_000_000
    with pytest.raises(ImportTooLarge, match=r"100,000,000 bytes, over the 67,108,864-byte limit"):
        read_document(raw, 67_108_864)


# -- repair ---------------------------------------------------------------------------------------


def test_repair_is_applied_only_when_asked_and_reports_what_changed() -> None:
    document = collection(feature(BOWTIE, "Nơ"))
    with pytest.raises(InvalidGeometry, match="Self-intersection"):
        prepare_import(document, NAMED)
    plan = prepare_import(document, ImportOptions(name_property="ten", repair=True))
    (area,) = plan.areas
    assert area.geometry.geom_type == "MultiPolygon"
    assert area.geometry.is_valid
    assert len(area.geometry.geoms) == 2
    (repair,) = plan.repairs
    assert repair.reason.startswith("Self-intersection")
    assert (repair.type_before, repair.type_after) == ("Polygon", "MultiPolygon")
    assert repair.area_km2_after > 0
    text = repair.describe()
    assert text.startswith("feature 0 (Nơ): Self-intersection[107.55 16.45]; repaired")
    assert "Polygon → MultiPolygon" in text


def test_a_ring_that_collapses_to_a_line_cannot_be_repaired() -> None:
    line = [[107.5, 16.4], [107.6, 16.4], [107.7, 16.4], [107.5, 16.4]]
    with pytest.raises(InvalidGeometry, match="make_valid leaves no area"):
        prepare_import(collection(feature(line)), ImportOptions(name_property="ten", repair=True))


# -- outlines for CAP -----------------------------------------------------------------------------


def test_hue_outlines_fit_cap_and_contain_every_ward() -> None:
    plan = prepare_import(read_document(HUE_FILE.read_bytes(), 10**8), WARD_OPTIONS)
    for area in plan.areas:
        assert shapely.get_num_coordinates(area.outline) <= 250
        assert area.outline.covers(area.geometry), area.code
        assert area.outline.is_valid
        # No holes: CAP polygons have none.
        for part in getattr(area.outline, "geoms", [area.outline]):
            assert not part.interiors


def star(center: tuple[float, float], radii: list[float]) -> Any:
    angles = np.linspace(0.0, 2 * math.pi, len(radii), endpoint=False)
    r = np.array(radii)
    return shapely.Polygon(
        np.column_stack((center[0] + r * np.cos(angles), center[1] + r * np.sin(angles)))
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    radii=st.lists(st.floats(0.002, 0.2), min_size=3, max_size=2_000),
    hole=st.booleans(),
    islands=st.integers(0, 70),
    max_points=st.sampled_from([16, 60, 250]),
)
def test_an_outline_stays_small_and_contains_the_original(
    radii: list[float], hole: bool, islands: int, max_points: int
) -> None:
    shape = star((107.58, 16.46), radii)
    if not shape.is_valid:
        shape = shapely.make_valid(shape)
    if hole:
        shape = shape.difference(shapely.Point(107.58, 16.46).buffer(0.001))
    parts = [shape, *(star((107.0 + 0.01 * i, 17.0), [0.003] * 5) for i in range(islands))]
    geometry = shapely.union_all(parts)
    outline = make_outline(geometry, max_points)
    assert shapely.get_num_coordinates(outline) <= max_points
    assert outline.covers(geometry)


def test_parse_geometry_takes_one_polygon_for_a_warning() -> None:
    polygon = parse_geometry({"type": "Polygon", "coordinates": [SQUARE]}, 1000)
    assert polygon.equals(shapely.Polygon(SQUARE))
    with pytest.raises(InvalidGeometry, match="Self-intersection"):
        parse_geometry(feature(BOWTIE), 1000)
    with pytest.raises(ImportTooLarge):
        parse_geometry({"type": "Polygon", "coordinates": [SQUARE]}, 4)


# -- through the API ------------------------------------------------------------------------------


async def test_admin_imports_areas_over_the_api(app_client: AppClient, staff: StaffFactory) -> None:
    client = await app_client()
    admin = await staff(client, "admin", roles=["admin"])
    issuer = await staff(client, "lan", roles=["issuer"])
    query = (
        "?name_property=Phường xã mới&parent_property=Tỉnh thành mới"
        "&population_property=Dân số (người)"
    )
    body = HUE_FILE.read_bytes()
    assert (await client.post("/api/v1/areas/import" + query, data=body)).status == 401
    assert (await issuer.post("/api/v1/areas/import" + query, data=body)).status == 403
    response = await admin.post("/api/v1/areas/import" + query, data=body)
    assert response.status == 201, await response.text()
    report = await response.json()
    assert (report["added"], report["updated"], report["areas"]) == (41, 0, 41)
    again = await admin.post("/api/v1/areas/import" + query, data=body)
    assert (again.status, (await again.json())["updated"]) == (200, 41)

    assert "hue.phu-xuan" in registry(client).catalog.by_code
    listing = await (await client.get("/api/v1/areas?parent=hue")).json()
    assert len(listing["areas"]) == 40
    ward = await (await client.get("/api/v1/areas/hue.phu-xuan?geometry=true")).json()
    assert ward["topic"] == "area-hue.phu-xuan"
    assert ward["population"] == 130_247
    outline = shapely.from_geojson(json.dumps(ward["outline"]))
    assert outline.covers(shapely.from_geojson(json.dumps(ward["geometry"])))
    assert ward["outline_points"] <= 250
    assert client.app is not None
    audit = await client.app[keys.DB].fetch_all(
        "SELECT actor, action FROM audit_log WHERE entity = 'areas'"
    )
    assert [(row["actor"], row["action"]) for row in audit] == [("user:admin", "areas.import")] * 2


async def test_the_api_refuses_bad_geometry_with_the_reason(
    app_client: AppClient, staff: StaffFactory
) -> None:
    client = await app_client()
    admin = await staff(client, "admin", roles=["admin"])
    response = await admin.post(
        "/api/v1/areas/import?name_property=ten", json=collection(feature(BOWTIE, "Nơ"))
    )
    assert response.status == 422
    error = (await response.json())["error"]
    assert error["code"] == "invalid_geometry"
    assert error["feature"] == 0
    assert error["name"] == "Nơ"
    assert error["reason"].startswith("invalid geometry: Self-intersection")
    repaired = await admin.post(
        "/api/v1/areas/import?name_property=ten&repair=true", json=collection(feature(BOWTIE, "Nơ"))
    )
    assert repaired.status == 201
    assert (await repaired.json())["repairs"][0].startswith("feature 0 (Nơ): Self-intersection")
    stored = await (await client.get("/api/v1/areas/no")).json()
    assert len(stored["repairs"]) == 1
    assert "make_valid" in stored["repairs"][0]


async def test_the_api_refuses_a_100_mb_body_with_413(
    app_client: AppClient, staff: StaffFactory
) -> None:
    client = await app_client()
    admin = await staff(client, "admin", roles=["admin"])
    response = await admin.post(
        "/api/v1/areas/import?name_property=ten", data=io.BytesIO(b" " * 100_000_000)
    )
    assert response.status == 413
    error = (await response.json())["error"]
    assert error["code"] == "import_too_large"
    assert "over the 67,108,864-byte limit" in error["message"]


# -- the command line -----------------------------------------------------------------------------


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text('[database]\n# test\npath = "canhbao.sqlite3"\n', encoding="utf-8")
    return path


def test_cli_loads_hue_and_imports_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(write_config(tmp_path))
    assert cli_main(["--config", config, "areas", "load-hue"]) == 0
    assert "imported 41 areas from hue_wards_2025.geojson (41 new, 0 updated)" in (
        capsys.readouterr().out
    )
    zone = tmp_path / "zone.geojson"
    zone.write_text(json.dumps(collection(feature(SQUARE, "Vùng trũng"))), encoding="utf-8")
    args = ["--config", config, "areas", "import", str(zone), "--name-property", "ten"]
    assert cli_main([*args, "--parent", "hue"]) == 0
    assert "imported 1 areas from zone.geojson (1 new, 0 updated)" in capsys.readouterr().out


def test_cli_refuses_bad_geometry_in_one_line_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(write_config(tmp_path))
    bad = tmp_path / "bad.geojson"
    bad.write_text(json.dumps(collection(feature(BOWTIE, "Nơ"))), encoding="utf-8")
    args = ["--config", config, "areas", "import", str(bad), "--name-property", "ten"]
    assert cli_main(args) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "feature 0 (Nơ): invalid geometry: Self-intersection" in error
    assert cli_main([*args, "--repair"]) == 0
    assert "repaired: feature 0 (Nơ): Self-intersection" in capsys.readouterr().out
    # Audited as the API audits an import (one code path): the repairs as the report words them.
    with contextlib.closing(sqlite3.connect(tmp_path / "canhbao.sqlite3")) as connection:
        (after,) = connection.execute(
            "SELECT \"after\" FROM audit_log WHERE action = 'areas.import'"
        ).fetchone()
    repairs = json.loads(after)["repairs"]
    assert len(repairs) == 1
    assert repairs[0].startswith("feature 0 (Nơ): Self-intersection")
    assert cli_main([*args, "--repair", "--parent", "nowhere"]) == 2
    assert "--parent nowhere: no area has this code" in capsys.readouterr().err


async def test_all_of_vietnam_is_stored_and_points_land_in_their_ward(
    app_client: AppClient,
) -> None:
    client = await app_client()
    report = await registry(client).import_areas(vietnam(), source=VIETNAM_FILE.name, actor="test")
    assert (report["added"], report["areas"]) == (3_355, 3_355)
    catalog = registry(client).catalog
    assert len(catalog) == 3_355
    # The citadel is in Phú Xuân (Huế); Hoàn Kiếm Lake is in Hà Nội.
    assert catalog.areas[catalog.locate(107.5775, 16.4800)].code == "hue.phu-xuan"
    hanoi = catalog.areas[catalog.locate(105.8522, 21.0287)]
    assert hanoi.code.startswith("ha-noi.")
    assert catalog.ancestors[hanoi.id] == (catalog.by_code["ha-noi"].id,)
