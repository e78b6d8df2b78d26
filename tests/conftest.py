"""Shared fixtures: a test config on a real SQLite file, the real app behind a test client."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from canhbao.app import create_app
from canhbao.auth.middleware import CSRF_HEADER, SESSION_COOKIE, accounts_for
from canhbao.clock import ManualClock
from canhbao.config import Config, DatabaseConfig, parse_config
from tests.answers import check_answers

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"

# argon2id at its cheapest: tests hash many passwords on two shared CPU cores.
CHEAP_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_kib": 8, "argon2_parallelism": 1}

AppClient = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]


def make_config(tmp_path: Path, raw: dict[str, Any] | None = None) -> Config:
    """A Config as the shipped defaults, with the database in tmp_path and `raw` overrides."""
    raw = dict(raw or {})
    raw["auth"] = {**CHEAP_ARGON2, **raw.get("auth", {})}
    config = parse_config(raw)
    database = dataclasses.replace(config.database, path=str(tmp_path / "canhbao.sqlite3"))
    assert isinstance(database, DatabaseConfig)
    return dataclasses.replace(config, database=database, base_dir=tmp_path)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2025, 11, 16, 3, 0, tzinfo=UTC))


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path)


@pytest.fixture
def app_client(
    aiohttp_client: Callable[..., Awaitable[TestClient[web.Request, web.Application]]],
    config: Config,
    clock: ManualClock,
) -> Iterator[AppClient]:
    """Start the real app (create_app) on a real SQLite file; `app_client(config=...)` overrides.

    Every success answer is checked against the model its route declares (tests/answers.py).
    """
    problems: list[str] = []

    async def start(
        config: Config = config, clock: ManualClock = clock
    ) -> TestClient[web.Request, web.Application]:
        app = create_app(config, clock=clock)
        check_answers(app, problems)
        return await aiohttp_client(app)

    yield start
    assert not problems, "answers outside their declared models:\n" + "\n".join(problems)


# --- staff and machine credentials (auth) ---------------------------------------------------


@dataclasses.dataclass(frozen=True)
class StaffLogin:
    """A staff user logged in through POST /api/v1/auth/login, as a browser would be.

    `headers` carries the session cookie and the X-CSRF-Token, so writes pass the CSRF check;
    `get`/`post`/`put`/`patch`/`delete` send them through the test client for you. The test
    client's own cookie jar is left alone, so plain `client.get(...)` stays anonymous and
    several users can act in one test.
    """

    client: TestClient[web.Request, web.Application]
    username: str
    password: str
    roles: tuple[str, ...]
    session_cookie: str
    csrf_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {
            "Cookie": f"{SESSION_COOKIE}={self.session_cookie}",
            CSRF_HEADER: self.csrf_token,
        }

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """`client.request` as this user; extra `headers=` are merged over the login headers."""
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Any:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Any:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs)


StaffFactory = Callable[..., Awaitable[StaffLogin]]
BearerFactory = Callable[..., Awaitable[dict[str, str]]]


def _running_app(client: TestClient[web.Request, web.Application]) -> web.Application:
    app = client.app
    assert app is not None, "start the app first: client = await app_client()"
    return app


@pytest.fixture
def staff() -> StaffFactory:
    """Create a staff user in the running app and log them in.

        client = await app_client()
        lan = await staff(client, "lan", roles=["issuer"])
        response = await lan.post("/api/v1/alerts", json={...})   # cookie + CSRF sent
        boss = await staff(client, "boss", roles=["admin"])

    Keyword arguments: `roles` (default ["issuer"]), `password` (default: username padded to
    the configured minimum length), `display_name`. Returns a StaffLogin. The user is created
    straight in the database (audited as actor "test") and logged in over HTTP.
    """

    async def create(
        client: TestClient[web.Request, web.Application],
        username: str,
        *,
        roles: Sequence[str] = ("issuer",),
        password: str | None = None,
        display_name: str = "",
    ) -> StaffLogin:
        app = _running_app(client)
        password = password or f"{username}-password-for-tests"
        await accounts_for(app).create_user(
            username, password, roles, display_name=display_name, actor="test"
        )
        # Its own session with no cookie jar: the test client's jar stays untouched.
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
            response = await session.post(
                client.make_url("/api/v1/auth/login"),
                json={"username": username, "password": password},
            )
            assert response.status == 200, await response.text()
            body = await response.json()
            cookie = response.cookies[SESSION_COOKIE].value
        return StaffLogin(client, username, password, tuple(roles), cookie, body["csrf_token"])

    return create


@pytest.fixture
def bearer() -> BearerFactory:
    """Create a machine token in the running app; returns the request headers that carry it.

        client = await app_client()
        headers = await bearer(client, roles=["gauge"])
        await client.post("/api/v1/ingest", json=..., headers=headers)   # no CSRF needed

    Keyword arguments: `roles` (default ["gauge"]; admin is refused for tokens), `name`.
    """

    async def create(
        client: TestClient[web.Request, web.Application],
        *,
        roles: Sequence[str] = ("gauge",),
        name: str = "test token",
    ) -> dict[str, str]:
        _, secret = await accounts_for(_running_app(client)).create_token(name, roles, actor="test")
        return {"Authorization": f"Bearer {secret}"}

    return create
