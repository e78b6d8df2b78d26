"""The audit log: rows commit with the change they record, SQLite refuses edits, admins page it."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest

from canhbao import keys
from canhbao.audit import list_audit, record_audit
from canhbao.db import Database
from tests.conftest import AppClient, StaffFactory

AT = datetime(2025, 11, 16, 3, 0, tzinfo=UTC)


async def _record(db: Database, entity_id: str, actor: str = "user:lan") -> None:
    async with db.transaction() as conn:
        await record_audit(
            conn,
            at=AT,
            actor=actor,
            action="alert.approve",
            entity="alert",
            entity_id=entity_id,
            before={"status": "draft"},
            after={"status": "approved", "approved_at": AT},
        )


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET actor = 'user:someone-else'",
        "DELETE FROM audit_log",
        "DELETE FROM audit_log WHERE entity_id = 'a1'",
    ],
)
async def test_the_log_refuses_update_and_delete(app_client: AppClient, statement: str) -> None:
    client = await app_client()
    db = client.app[keys.DB]
    await _record(db, "a1")

    with pytest.raises(sqlite3.IntegrityError, match="audit_log is append-only"):
        async with db.transaction() as conn:
            await conn.execute(statement)

    [entry] = await list_audit(db)
    assert entry.actor == "user:lan"


async def test_a_row_commits_or_rolls_back_with_its_change(app_client: AppClient) -> None:
    client = await app_client()
    db = client.app[keys.DB]

    async def failing_change() -> None:
        async with db.transaction() as conn:
            await record_audit(
                conn,
                at=AT,
                actor="user:lan",
                action="alert.issue",
                entity="alert",
                entity_id="a2",
                before=None,
                after={"status": "issued"},
            )
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError, match="the change failed"):
        await failing_change()
    await _record(db, "a3")

    entries = await list_audit(db)
    assert [e.entity_id for e in entries] == ["a3"]
    assert entries[0].before == {"status": "draft"}
    assert entries[0].after == {
        "status": "approved",
        "approved_at": "2025-11-16T03:00:00.000000+00:00",
    }
    assert entries[0].at == AT


@pytest.mark.parametrize(
    "after",
    [
        {"password_hash": "$argon2id$..."},
        {"token": {"id": 3, "secret": "cbt_..."}},
        {"sessions": [{"user": "lan", "session_id": "..."}]},
    ],
)
async def test_secrets_are_refused(app_client: AppClient, after: dict[str, object]) -> None:
    client = await app_client()
    db = client.app[keys.DB]
    with pytest.raises(ValueError, match="refusing to log secret field"):
        async with db.transaction() as conn:
            await record_audit(
                conn,
                at=AT,
                actor="cli:root",
                action="user.create",
                entity="user",
                entity_id="x",
                before=None,
                after=after,
            )
    assert await list_audit(db) == []


async def test_admins_filter_and_page_the_log(app_client: AppClient, staff: StaffFactory) -> None:
    client = await app_client()
    admin = await staff(client, "boss", roles=["admin"])
    db = client.app[keys.DB]
    for number in range(5):
        await _record(db, f"a{number}", actor="user:lan" if number % 2 else "user:hoa")

    first = await (
        await admin.get("/api/v1/audit", params={"entity": "alert", "limit": "2"})
    ).json()
    second = await (
        await admin.get(
            "/api/v1/audit",
            params={"entity": "alert", "limit": "2", "before_id": str(first["next_before_id"])},
        )
    ).json()
    third = await (
        await admin.get(
            "/api/v1/audit",
            params={"entity": "alert", "limit": "2", "before_id": str(second["next_before_id"])},
        )
    ).json()
    by_actor = await (await admin.get("/api/v1/audit", params={"actor": "user:lan"})).json()
    one = await (
        await admin.get("/api/v1/audit", params={"entity": "alert", "entity_id": "a3"})
    ).json()

    pages = [[e["entity_id"] for e in page["items"]] for page in (first, second, third)]
    assert pages == [["a4", "a3"], ["a2", "a1"], ["a0"]]
    assert third["next_before_id"] is None
    assert [e["entity_id"] for e in by_actor["items"]] == ["a3", "a1"]
    assert [e["action"] for e in one["items"]] == ["alert.approve"]


@pytest.mark.parametrize(
    "params", [{"limit": "0"}, {"limit": "501"}, {"before_id": "x"}, {"limit": "²"}]
)
async def test_bad_paging_is_422(
    app_client: AppClient, staff: StaffFactory, params: dict[str, str]
) -> None:
    client = await app_client()
    admin = await staff(client, "boss", roles=["admin"])
    response = await admin.get("/api/v1/audit", params=params)
    assert response.status == 422
    error = (await response.json())["error"]
    assert (error["code"], error["field"]) == ("invalid_query", next(iter(params)))


async def test_the_log_is_for_admins_only(app_client: AppClient, staff: StaffFactory) -> None:
    client = await app_client()
    lan = await staff(client, "lan", roles=["issuer", "approver"])
    assert (await client.get("/api/v1/audit")).status == 401
    assert (await lan.get("/api/v1/audit")).status == 403
