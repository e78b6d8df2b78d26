"""Login backoff per address and per account (no hard lock-out), and admins' unlock: through
the real app, from real distinct loopback addresses (127.0.0.x)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from canhbao import keys
from canhbao.auth.middleware import accounts_for
from canhbao.auth.throttle import client_address
from canhbao.clock import ManualClock, SystemClock
from canhbao.config import Config
from tests.conftest import AppClient, StaffFactory, make_config

LOGIN = "/api/v1/auth/login"
PASSWORD = "mưa-lũ-Huế-2020"
WRONG = "not the password"

Client = TestClient[web.Request, web.Application]


def _config(tmp_path: Path) -> Config:
    return make_config(
        tmp_path,
        {
            "auth": {
                "login_free_failures": 3,
                "login_address_backoff_max_s": 900.0,
                "login_account_backoff_max_s": 60.0,
            }
        },
    )


async def _login(client: Client, address: str, username: str, password: str) -> tuple[int, Any]:
    """POST the login from `address` (a real source address on the loopback network)."""
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    async with aiohttp.ClientSession(
        connector=connector, cookie_jar=aiohttp.DummyCookieJar()
    ) as session:
        response = await session.post(
            client.make_url(LOGIN), json={"username": username, "password": password}
        )
        body = await response.json()
        retry_after = response.headers.get("Retry-After")
    if response.status == 429:
        assert retry_after is not None
        return 429, int(retry_after)
    return response.status, body


async def _make_user(client: Client) -> None:
    assert client.app is not None
    await accounts_for(client.app).create_user("lan", PASSWORD, ["approver"], actor="test")


async def test_others_wrong_passwords_keep_the_owner_out_a_minute_at_most(
    app_client: AppClient, tmp_path: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Many addresses guessing (a botnet): the account waits longer and longer, capped at its
    minute; the owner, typing the right password from her own address, gets in after it."""
    client = await app_client(config=_config(tmp_path))
    await _make_user(client)
    answers: list[tuple[int, Any]] = []

    with caplog.at_level(logging.WARNING, logger="canhbao.auth"):
        for attempt in range(12):
            status, detail = await _login(client, f"127.0.1.{attempt + 1}", "lan", WRONG)
            answers.append((status, detail if status == 429 else None))
            if status == 429:
                clock.advance(timedelta(seconds=detail))
                status, _ = await _login(client, f"127.0.2.{attempt + 1}", "lan", WRONG)
                assert status == 401
    owner_first = await _login(client, "127.0.0.9", "lan", PASSWORD)
    clock.advance(timedelta(seconds=owner_first[1]))
    owner_then = await _login(client, "127.0.0.9", "lan", PASSWORD)

    # Three free wrong passwords, then 1 s, 2 s, 4 s … of waiting, never beyond 60 s.
    assert answers[:3] == [(401, None)] * 3
    waits = [detail for status, detail in answers if status == 429]
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert owner_first == (429, 60)  # the password is not even checked while waiting
    assert owner_then[0] == 200
    assert [r.message for r in caplog.records].count(
        "repeated wrong passwords: logins to this account now wait between attempts"
    ) == 1
    rows = await client.app[keys.DB].fetch_all(
        "SELECT actor FROM audit_log WHERE action = 'user.backoff'"
    )
    assert [row["actor"] for row in rows] == ["system:login-backoff"]


async def test_one_address_guessing_waits_up_to_its_own_longer_cap(
    app_client: AppClient, tmp_path: Path, clock: ManualClock
) -> None:
    """Different usernames each time (no account waits): the address's own backoff."""
    client = await app_client(config=_config(tmp_path))
    waits: list[int] = []

    for attempt in range(16):
        status, detail = await _login(client, "127.0.0.2", f"guess{attempt}", WRONG)
        if status == 429:
            waits.append(detail)
            clock.advance(timedelta(seconds=detail))
            assert (await _login(client, "127.0.0.2", f"again{attempt}", WRONG))[0] == 401
    other = await _login(client, "127.0.0.3", "someone", WRONG)

    assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900]
    assert other[0] == 401  # another address is not slowed by this one


async def test_a_missing_account_is_throttled_like_a_real_one(
    app_client: AppClient, tmp_path: Path
) -> None:
    """A 429 must not tell a real username from a made-up one."""
    client = await app_client(config=_config(tmp_path))
    await _make_user(client)
    answers: dict[str, list[int]] = {"lan": [], "nobody": []}

    for username, network in (("lan", "127.0.3"), ("nobody", "127.0.4")):
        for i in range(5):  # each from its own address: only the account can be waiting
            answers[username].append(
                (await _login(client, f"{network}.{i + 1}", username, WRONG))[0]
            )

    assert answers["lan"] == answers["nobody"] == [401, 401, 401, 429, 429]


async def test_guesses_sent_at_once_cannot_slip_past_the_count(
    app_client: AppClient, tmp_path: Path
) -> None:
    client = await app_client(config=_config(tmp_path))
    await _make_user(client)

    answers = await asyncio.gather(*(_login(client, "127.0.0.2", "lan", WRONG) for _ in range(10)))

    statuses = sorted(status for status, _ in answers)
    assert statuses == [401] * 3 + [429] * 7


async def test_with_the_real_clock_a_guesser_waits_at_once(
    app_client: AppClient, tmp_path: Path
) -> None:
    config = make_config(tmp_path, {"auth": {"login_free_failures": 1}})
    client = await app_client(config=config, clock=SystemClock())  # type: ignore[arg-type]  # a real Clock where the fixture types a ManualClock
    await _make_user(client)

    answers = [(await _login(client, "127.0.0.2", "lan", WRONG))[0] for _ in range(3)]

    assert answers == [401, 429, 429]


async def test_an_admin_unlocks_the_account_and_it_is_audited(
    app_client: AppClient, tmp_path: Path, staff: StaffFactory
) -> None:
    client = await app_client(config=_config(tmp_path))
    admin = await staff(client, "boss", roles=["admin"])
    await _make_user(client)
    for attempt in range(5):
        await _login(client, f"127.0.4.{attempt + 1}", "lan", WRONG)
    assert (await _login(client, "127.0.0.9", "lan", PASSWORD))[0] == 429

    unlocked = await admin.post("/api/v1/users/lan/unlock")

    assert unlocked.status == 200
    assert (await unlocked.json())["locked_until"] is None
    assert (await _login(client, "127.0.0.9", "lan", PASSWORD))[0] == 200
    [entry, *_] = (await (await admin.get("/api/v1/audit?entity_id=lan")).json())["items"][1:]
    assert (entry["action"], entry["actor"]) == ("user.unlock", "user:boss")


async def test_an_admin_re_enables_a_disabled_account(
    app_client: AppClient, staff: StaffFactory
) -> None:
    client = await app_client()
    admin = await staff(client, "boss", roles=["admin"])
    await _make_user(client)
    assert (await admin.post("/api/v1/users/lan/disable")).status == 200
    assert (await _login(client, "127.0.0.9", "lan", PASSWORD))[0] == 401

    enabled = await admin.post("/api/v1/users/lan/enable")

    assert enabled.status == 200
    assert (await enabled.json())["disabled_at"] is None
    assert (await _login(client, "127.0.0.9", "lan", PASSWORD))[0] == 200
    actions = [
        (entry["action"], entry["actor"])
        for entry in (await (await admin.get("/api/v1/audit?entity_id=lan")).json())["items"]
    ]
    assert actions[1:3] == [("user.enable", "user:boss"), ("user.disable", "user:boss")]


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/api/v1/users/nobody/unlock", None, 404),
        ("/api/v1/users/nobody/enable", None, 404),
        ("/api/v1/users/nobody/password", {"password": PASSWORD}, 404),
        ("/api/v1/users/lan/password", {"password": "short"}, 400),
        ("/api/v1/users/lan/password", {}, 422),  # no password: the body does not fit
        ("/api/v1/users/boss/password", {"password": PASSWORD}, 400),  # one's own: log in
    ],
)
async def test_admin_account_actions_refuse_bad_input_with_4xx(
    app_client: AppClient, staff: StaffFactory, path: str, body: Any, status: int
) -> None:
    client = await app_client()
    admin = await staff(client, "boss", roles=["admin"])
    await _make_user(client)

    response = await admin.post(path, json=body) if body is not None else await admin.post(path)

    assert response.status == status


@pytest.mark.parametrize(
    ("remote", "forwarded", "address"),
    [
        ("127.0.0.1", "203.0.113.5", "203.0.113.5"),  # from the trusted proxy
        ("127.0.0.1", "198.51.100.9, 203.0.113.5", "203.0.113.5"),  # the left part is forgeable
        ("127.0.0.1", "203.0.113.5, 127.0.0.1", "203.0.113.5"),  # two trusted hops
        ("127.0.0.1", None, "127.0.0.1"),
        ("127.0.0.1", " , ", "127.0.0.1"),
        ("203.0.113.7", "198.51.100.9", "203.0.113.7"),  # not a proxy: the header is ignored
        (None, None, "unknown"),
    ],
)
def test_the_client_address_behind_a_trusted_proxy(
    remote: str | None, forwarded: str | None, address: str
) -> None:
    assert client_address(remote, forwarded, ["127.0.0.1"]) == address


async def test_behind_a_proxy_one_guesser_does_not_slow_everyone(
    app_client: AppClient, tmp_path: Path
) -> None:
    config = make_config(
        tmp_path, {"auth": {"login_free_failures": 3, "trusted_proxies": ["127.0.0.1"]}}
    )
    client = await app_client(config=config)
    await _make_user(client)

    def via_proxy(client_ip: str, password: str, username: str = "lan") -> Any:
        return client.post(
            LOGIN,
            json={"username": username, "password": password},
            headers={"X-Forwarded-For": client_ip},
        )

    guesses = [(await via_proxy("203.0.113.5", WRONG, f"u{i}")).status for i in range(5)]
    other = await via_proxy("198.51.100.9", PASSWORD)

    assert guesses == [401, 401, 401, 429, 429]
    assert other.status == 200
