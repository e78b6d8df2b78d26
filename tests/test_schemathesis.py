"""schemathesis against the served /api/v1/openapi.json: no server errors, no answer outside it.

The real app serves on a loopback port from its own thread and event loop (schemathesis'
calls are synchronous); every valid request goes once as an admin (session cookie and CSRF
token) and once anonymous, every invalid one as an admin. The examples per operation are few
and fixed, so the run is bounded in time: `make test` on two cores stays well under budget.
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from canhbao.app import create_app
from canhbao.auth.middleware import CSRF_HEADER, SESSION_COOKIE, accounts_for
from canhbao.openapi import build_openapi
from tests.conftest import make_config

ADMIN = "schema-admin"
PASSWORD = "schema-admin-password-long"
# Ending the admin's session would leave the rest of the run anonymous.
SKIPPED_FOR_ADMIN = {("POST", "/api/v1/auth/logout")}
# A stream that never ends by design (server-sent events): tests/test_stream.py covers it.
ENDLESS = {"/api/v1/events/stream"}
CHECKS = [not_a_server_error, response_schema_conformance]
# Per operation: valid requests go as an admin and anonymous, invalid ones as an admin (an
# anonymous caller is refused before its input is read).
EXAMPLES = {GenerationMode.POSITIVE: 10, GenerationMode.NEGATIVE: 5}


@dataclass(frozen=True)
class Served:
    base_url: str
    admin_headers: dict[str, str]
    document: dict[str, Any]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    config = make_config(Path(tmp_path_factory.mktemp("schemathesis")))
    loop = asyncio.new_event_loop()
    app = create_app(config)
    runner = web.AppRunner(app)
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def run(coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=30)

    async def start() -> int:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        await accounts_for(app).create_user(ADMIN, PASSWORD, ["admin"], actor="test")
        server = site._server  # the bound port: asked for 0
        assert server is not None
        return int(server.sockets[0].getsockname()[1])  # type: ignore[union-attr]

    port = run(start())
    base_url = f"http://127.0.0.1:{port}"
    try:
        login = requests.post(
            f"{base_url}/api/v1/auth/login",
            json={"username": ADMIN, "password": PASSWORD},
            timeout=30,
        )
        assert login.status_code == 200, login.text
        headers = {
            "Cookie": f"{SESSION_COOKIE}={login.cookies[SESSION_COOKIE]}",
            CSRF_HEADER: login.json()["csrf_token"],
        }
        document = requests.get(f"{base_url}/api/v1/openapi.json", timeout=30).json()
        yield Served(base_url, headers, document)
    finally:
        run(runner.cleanup())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()


@pytest.fixture(scope="module")
def api_schema(served: Served) -> Any:
    document = {**served.document, "servers": [{"url": served.base_url}]}
    return schemathesis.openapi.from_dict(document)


def _operations() -> list[Any]:
    """Every /api/v1 operation, from the document the app builds (create_app does no I/O),
    valid requests for each and, where it takes input, requests that break its schema."""
    config = make_config(Path(tempfile.gettempdir()) / "canhbao-schemathesis-collect")
    document = build_openapi(create_app(config))
    found = []
    for path, operations in document["paths"].items():
        # Only /api/v1: Twilio's webhooks, the CAP feed and /metrics are not JSON APIs.
        if not path.startswith("/api/v1/") or path in ENDLESS:
            continue
        for method, operation in operations.items():
            found.append((method.upper(), path, GenerationMode.POSITIVE))
            if operation.get("parameters") or operation.get("requestBody"):
                found.append((method.upper(), path, GenerationMode.NEGATIVE))
    return [pytest.param(*case, id=f"{case[0]} {case[1]} {case[2].value}") for case in found]


@pytest.mark.parametrize(("method", "path", "mode"), _operations())
def test_api_answers_within_its_schema(
    api_schema: Any, served: Served, method: str, path: str, mode: GenerationMode
) -> None:
    """Valid requests (positive) and requests that break the schema (negative)."""
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES[mode],
        deadline=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def exchange(case: Any) -> None:
        if mode is GenerationMode.POSITIVE or (method, path) in SKIPPED_FOR_ADMIN:
            case.call_and_validate(served.base_url, checks=CHECKS, timeout=30)
        if (method, path) not in SKIPPED_FOR_ADMIN:
            case.call_and_validate(
                served.base_url, headers=dict(served.admin_headers), checks=CHECKS, timeout=30
            )

    exchange()
