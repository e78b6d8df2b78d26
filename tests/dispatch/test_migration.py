"""The move of rescue requests from the hotline: every row, its number, its links from the call
log and callbacks, and its audited history survive; the hotline's foreign keys still hold."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import dispatch
from canhbao.app import all_migrations
from canhbao.db import Database

BEFORE = tuple(m for m in all_migrations() if m.domain != "dispatch")
AT = "2025-11-16T03:00:00.000000+00:00"
LATER = "2025-11-16T03:10:00.000000+00:00"


async def _old_database(path: Path) -> None:
    db = Database(path)
    await db.open()
    try:
        await db.migrate(BEFORE)
        async with db.transaction() as conn:
            for row_id, status in ((1, "dispatched"), (2, "new"), (3, "cancelled")):
                await conn.execute(
                    "INSERT INTO hotline_rescue_requests (id, number, source, caller,"
                    " source_sid, lat, lon, address, people, vulnerabilities, status,"
                    " created_at, updated_at) VALUES (?, ?, 'call', '+84905123456', ?, 16.46,"
                    " 107.59, 'kiệt 5 Chi Lăng', 3, 'injured,child', ?, ?, ?)",
                    (row_id, str(1000 + row_id), f"CA{row_id:032x}", status, AT, LATER),
                )
            await conn.execute(
                "INSERT INTO hotline_calls (sid, kind, received_at, updated_at,"
                " rescue_request_id) VALUES (?, 'inbound', ?, ?, 1)",
                (f"CA{1:032x}", AT, AT),
            )
            await conn.execute(
                "INSERT INTO hotline_callbacks (phone, reason, rescue_request_id, created_at,"
                " updated_at) VALUES ('+84905123456', 'rescue', 2, ?, ?)",
                (AT, AT),
            )
            for action, before, after, at in (
                ("rescue_request.create", None, '{"status": "new"}', AT),
                ("rescue_request.status", '{"status": "new"}', '{"status": "dispatched"}', LATER),
            ):
                await conn.execute(
                    'INSERT INTO audit_log (at, actor, action, entity, entity_id, "before",'
                    " \"after\") VALUES (?, 'user:lan', ?, 'rescue_request', '1', ?, ?)",
                    (at, action, before, after),
                )
    finally:
        await db.close()


async def test_every_row_its_links_and_its_history_move(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    await _old_database(path)
    db = Database(path)
    await db.open()
    try:
        applied = await db.migrate(all_migrations())
        assert [m.domain for m in applied] == ["dispatch"] * len(dispatch.MIGRATIONS)
        rows = await db.fetch_all(
            "SELECT id, number, state, caller, call_sid, people, vulnerabilities, accepted_at"
            " FROM dispatch_requests ORDER BY id"
        )
        assert [tuple(r) for r in rows] == [
            (1, "1001", "accepted", "+84905123456", f"CA{1:032x}", 3, "injured,child", LATER),
            (2, "1002", "new", "+84905123456", f"CA{2:032x}", 3, "injured,child", None),
            (3, "1003", "cancelled", "+84905123456", f"CA{3:032x}", 3, "injured,child", None),
        ]
        (call,) = await db.fetch_all("SELECT rescue_request_id FROM hotline_calls")
        (task,) = await db.fetch_all("SELECT rescue_request_id FROM hotline_callbacks")
        assert (call[0], task[0]) == (1, 2)
        history = await db.fetch_all(
            "SELECT kind, from_state, to_state, actor FROM dispatch_request_history"
            " WHERE request_id = 1 ORDER BY id"
        )
        assert [tuple(r) for r in history] == [
            ("created", None, "new", "user:lan"),
            ("state", "new", "accepted", "user:lan"),
        ]
        phones = await db.fetch_all("SELECT DISTINCT phone FROM dispatch_request_phones")
        assert [r[0] for r in phones] == ["+84905123456"]
        tables = {
            r[0] for r in await db.fetch_all("SELECT name FROM sqlite_master WHERE type='table'")
        }
        assert "hotline_rescue_requests" not in tables
        assert not {t for t in tables if t.startswith("dispatch_move")}
        assert await db.fetch_all("PRAGMA foreign_key_check") == []
        # The hotline's keys now name dispatch's table: a link to no request is refused.
        with pytest.raises(sqlite3.IntegrityError):
            async with db.transaction() as conn:
                await conn.execute("UPDATE hotline_calls SET rescue_request_id = 99")
    finally:
        await db.close()
