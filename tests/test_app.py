"""The shell through the real app: /healthz, /metrics, request ids, JSON errors, body limits."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from canhbao import keys
from canhbao.config import ServerConfig
from tests.conftest import AppClient, make_config


async def test_healthz_reports_database_scheduler_and_components(app_client: AppClient) -> None:
    client = await app_client()
    response = await client.get("/healthz")
    assert response.status == 200
    body = await response.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["scheduler"] == "running"
    assert isinstance(body["components"], dict)


async def test_healthz_is_503_when_a_critical_component_fails(app_client: AppClient) -> None:
    client = await app_client()
    health = client.app[keys.HEALTH]
    health.report("feed:vndms", "failing", "timeout", critical=False)
    assert (await client.get("/healthz")).status == 200  # one feed down degrades, not fails
    health.report("outbox", "failing", "sender crashed")
    response = await client.get("/healthz")
    assert response.status == 503
    body = await response.json()
    assert body["status"] == "unhealthy"
    assert body["components"]["outbox"]["detail"] == "sender crashed"


async def test_healthz_is_503_when_the_database_is_gone(app_client: AppClient) -> None:
    client = await app_client()
    await client.app[keys.DB].close()
    response = await client.get("/healthz")
    assert response.status == 503
    assert (await response.json())["database"] == "unreachable"


async def test_metrics_speak_prometheus_text(app_client: AppClient) -> None:
    client = await app_client()
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    assert "# TYPE" in await response.text()


async def test_request_id_is_echoed_or_made(app_client: AppClient) -> None:
    client = await app_client()
    given = await client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert given.headers["X-Request-Id"] == "abc-123"
    made = await client.get("/healthz")
    assert len(made.headers["X-Request-Id"]) == 32
    junk = await client.get("/healthz", headers={"X-Request-Id": "x" * 200})
    assert junk.headers["X-Request-Id"] != "x" * 200


async def test_unknown_route_is_a_json_404(app_client: AppClient) -> None:
    client = await app_client()
    response = await client.get("/api/v1/nothing-here")
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "not_found"


async def test_oversized_body_is_a_json_413(tmp_path: Path, app_client: AppClient) -> None:
    config = make_config(tmp_path)
    small = dataclasses.replace(config.server, max_body_bytes=1024)
    assert isinstance(small, ServerConfig)
    client = await app_client(config=dataclasses.replace(config, server=small))
    response = await client.post("/api/v1/auth/login", data=b"x" * 4096)
    assert response.status == 413
    assert (await response.json())["error"]["code"] == "body_too_large"


async def test_healthz_fails_while_the_database_refuses_writes_and_recovers(
    app_client: AppClient,
) -> None:
    """Reads still work on a read-only database; /healthz writes to find out."""
    client = await app_client()
    db = client.app[keys.DB]
    assert (await client.get("/healthz")).status == 200

    # SQLite's own read-only state for the connection: every write now fails with
    # SQLITE_READONLY, exactly as on a file that turned read-only under us.
    await db.writer.execute("PRAGMA query_only = ON")
    refused = await client.get("/healthz")
    await db.writer.execute("PRAGMA query_only = OFF")
    recovered = await client.get("/healthz")

    assert refused.status == 503
    body = await refused.json()
    assert body["status"] == "unhealthy"
    assert body["database"] == "not_writable"
    assert "is read-only" in body["database_detail"]
    assert recovered.status == 200
    assert (await recovered.json())["database"] == "ok"
