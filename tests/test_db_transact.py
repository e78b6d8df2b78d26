"""Writes done wholly in the writer's thread: the writers' lock file is held for the SQL alone,
never while this process's event loop is busy with something else."""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import time
from pathlib import Path

import aiosqlite
import pytest

from canhbao.db import Database
from canhbao.logs import request_id_var

SCHEMA = "CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)"


@pytest.fixture
async def db(tmp_path: Path) -> Database:
    database = Database(tmp_path / "t.sqlite3")
    await database.open()
    async with database.transaction() as conn:
        await conn.execute(SCHEMA)
    yield database  # type: ignore[misc]  # async generator fixture
    await database.close()


def _lock_file_free(db: Database) -> bool:
    """Whether another process could take the writers' lock file now (a second open file
    description of it stands for that process)."""
    fd = os.open(db.path.with_name(db.path.name + "-writer.lock"), os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    finally:
        os.close(fd)


def _committed(db: Database, name: str) -> bool:
    with sqlite3.connect(db.path) as other:
        return other.execute("SELECT 1 FROM things WHERE name = ?", (name,)).fetchone() is not None


async def store_style_insert(conn: aiosqlite.Connection, name: str) -> int:
    """Written as every store's function is: awaits on the connection and its cursors only."""
    async with conn.execute("INSERT INTO things (name) VALUES (?)", (name,)) as cursor:
        new_id = cursor.lastrowid
    cursor2 = await conn.execute("SELECT count(*) FROM things")
    row = await cursor2.fetchone()
    assert row is not None
    (count,) = row
    await conn.executemany("INSERT INTO things (name) VALUES (?)", [(f"{name}-a",), (f"{name}-b",)])
    rows = await (await conn.execute("SELECT name FROM things ORDER BY id")).fetchall()
    assert [row["name"] for row in rows][-3:] == [name, f"{name}-a", f"{name}-b"]
    assert count >= 1
    assert new_id is not None
    return new_id


@pytest.mark.parametrize("how", ["write", "write_returning", "transact"])
async def test_the_lock_file_is_let_go_while_the_loop_is_still_busy(db: Database, how: str) -> None:
    task: asyncio.Future[object]
    if how == "write":
        task = asyncio.ensure_future(db.write("INSERT INTO things (name) VALUES ('x')"))
    elif how == "write_returning":
        task = asyncio.ensure_future(
            db.write_returning("INSERT INTO things (name) VALUES ('x') RETURNING id")
        )
    else:
        task = asyncio.ensure_future(db.transact(lambda conn: store_style_insert(conn, "x")))
    await asyncio.sleep(0)  # the write is handed to the writer's thread
    # The loop is now busy (this check blocks it) and never gets to run the write's
    # continuation: a lock let go only by the loop would stay taken until the deadline.
    deadline = time.monotonic() + 10
    while not (_committed(db, "x") and _lock_file_free(db)):
        assert time.monotonic() < deadline, "committed, but the lock file is still held"
    await task


async def test_transact_runs_store_code_and_returns_its_value(db: Database) -> None:
    new_id = await db.transact(lambda conn: store_style_insert(conn, "first"))
    assert new_id == 1
    rows = await db.fetch_all("SELECT name FROM things ORDER BY id")
    assert [row["name"] for row in rows] == ["first", "first-a", "first-b"]


async def test_transact_rolls_back_on_error(db: Database) -> None:
    async def half_then_fail(conn: aiosqlite.Connection) -> None:
        await conn.execute("INSERT INTO things (name) VALUES ('kept?')")
        await conn.execute("INSERT INTO things (name) VALUES ('kept?')")  # UNIQUE fails

    with pytest.raises(sqlite3.IntegrityError):
        await db.transact(half_then_fail)
    assert await db.fetch_all("SELECT * FROM things") == []
    assert _lock_file_free(db)
    await db.write("INSERT INTO things (name) VALUES ('after')")  # the writer is usable


async def test_a_body_awaiting_anything_else_is_refused_and_rolled_back(db: Database) -> None:
    async def sleeps(conn: aiosqlite.Connection) -> None:
        await conn.execute("INSERT INTO things (name) VALUES ('no')")
        await asyncio.sleep(0)

    with pytest.raises(RuntimeError, match="awaited something other than its connection"):
        await db.transact(sleeps)
    assert await db.fetch_all("SELECT * FROM things") == []
    assert _lock_file_free(db)


async def test_a_cancelled_caller_leaves_the_writer_in_order(db: Database) -> None:
    task = asyncio.ensure_future(db.transact(lambda conn: store_style_insert(conn, "c")))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The job ran on to its end in the thread; the next writes queue behind it, in order.
    await db.write("INSERT INTO things (name) VALUES ('next')")
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO things (name) VALUES ('multi')")
    names = [row["name"] for row in await db.fetch_all("SELECT name FROM things ORDER BY id")]
    assert names[-2:] == ["next", "multi"]
    assert _lock_file_free(db)


async def test_transact_waits_for_a_writer_in_another_process(db: Database) -> None:
    """The lock file is taken in the thread: a writer elsewhere is waited for, not failed."""
    fd = os.open(db.path.with_name(db.path.name + "-writer.lock"), os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        task = asyncio.ensure_future(db.transact(lambda conn: store_style_insert(conn, "w")))
        done, _ = await asyncio.wait({task}, timeout=0.2)
        assert not done, "wrote while another process held the lock file"
        fcntl.flock(fd, fcntl.LOCK_UN)
        assert await task == 1
    finally:
        os.close(fd)


async def test_a_body_runs_in_the_callers_context(db: Database) -> None:
    """What a body logs carries the request's id, though it runs in the writer's thread."""
    token = request_id_var.set("req-42")
    try:

        async def seen(conn: aiosqlite.Connection) -> str | None:
            await conn.execute("INSERT INTO things (name) VALUES ('ctx')")
            return request_id_var.get()

        assert await db.transact(seen) == "req-42"
    finally:
        request_id_var.reset(token)
