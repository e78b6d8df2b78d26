"""First run: with no admin, a one-time link creates the first one; then the link is dead."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import sys
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from canhbao import keys
from canhbao.auth.first_admin import FIRST_ADMIN_LINK, LINK_LIFETIME
from canhbao.auth.middleware import accounts_for
from canhbao.clock import ManualClock
from tests.conftest import CHEAP_ARGON2, AppClient

PASSWORD = "bão-số-chín-2025"
Client = TestClient[web.Request, web.Application]


def _path(client: Client) -> str:
    assert client.app is not None
    link = client.app[FIRST_ADMIN_LINK]
    path = link.url.removeprefix(client.app[keys.CONFIG].server.public_base_url)
    assert path.startswith("/setup/first-admin/")
    return path


def _form(username: str = "chi", password: str = PASSWORD, again: str = PASSWORD) -> dict[str, str]:
    return {
        "username": username,
        "display_name": "Lê Thị Chi",
        "password": password,
        "password_again": again,
    }


async def test_the_link_page_is_a_plain_form_vietnamese_first(app_client: AppClient) -> None:
    client = await app_client()

    response = await client.get(_path(client))

    assert response.status == 200
    assert response.content_type == "text/html"
    page = await response.text()
    assert page.index("Tạo quản trị viên đầu tiên") < page.index("Create the first admin")
    assert '<form method="post">' in page
    assert "<script" not in page
    assert response.headers["Referrer-Policy"] == "no-referrer"  # the secret is in the path
    assert response.headers["Cache-Control"] == "no-store"


async def test_the_link_creates_the_admin_once_then_is_dead(app_client: AppClient) -> None:
    client = await app_client()
    path = _path(client)

    created = await client.post(path, data=_form())
    again = await client.post(path, data=_form("khac"))
    page = await client.get(path)
    login = await client.post("/api/v1/auth/login", json={"username": "chi", "password": PASSWORD})

    assert created.status == 201
    assert "Đã tạo quản trị viên" in await created.text()
    assert again.status == 410
    assert page.status == 410
    assert "đã được dùng" in await page.text()
    assert login.status == 200
    assert (await login.json())["roles"] == ["admin"]
    assert client.app is not None
    users = await accounts_for(client.app).list_users()
    assert [(u.username, sorted(u.roles)) for u in users] == [("chi", ["admin"])]
    rows = await client.app[keys.DB].fetch_all("SELECT actor, action FROM audit_log")
    assert [tuple(row) for row in rows][:1] == [("setup:first-admin-link", "user.create")]


@pytest.mark.parametrize(
    ("form", "said"),
    [
        (_form(again=PASSWORD + "x"), "Hai mật khẩu không khớp"),
        (_form(password="ngắn", again="ngắn"), "Mật khẩu cần ít nhất 12 ký tự"),
        (_form(username="Chi Lê"), "Tên đăng nhập chỉ gồm"),
        ({}, "Tên đăng nhập chỉ gồm"),
    ],
)
async def test_a_bad_form_is_shown_again_and_the_link_still_works(
    app_client: AppClient, form: dict[str, str], said: str
) -> None:
    client = await app_client()
    path = _path(client)

    refused = await client.post(path, data=form)
    created = await client.post(path, data=_form())

    assert refused.status == 400
    assert said in await refused.text()
    assert created.status == 201


async def test_a_wrong_or_expired_link_is_refused(
    app_client: AppClient, clock: ManualClock
) -> None:
    client = await app_client()
    path = _path(client)

    wrong = await client.get(path[:-4] + "AAAA")
    clock.advance(LINK_LIFETIME + timedelta(seconds=1))
    expired = await client.post(path, data=_form())

    assert wrong.status == 404
    assert expired.status == 410
    assert "hết hạn" in await expired.text()
    assert client.app is not None
    assert await accounts_for(client.app).list_users() == []


async def test_an_admin_made_another_way_kills_the_link(app_client: AppClient) -> None:
    client = await app_client()
    path = _path(client)
    assert client.app is not None
    await accounts_for(client.app).create_user("boss", PASSWORD, ["admin"], actor="cli:root")

    assert (await client.post(path, data=_form())).status == 410


async def test_no_link_while_an_admin_exists(app_client: AppClient, config: object) -> None:
    first = await app_client()
    assert first.app is not None
    await accounts_for(first.app).create_user("boss", PASSWORD, ["admin"], actor="cli:root")
    await first.close()

    second = await app_client()

    assert second.app is not None
    assert second.app.get(FIRST_ADMIN_LINK) is None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.slow
async def test_canhbao_serve_prints_one_line_with_the_link(tmp_path: Path) -> None:
    port = _free_port()
    argon2 = "\n".join(f"{key} = {value}" for key, value in CHEAP_ARGON2.items())
    config = tmp_path / "config.toml"
    config.write_text(
        f'[server]\nport = {port}\npublic_base_url = "http://127.0.0.1:{port}"\n'
        f'[database]\npath = "canhbao.sqlite3"\n[auth]\n{argon2}\n[feeds]\nschedule = false\n',
        encoding="utf-8",
    )
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "canhbao"),
        "serve",
        "--config",
        str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 40)).decode()
        [url] = set(re.findall(r"http://\S+", line))
        async with aiohttp.ClientSession() as session:
            page = await session.get(url)
            created = await session.post(url, data=_form())
            dead = await session.get(url)
            assert (page.status, created.status, dead.status) == (200, 201, 410)
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 40)
    assert line.startswith("Chưa có quản trị viên")
    assert "No admin yet" in line
