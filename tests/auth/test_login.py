"""Login, the session cookie, CSRF, lock-out, expiry and disabled accounts, through the real app."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import argon2
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from canhbao import keys
from canhbao.app import all_migrations
from canhbao.auth.middleware import SESSION_COOKIE, accounts_for
from canhbao.auth.passwords import digest
from canhbao.auth.store import Accounts
from canhbao.clock import ManualClock
from canhbao.config import Config
from canhbao.db import Database
from tests.conftest import AppClient, BearerFactory, StaffFactory, make_config

LOGIN = "/api/v1/auth/login"
ME = "/api/v1/auth/me"
PASSWORD = "mưa-lũ-Huế-2020"

Client = TestClient[web.Request, web.Application]


async def _make_user(client: Client, roles: tuple[str, ...] = ("issuer",)) -> None:
    assert client.app is not None
    await accounts_for(client.app).create_user("lan", PASSWORD, roles, actor="test")


async def test_login_returns_the_user_roles_and_a_csrf_token(app_client: AppClient) -> None:
    client = await app_client()
    await _make_user(client, roles=("issuer", "approver"))

    response = await client.post(LOGIN, json={"username": "lan", "password": PASSWORD})

    assert response.status == 200
    body = await response.json()
    assert body["user"]["username"] == "lan"
    assert body["roles"] == ["approver", "issuer"]
    assert len(body["csrf_token"]) >= 32
    me = await client.get(ME)  # the client's jar now holds the cookie
    assert me.status == 200
    assert (await me.json())["csrf_token"] == body["csrf_token"]


@pytest.mark.parametrize(
    ("public_base_url", "secure"),
    [("http://127.0.0.1:8080", False), ("https://canhbao.thuathienhue.gov.vn", True)],
)
async def test_session_cookie_is_httponly_strict_and_secure_only_over_https(
    app_client: AppClient, tmp_path: Path, public_base_url: str, secure: bool
) -> None:
    config = make_config(tmp_path, {"server": {"public_base_url": public_base_url}})
    client = await app_client(config=config)
    await _make_user(client)

    response = await client.post(LOGIN, json={"username": "lan", "password": PASSWORD})

    assert response.status == 200
    set_cookie = response.headers["Set-Cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in set_cookie.split(";")}
    assert set_cookie.startswith(f"{SESSION_COOKIE}=")
    assert "httponly" in attributes
    assert "samesite=strict" in set_cookie.lower()
    assert ("secure" in attributes) is secure
    stored = await client.app[keys.DB].fetch_all("SELECT id_hash FROM auth_sessions")
    # Only a digest of the cookie is kept: a copy of the database opens no sessions.
    assert [row["id_hash"] for row in stored] == [digest(response.cookies[SESSION_COOKIE].value)]


@pytest.mark.parametrize(
    ("username", "password"),
    [("lan", "wrong password!"), ("nobody", PASSWORD), ("LAN", "wrong password!")],
)
async def test_wrong_password_and_unknown_user_get_the_same_401(
    app_client: AppClient, username: str, password: str
) -> None:
    client = await app_client()
    await _make_user(client)

    response = await client.post(LOGIN, json={"username": username, "password": password})

    assert response.status == 401
    body = await response.json()
    assert body["error"]["code"] == "login_refused"
    assert SESSION_COOKIE not in response.cookies


async def test_username_is_case_insensitive_at_login(app_client: AppClient) -> None:
    client = await app_client()
    await _make_user(client)
    response = await client.post(LOGIN, json={"username": "Lan", "password": PASSWORD})
    assert response.status == 200


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"username": "lan"}, 422),
        (["lan", PASSWORD], 422),
        ({"username": "lan", "password": 12}, 422),
        ({"username": "lan", "password": PASSWORD + "x" * 2000}, 422),
    ],
)
async def test_malformed_login_is_refused(app_client: AppClient, body: object, status: int) -> None:
    client = await app_client()
    await _make_user(client)
    response = await client.post(LOGIN, json=body)
    assert response.status == status
    assert SESSION_COOKIE not in response.cookies


async def test_a_successful_login_resets_the_failure_count(
    app_client: AppClient, tmp_path: Path
) -> None:
    config = make_config(tmp_path, {"auth": {"login_free_failures": 3}})
    client = await app_client(config=config)
    await _make_user(client)
    wrong = {"username": "lan", "password": "not the password"}
    right = {"username": "lan", "password": PASSWORD}

    for _ in range(2):
        assert (await client.post(LOGIN, json=wrong)).status == 401
    assert (await client.post(LOGIN, json=right)).status == 200
    for _ in range(2):
        assert (await client.post(LOGIN, json=wrong)).status == 401

    assert (await client.post(LOGIN, json=right)).status == 200


async def test_cookie_writes_need_the_csrf_token(
    app_client: AppClient, staff: StaffFactory
) -> None:
    client = await app_client()
    admin = await staff(client, "boss", roles=["admin"])
    new_user = {"username": "hoa", "password": PASSWORD, "roles": ["operator"]}
    cookie_only = {"Cookie": admin.headers["Cookie"]}

    missing = await client.post("/api/v1/users", json=new_user, headers=cookie_only)
    wrong = await client.post(
        "/api/v1/users", json=new_user, headers={**cookie_only, "X-CSRF-Token": "guess"}
    )
    read = await client.get("/api/v1/users", headers=cookie_only)  # reads need no token
    right = await admin.post("/api/v1/users", json=new_user)

    assert (missing.status, (await missing.json())["error"]["code"]) == (403, "csrf_missing")
    assert (wrong.status, (await wrong.json())["error"]["code"]) == (403, "csrf_invalid")
    assert read.status == 200
    assert right.status == 201
    users = await client.app[keys.DB].fetch_all("SELECT username FROM auth_users")
    assert sorted(row["username"] for row in users) == ["boss", "hoa"]


async def test_bearer_writes_need_no_csrf_token(
    app_client: AppClient, bearer: BearerFactory
) -> None:
    client = await app_client()
    headers = await bearer(client, roles=["gauge"])
    # logout is a write any principal may reach; a token is refused as "not a session", which
    # proves the CSRF check let it through.
    response = await client.post("/api/v1/auth/logout", headers=headers)
    assert (await response.json())["error"]["code"] == "not_a_session"


async def test_logout_ends_the_session(app_client: AppClient, staff: StaffFactory) -> None:
    client = await app_client()
    lan = await staff(client, "lan")

    response = await lan.post("/api/v1/auth/logout")

    assert response.status == 204
    assert (await lan.get(ME)).status == 401
    assert await client.app[keys.DB].fetch_all("SELECT * FROM auth_sessions") == []


async def test_session_expires_after_the_configured_hours(
    app_client: AppClient, staff: StaffFactory, clock: ManualClock, config: Config
) -> None:
    client = await app_client()
    lan = await staff(client, "lan")

    clock.advance(timedelta(hours=config.auth.session_hours) - timedelta(seconds=1))
    assert (await lan.get(ME)).status == 200
    clock.advance(timedelta(seconds=1))
    expired = await lan.get(ME)

    assert expired.status == 401
    assert (await expired.json())["error"]["code"] == "session_expired"


async def test_expired_sessions_are_swept_at_the_next_login(
    app_client: AppClient, staff: StaffFactory, clock: ManualClock, config: Config
) -> None:
    client = await app_client()
    await staff(client, "lan")
    clock.advance(timedelta(hours=config.auth.session_hours))
    await staff(client, "hoa")
    rows = await client.app[keys.DB].fetch_all("SELECT user_id FROM auth_sessions")
    assert len(rows) == 1


async def test_a_disabled_users_session_stops_working_and_they_cannot_log_in(
    app_client: AppClient, staff: StaffFactory
) -> None:
    client = await app_client()
    admin = await staff(client, "boss", roles=["admin"])
    lan = await staff(client, "lan")
    assert (await lan.get(ME)).status == 200

    response = await admin.post("/api/v1/users/lan/disable")

    assert response.status == 200
    assert (await response.json())["disabled_at"] is not None
    assert (await lan.get(ME)).status == 401
    login = await client.post(LOGIN, json={"username": "lan", "password": lan.password})
    assert login.status == 401


async def test_login_rehashes_a_password_made_with_old_parameters(
    app_client: AppClient, tmp_path: Path, clock: ManualClock
) -> None:
    old = make_config(tmp_path)
    db = Database(old.resolve(old.database.path))
    await db.open()
    try:
        await db.migrate(all_migrations())
        await Accounts(db, clock, old.auth).create_user("lan", PASSWORD, ["issuer"], actor="test")
    finally:
        await db.close()
    new = make_config(tmp_path, {"auth": {"argon2_time_cost": 2, "argon2_memory_kib": 16}})
    client = await app_client(config=new)

    wrong = await client.post(LOGIN, json={"username": "lan", "password": "wrong password"})
    row = await client.app[keys.DB].fetch_one("SELECT password_hash FROM auth_users")
    assert wrong.status == 401
    assert argon2.extract_parameters(row["password_hash"]).time_cost == 1

    right = await client.post(LOGIN, json={"username": "lan", "password": PASSWORD})
    row = await client.app[keys.DB].fetch_one("SELECT password_hash FROM auth_users")
    assert right.status == 200
    parameters = argon2.extract_parameters(row["password_hash"])
    assert (parameters.time_cost, parameters.memory_cost) == (2, 16)
    assert parameters.type is argon2.Type.ID
    again = await client.post(LOGIN, json={"username": "lan", "password": PASSWORD})
    assert again.status == 200
