"""The admin API for users and tokens: validation, conflicts, and the audit row of each change."""

from __future__ import annotations

import json
from typing import Any

import pytest

from canhbao import keys
from tests.conftest import AppClient, StaffFactory, StaffLogin

PASSWORD = "đê-sông-Hương-vững"


async def _audit(admin: StaffLogin, **filters: str) -> list[dict[str, Any]]:
    response = await admin.get("/api/v1/audit", params=filters)
    assert response.status == 200
    items: list[dict[str, Any]] = (await response.json())["items"]
    return items


async def test_create_and_list_users_with_an_audit_row(
    app_client: AppClient, staff: StaffFactory
) -> None:
    client = await app_client()
    admin = await staff(client, "boss", roles=["admin"])

    created = await admin.post(
        "/api/v1/users",
        json={
            "username": "hoa",
            "password": PASSWORD,
            "roles": ["operator", "dispatcher"],
            "display_name": "Trần Thị Hoa",
        },
        headers={"X-Request-Id": "req-create-hoa"},
    )
    listed = await admin.get("/api/v1/users")

    assert created.status == 201
    user = await created.json()
    assert user["roles"] == ["dispatcher", "operator"]
    assert user["display_name"] == "Trần Thị Hoa"
    assert [u["username"] for u in (await listed.json())["items"]] == ["boss", "hoa"]
    [entry] = await _audit(admin, entity="user", entity_id="hoa", actor="user:boss")
    assert entry["action"] == "user.create"
    assert entry["before"] is None
    assert entry["after"] == user
    assert entry["request_id"] == "req-create-hoa"
    raw = await client.app[keys.DB].fetch_all('SELECT "after" FROM audit_log')
    assert all("argon2" not in row["after"] for row in raw if row["after"])


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"username": "hoa", "password": "short", "roles": ["operator"]}, 400, "invalid_account"),
        ({"username": "hoa", "password": PASSWORD, "roles": ["boss"]}, 422, "invalid_body"),
        ({"username": "hoa", "password": PASSWORD, "roles": []}, 400, "invalid_account"),
        ({"username": "hoa", "password": PASSWORD, "roles": "admin"}, 422, "invalid_body"),
        ({"username": "Hoa Tran", "password": PASSWORD, "roles": ["team"]}, 400, "invalid_account"),
        ({"username": "boss", "password": PASSWORD, "roles": ["team"]}, 409, "user_exists"),
        ({"username": "hoa", "password": PASSWORD}, 422, "invalid_body"),
        (
            {"username": "hoa", "password": PASSWORD, "roles": ["team"], "is_admin": True},
            422,
            "invalid_body",
        ),
    ],
)
async def test_bad_user_input(
    app_client: AppClient, staff: StaffFactory, body: dict[str, Any], status: int, code: str
) -> None:
    client = await app_client()
    admin = await staff(client, "boss", roles=["admin"])
    response = await admin.post("/api/v1/users", json=body)
    assert response.status == status
    assert (await response.json())["error"]["code"] == code
    rows = await client.app[keys.DB].fetch_all("SELECT username FROM auth_users")
    assert [row["username"] for row in rows] == ["boss"]


async def test_disable_writes_before_and_after(app_client: AppClient, staff: StaffFactory) -> None:
    client = await app_client()
    admin = await staff(client, "boss", roles=["admin"])
    await staff(client, "lan")

    first = await admin.post("/api/v1/users/lan/disable")
    second = await admin.post("/api/v1/users/lan/disable")
    unknown = await admin.post("/api/v1/users/nobody/disable")
    itself = await admin.post("/api/v1/users/boss/disable")

    assert (first.status, second.status) == (200, 200)
    assert (unknown.status, (await unknown.json())["error"]["code"]) == (404, "unknown_user")
    assert itself.status == 400
    entries = await _audit(admin, entity="user", entity_id="lan")
    assert [e["action"] for e in entries] == ["user.disable", "user.login", "user.create"]
    disable = entries[0]
    assert disable["before"]["disabled_at"] is None
    assert disable["after"]["disabled_at"] == "2025-11-16T03:00:00.000000+00:00"
    assert disable["actor"] == "user:boss"


async def test_tokens_are_created_listed_and_revoked_with_audit_rows(
    app_client: AppClient, staff: StaffFactory
) -> None:
    client = await app_client()
    admin = await staff(client, "boss", roles=["admin"])

    created = await admin.post(
        "/api/v1/tokens", json={"name": "Kim Long gauge", "roles": ["gauge"]}
    )
    body = await created.json()
    token_id = body["token"]["id"]
    listed = await (await admin.get("/api/v1/tokens")).json()
    revoked = await admin.post(f"/api/v1/tokens/{token_id}/revoke")
    missing = await admin.post("/api/v1/tokens/999/revoke")

    assert created.status == 201
    assert body["secret"].startswith("cbt_")
    assert listed["items"] == [body["token"]]
    assert "secret" not in json.dumps(listed)
    assert revoked.status == 200
    assert (missing.status, (await missing.json())["error"]["code"]) == (404, "unknown_token")
    entries = await _audit(admin, entity="token", entity_id=str(token_id))
    assert [e["action"] for e in entries] == ["token.revoke", "token.create"]
    assert entries[1]["after"] == body["token"]
    assert entries[0]["before"]["revoked_at"] is None
    assert entries[0]["after"]["revoked_at"] is not None
    row = await client.app[keys.DB].fetch_one("SELECT secret_hash FROM auth_tokens")
    assert row is not None
    assert body["secret"] not in row["secret_hash"]
    everything = await client.app[keys.DB].fetch_all("SELECT * FROM audit_log")
    assert body["secret"] not in str([tuple(r) for r in everything])


@pytest.mark.parametrize(
    "body",
    [
        {"name": "root", "roles": ["admin"]},  # a machine secret must not administer
        {"name": "", "roles": ["gauge"]},
        {"name": "x", "roles": []},
    ],
)
async def test_bad_token_input(
    app_client: AppClient, staff: StaffFactory, body: dict[str, Any]
) -> None:
    client = await app_client()
    admin = await staff(client, "boss", roles=["admin"])
    response = await admin.post("/api/v1/tokens", json=body)
    assert response.status in (400, 422)
    assert await client.app[keys.DB].fetch_all("SELECT id FROM auth_tokens") == []
