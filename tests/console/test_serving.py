"""/console serves the built single-page app: index.html (never cached) for every client
route, hashed assets cached for good, nothing outside the build; the OpenAPI document the
console's typed client is generated from is written without a server and matches the served one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiohttp import web

from canhbao import console
from canhbao.console.__main__ import main as console_main
from canhbao.console.__main__ import write_openapi
from tests.conftest import AppClient


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    """A small build, as vite makes it: index.html and hashed files in assets/."""
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text(
        '<!doctype html><html lang="vi"><script type="module" src="/console/assets/index-Ab12.js">'
        "</script><div id=app></div></html>",
        encoding="utf-8",
    )
    (root / "assets" / "index-Ab12.js").write_text("console.log('bảng điều khiển')", "utf-8")
    (root / "assets" / "index-Cd34.css").write_text("body{margin:0}", "utf-8")
    (tmp_path / "secret.txt").write_text("not for the web", "utf-8")
    return root


async def _client(app_client: AppClient, dist: Path, monkeypatch: pytest.MonkeyPatch) -> AppClient:
    def with_dist(app: web.Application, _: Path = console.CONSOLE_DIST) -> None:
        setup(app, dist)

    setup = console.routes.setup
    monkeypatch.setattr(console, "setup", with_dist)
    return await app_client()


@pytest.mark.parametrize(
    "path", ["/console/", "/console/warnings/urn:oid:2.49.0.1", "/console/login"]
)
async def test_every_client_route_gets_the_page_never_cached(
    app_client: AppClient, dist: Path, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    client = await _client(app_client, dist, monkeypatch)
    response = await client.get(path)
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-cache"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert "/console/assets/index-Ab12.js" in await response.text()


async def test_bare_console_redirects_to_the_page(
    app_client: AppClient, dist: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await _client(app_client, dist, monkeypatch)
    response = await client.get("/console", allow_redirects=False)
    assert response.status == 301
    assert response.headers["Location"] == "/console/"


@pytest.mark.parametrize(
    ("name", "kind"),
    [("index-Ab12.js", "text/javascript"), ("index-Cd34.css", "text/css")],
)
async def test_hashed_assets_are_cached_for_good(
    app_client: AppClient, dist: Path, monkeypatch: pytest.MonkeyPatch, name: str, kind: str
) -> None:
    client = await _client(app_client, dist, monkeypatch)
    response = await client.get(f"/console/assets/{name}")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith(kind)
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"


@pytest.mark.parametrize(
    "path",
    [
        "/console/assets/missing-0000.js",
        "/console/assets/..%2F..%2Fsecret.txt",
        "/console/assets/%2E%2E%2Fsecret.txt",
        "/console/assets/..%5Csecret.txt",
    ],
)
async def test_nothing_outside_the_build_is_served(
    app_client: AppClient, dist: Path, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    client = await _client(app_client, dist, monkeypatch)
    response = await client.get(path)
    assert response.status == 404
    assert "not for the web" not in await response.text()


async def test_a_missing_build_says_how_to_make_it(
    app_client: AppClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await _client(app_client, tmp_path / "nowhere", monkeypatch)
    response = await client.get("/console/situation")
    assert response.status == 503
    text = await response.text()
    assert "chưa được dựng" in text
    assert "make run" in text


async def test_config_json_gives_the_basemap_empty_by_default(
    app_client: AppClient, dist: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await _client(app_client, dist, monkeypatch)
    response = await client.get("/console/config.json")
    assert response.status == 200
    assert await response.json() == {"tile_url": "", "tile_attribution": ""}


async def test_the_written_document_is_the_served_one(
    app_client: AppClient, tmp_path: Path
) -> None:
    client = await app_client()
    served = await (await client.get("/api/v1/openapi.json")).json()
    out = tmp_path / "openapi.json"
    write_openapi(out)
    written = json.loads(out.read_text(encoding="utf-8"))
    # The served one names the test config's base URL; the routes and models are the same.
    assert written["paths"] == served["paths"]
    assert written["components"] == served["components"]
    mtime = out.stat().st_mtime_ns
    write_openapi(out)  # unchanged: not rewritten (make's stamps stay quiet)
    assert out.stat().st_mtime_ns == mtime


def test_every_operation_has_its_own_id(tmp_path: Path) -> None:
    """A generated client keys operations by operationId: two with one id (dispatch's and the
    hotline's `get_figures`) were merged into one, typing the hotline's figures as unknown."""
    out = tmp_path / "openapi.json"
    assert console_main(["openapi", str(out)]) == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    assert "get_api_v1_hotline_figures" in ids


def test_the_dump_command_refuses_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert console_main(["openapi"]) == 2
    assert "usage" in capsys.readouterr().err
