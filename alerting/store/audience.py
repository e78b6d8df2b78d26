"""The test audience: the devices and phones Test and Exercise alerts reach."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import aiosqlite

from canhbao.clock import parse_utc, utc_text
from canhbao.db import Database


@dataclass(frozen=True)
class TestMember:
    """An enrolled test device (by its FCM token) or phone: all a Test alert reaches."""

    __test__ = False  # not a pytest class, whatever its name

    id: int
    kind: Literal["device", "phone"]
    address: str
    language: str
    label: str
    enrolled_by: str
    enrolled_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "address": self.address,
            "language": self.language,
            "label": self.label,
            "enrolled_by": self.enrolled_by,
            "enrolled_at": utc_text(self.enrolled_at),
        }


_MEMBER_COLUMNS = "id, kind, address, language, label, enrolled_by, enrolled_at"


def _member(row: Any) -> TestMember:
    return TestMember(row[0], row[1], row[2], row[3], row[4], row[5], parse_utc(row[6]))


async def test_audience(db: Database) -> list[TestMember]:
    rows = await db.fetch_all(
        f"SELECT {_MEMBER_COLUMNS} FROM alerting_test_audience ORDER BY id"  # noqa: S608  # fixed column list
    )
    return [_member(row) for row in rows]


async def add_test_member(
    conn: aiosqlite.Connection,
    kind: str,
    address: str,
    language: str,
    label: str,
    actor: str,
    now: datetime,
) -> TestMember | None:
    """The new member, or None when that device or phone is enrolled already."""
    try:
        async with conn.execute(
            "INSERT INTO alerting_test_audience (kind, address, language, label, enrolled_by,"
            " enrolled_at) VALUES (?, ?, ?, ?, ?, ?)",
            (kind, address, language, label, actor, utc_text(now)),
        ) as cursor:
            member_id = int(cursor.lastrowid or 0)
    except sqlite3.IntegrityError:
        return None
    return await get_test_member(conn, member_id)


async def get_test_member(conn: aiosqlite.Connection, member_id: int) -> TestMember | None:
    async with conn.execute(
        f"SELECT {_MEMBER_COLUMNS} FROM alerting_test_audience WHERE id = ?",  # noqa: S608  # fixed column list
        (member_id,),
    ) as cursor:
        row = await cursor.fetchone()
    return _member(row) if row else None


async def remove_test_member(conn: aiosqlite.Connection, member_id: int) -> None:
    await conn.execute("DELETE FROM alerting_test_audience WHERE id = ?", (member_id,))
