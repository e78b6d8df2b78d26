"""require_roles and bearer tokens: 401 for no one, 403 for a wrong role, revoked tokens refused."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from canhbao import keys
from canhbao.app import create_app
from canhbao.auth import Role, current_principal, require_principal, require_roles
from canhbao.clock import ManualClock
from canhbao.config import Config
from tests.conftest import AppClient, BearerFactory, StaffFactory

Client = TestClient[web.Request, web.Application]
ME = "/api/v1/auth/me"


@require_roles(Role.issuer, Role.approver)
async def _alert_desk(request: web.Request) -> web.Response:
    return web.json_response({"actor": require_principal(request).actor})


async def _public(request: web.Request) -> web.Response:
    principal = current_principal(request)
    return web.json_response({"actor": principal.actor if principal else None})


@pytest.fixture
async def guarded_client(
    aiohttp_client: Callable[..., Awaitable[Client]], config: Config, clock: ManualClock
) -> Client:
    """The real app plus two routes of a pretend domain: one guarded, one public."""
    app = create_app(config, clock=clock)
    app.router.add_post("/test/alert-desk", _alert_desk)
    app.router.add_post("/test/public", _public)
    return await aiohttp_client(app)


async def test_anonymous_gets_401(guarded_client: Client) -> None:
    response = await guarded_client.post("/test/alert-desk")
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "unauthenticated"


@pytest.mark.parametrize(
    ("roles", "status"),
    [
        (["issuer"], 200),
        (["approver"], 200),
        (["admin"], 200),  # admin passes every role check
        (["operator", "dispatcher"], 403),
        (["team"], 403),
    ],
)
async def test_roles_decide(
    guarded_client: Client, staff: StaffFactory, roles: list[str], status: int
) -> None:
    user = await staff(guarded_client, "lan", roles=roles)
    response = await user.post("/test/alert-desk")
    assert response.status == status
    if status == 200:
        assert (await response.json())["actor"] == "user:lan"
    else:
        assert (await response.json())["error"]["code"] == "forbidden"


async def test_admin_routes_refuse_other_roles(app_client: AppClient, staff: StaffFactory) -> None:
    client = await app_client()
    lan = await staff(client, "lan", roles=["issuer", "approver", "operator", "dispatcher"])
    for path in ("/api/v1/users", "/api/v1/tokens", "/api/v1/audit"):
        response = await lan.get(path)
        assert response.status == 403, path


async def test_bearer_token_works_without_csrf_and_is_named_in_the_actor(
    guarded_client: Client, bearer: BearerFactory
) -> None:
    headers = await bearer(guarded_client, roles=["issuer"])
    response = await guarded_client.post("/test/alert-desk", headers=headers)
    assert response.status == 200
    assert (await response.json())["actor"].startswith("token:")


async def test_gauge_token_is_not_an_issuer(guarded_client: Client, bearer: BearerFactory) -> None:
    headers = await bearer(guarded_client, roles=["gauge"])
    response = await guarded_client.post("/test/alert-desk", headers=headers)
    assert response.status == 403


@pytest.mark.parametrize(
    "authorization", ["Bearer cbt_not-a-real-token", "Bearer ", "Basic bGFuOnB3"]
)
async def test_bad_bearer_is_401_on_protected_routes_and_ignored_on_public_ones(
    guarded_client: Client, authorization: str
) -> None:
    headers = {"Authorization": authorization}

    protected = await guarded_client.post("/test/alert-desk", headers=headers)
    public = await guarded_client.post("/test/public", headers=headers)
    health = await guarded_client.get("/healthz", headers=headers)

    assert protected.status == 401
    assert (await protected.json())["error"]["code"] == "invalid_token"
    assert public.status == 200
    assert (await public.json())["actor"] is None
    assert health.status == 200


async def test_a_cookie_write_without_csrf_counts_as_no_one_on_public_routes(
    guarded_client: Client, staff: StaffFactory
) -> None:
    lan = await staff(guarded_client, "lan")
    forged = await guarded_client.post("/test/public", headers={"Cookie": lan.headers["Cookie"]})
    genuine = await lan.post("/test/public")
    assert (await forged.json())["actor"] is None
    assert (await genuine.json())["actor"] == "user:lan"


async def test_revoked_token_gets_401(
    app_client: AppClient, staff: StaffFactory, clock: ManualClock
) -> None:
    client = await app_client()
    admin = await staff(client, "boss", roles=["admin"])
    created = await admin.post(
        "/api/v1/tokens", json={"name": "Kim Long gauge", "roles": ["gauge"]}
    )
    assert created.status == 201
    body = await created.json()
    headers = {"Authorization": f"Bearer {body['secret']}"}
    assert (await client.get(ME, headers=headers)).status == 200

    revoked = await admin.post(f"/api/v1/tokens/{body['token']['id']}/revoke")
    after = await client.get(ME, headers=headers)

    assert revoked.status == 200
    assert (await revoked.json())["revoked_at"] is not None
    assert after.status == 401
    assert (await after.json())["error"]["code"] == "invalid_token"


async def test_me_describes_a_token(app_client: AppClient, bearer: BearerFactory) -> None:
    client = await app_client()
    headers = await bearer(client, roles=["gauge"], name="Phú Ốc gauge")
    body = await (await client.get(ME, headers=headers)).json()
    assert body["token"]["name"] == "Phú Ốc gauge"
    assert body["roles"] == ["gauge"]
    assert "csrf_token" not in body


async def test_last_used_is_recorded_at_most_once_a_minute(
    app_client: AppClient, bearer: BearerFactory, clock: ManualClock
) -> None:
    client = await app_client()
    headers = await bearer(client)
    db = client.app[keys.DB]

    async def last_used() -> str | None:
        row = await db.fetch_one("SELECT last_used_at FROM auth_tokens")
        assert row is not None
        return row["last_used_at"]

    assert await last_used() is None
    await client.get(ME, headers=headers)
    first = await last_used()
    assert first is not None
    assert first.startswith("2025-11-16T03:00:00")
    clock.advance(timedelta(seconds=30))
    await client.get(ME, headers=headers)
    assert await last_used() == first  # no write for a use within the minute
    clock.advance(timedelta(seconds=31))
    await client.get(ME, headers=headers)
    assert (await last_used() or "").startswith("2025-11-16T03:01:01")
