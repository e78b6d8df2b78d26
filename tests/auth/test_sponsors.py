"""approver_sponsors: who created an account or granted it an approving role lately, and the
two-admin rule for such grants (auth.approver_grant_admins = 2)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from canhbao import keys
from canhbao.auth.admin import AccountAdmin
from canhbao.auth.middleware import accounts_for
from canhbao.auth.sponsors import approver_sponsors
from canhbao.clock import LOCAL_TZ, ManualClock, SystemClock
from canhbao.db import Database
from tests.conftest import AppClient, StaffFactory, StaffLogin, make_config

PASSWORD = "nước-lên-Kim-Long"
DAY = timedelta(hours=24)


async def _sponsors(admin: StaffLogin, username: str, since: datetime) -> frozenset[str]:
    assert admin.client.app is not None
    return await approver_sponsors(admin.client.app[keys.DB], username, since)


async def _create(admin: StaffLogin, username: str, roles: list[str]) -> dict[str, Any]:
    response = await admin.post(
        "/api/v1/users", json={"username": username, "password": PASSWORD, "roles": roles}
    )
    assert response.status == 201, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def _set_roles(admin: StaffLogin, username: str, roles: list[str]) -> dict[str, Any]:
    response = await admin.put(f"/api/v1/users/{username}/roles", json={"roles": roles})
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def test_the_creator_of_an_account_is_its_sponsor_for_the_window(
    app_client: AppClient, staff: StaffFactory, clock: ManualClock
) -> None:
    client = await app_client()
    boss = await staff(client, "boss", roles=["admin"])
    created_at = clock.now()

    await _create(boss, "ghost", ["approver"])

    assert await _sponsors(boss, "ghost", created_at - DAY) == {"boss"}
    assert await _sponsors(boss, "ghost", created_at) == {"boss"}  # "at or after"
    clock.advance(DAY + timedelta(seconds=1))
    assert await _sponsors(boss, "ghost", clock.now() - DAY) == frozenset()
    assert await _sponsors(boss, "nobody", created_at - DAY) == frozenset()


@pytest.mark.parametrize(
    ("granted", "sponsor"),
    [(["issuer", "approver"], True), (["admin"], True), (["issuer", "operator"], False)],
)
async def test_granting_an_approving_role_makes_a_sponsor_other_roles_do_not(
    app_client: AppClient,
    staff: StaffFactory,
    clock: ManualClock,
    granted: list[str],
    sponsor: bool,
) -> None:
    client = await app_client()
    await staff(client, "lan", roles=["issuer"])  # created by actor "test", not a user
    clock.advance(timedelta(days=3))
    boss = await staff(client, "boss", roles=["admin"])
    since = clock.now() - DAY

    user = await _set_roles(boss, "lan", granted)

    assert user["roles"] == sorted(granted)
    assert await _sponsors(boss, "lan", since) == ({"boss"} if sponsor else frozenset())
    audit = await boss.get("/api/v1/audit", params={"entity_id": "lan"})
    [entry, *_] = (await audit.json())["items"]
    assert (entry["action"], entry["actor"]) == ("user.roles", "user:boss")
    assert entry["before"]["roles"] == ["issuer"]
    assert entry["after"]["roles"] == sorted(granted)


async def test_a_password_reset_hands_the_account_over_so_it_counts(
    app_client: AppClient, staff: StaffFactory, clock: ManualClock
) -> None:
    client = await app_client()
    await staff(client, "hoa", roles=["approver"])
    clock.advance(timedelta(days=3))
    boss = await staff(client, "boss", roles=["admin"])
    approver = await staff_login(client, "hoa", "hoa-password-for-tests")

    reset = await boss.post("/api/v1/users/hoa/password", json={"password": PASSWORD + "!"})

    assert reset.status == 200
    assert await _sponsors(boss, "hoa", clock.now() - DAY) == {"boss"}
    assert (await approver.get("/api/v1/auth/me")).status == 401  # her sessions ended


async def test_cli_actors_are_audited_but_are_not_usernames(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    db = Database(config.resolve(config.database.path))
    await db.open()
    try:
        from canhbao.app import all_migrations

        await db.migrate(all_migrations())
        accounts = accounts_for_db(db, config)
        since = accounts.clock.now()
        await accounts.create_user("boss", PASSWORD, ["admin"], actor="cli:root")
        await accounts.create_user("lan", PASSWORD, ["issuer"], actor="user:boss")
        await AccountAdmin(accounts).set_roles("lan", ["approver"], actor="cli:root")
        rows = await db.fetch_all(
            "SELECT actor, action FROM audit_log WHERE entity_id = 'lan' ORDER BY id"
        )
        sponsors = await approver_sponsors(db, "lan", since)
    finally:
        await db.close()
    assert [tuple(row) for row in rows] == [
        ("user:boss", "user.create"),
        ("cli:root", "user.roles"),
    ]
    assert sponsors == {"boss"}


async def test_real_clock_and_a_local_time_window(tmp_path: Path) -> None:
    """Sub-second audit times under the system clock, a window given in +07:00."""
    config = make_config(tmp_path)
    db = Database(config.resolve(config.database.path))
    await db.open()
    try:
        from canhbao.app import all_migrations

        await db.migrate(all_migrations())
        accounts = accounts_for_db(db, config, real_clock=True)
        before = datetime.now(LOCAL_TZ)
        await accounts.create_user("lan", PASSWORD, ["approver"], actor="user:boss")
        after = datetime.now(LOCAL_TZ) + timedelta(microseconds=1)
        inside = await approver_sponsors(db, "lan", before)
        outside = await approver_sponsors(db, "lan", after)
    finally:
        await db.close()
    assert inside == {"boss"}
    assert outside == frozenset()


# --- two admins for approving roles --------------------------------------------------------


@pytest.fixture
def two_admins_config(tmp_path: Path) -> Any:
    return make_config(tmp_path, {"auth": {"approver_grant_admins": 2}})


async def test_with_two_admins_one_admins_grant_waits_for_a_second(
    app_client: AppClient, staff: StaffFactory, two_admins_config: Any
) -> None:
    client = await app_client(config=two_admins_config)
    boss = await staff(client, "boss", roles=["admin"])  # first admin: nobody to confirm
    lan = await staff(client, "lan", roles=["issuer"])

    asked = await _set_roles(boss, "lan", ["issuer", "approver"])
    again = await _set_roles(boss, "lan", ["issuer", "approver"])  # the same admin: no
    self_confirm = await boss.post("/api/v1/users/lan/roles/confirm")

    assert asked["roles"] == ["issuer"]
    assert asked["pending_roles"] == ["approver"]
    assert again["pending_roles"] == ["approver"]
    assert self_confirm.status == 200
    assert (await self_confirm.json())["roles"] == ["issuer"]
    me = await lan.get("/api/v1/auth/me")
    assert (await me.json())["roles"] == ["issuer"]

    # A second admin can only be made with a second admin too: the CLI's actor is a distinct
    # person, so the shell owner can confirm what boss asked.
    assert client.app is not None
    admin = AccountAdmin(accounts_for(client.app))
    await accounts_for(client.app).create_user("chi", PASSWORD, ["issuer"], actor="user:boss")
    await admin.set_roles("chi", ["admin"], actor="user:boss")
    chi_user = await admin.set_roles("chi", ["admin"], actor="cli:root")
    assert chi_user.roles == {"admin"}
    chi = await staff_login(client, "chi")

    confirmed = await chi.post("/api/v1/users/lan/roles/confirm")

    assert confirmed.status == 200
    body = await confirmed.json()
    assert body["roles"] == ["approver", "issuer"]
    assert body["pending_roles"] == []
    me = await lan.get("/api/v1/auth/me")
    assert (await me.json())["roles"] == ["approver", "issuer"]
    assert await _sponsors(boss, "lan", datetime(2000, 1, 1, tzinfo=UTC)) == {"boss", "chi"}


async def test_with_two_admins_a_new_account_gets_approver_only_when_confirmed(
    app_client: AppClient, staff: StaffFactory, two_admins_config: Any
) -> None:
    client = await app_client(config=two_admins_config)
    boss = await staff(client, "boss", roles=["admin"])

    created = await _create(boss, "ghost", ["approver", "issuer"])
    cancelled = await _set_roles(boss, "ghost", ["issuer"])

    assert created["roles"] == ["issuer"]
    assert created["pending_roles"] == ["approver"]
    assert cancelled["pending_roles"] == []
    nothing = await boss.post("/api/v1/users/ghost/roles/confirm")
    assert nothing.status == 400
    actions = [
        entry["action"]
        for entry in (await (await boss.get("/api/v1/audit?entity_id=ghost")).json())["items"]
    ]
    assert actions == ["user.grant_cancel", "user.grant_request", "user.create"]


async def test_the_last_admin_cannot_give_up_the_role(
    app_client: AppClient, staff: StaffFactory
) -> None:
    client = await app_client()
    boss = await staff(client, "boss", roles=["admin"])

    response = await boss.put("/api/v1/users/boss/roles", json={"roles": ["issuer"]})

    assert response.status == 400
    assert "last enabled admin" in (await response.json())["error"]["message"]


# --- helpers -------------------------------------------------------------------------------


def accounts_for_db(db: Database, config: Any, *, real_clock: bool = False) -> Any:
    from canhbao.auth.store import Accounts

    clock = SystemClock() if real_clock else ManualClock(datetime(2025, 11, 16, tzinfo=UTC))
    return Accounts(db, clock, config.auth)


async def staff_login(client: Any, username: str, password: str = PASSWORD) -> StaffLogin:
    """Log in an account that already exists (the `staff` fixture also creates one)."""
    import aiohttp

    from canhbao.auth.middleware import SESSION_COOKIE

    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        response = await session.post(
            client.make_url("/api/v1/auth/login"),
            json={"username": username, "password": password},
        )
        assert response.status == 200, await response.text()
        body = await response.json()
        cookie = response.cookies[SESSION_COOKIE].value
    return StaffLogin(client, username, password, (), cookie, body["csrf_token"])
