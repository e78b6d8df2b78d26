"""SQLite: pragmas, serialised writes, migrations on empty and existing databases, rollback."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from canhbao.db import Database, Migration, backup_database, split_statements
from canhbao.errors import MigrationError

FIRST = Migration(
    "demo", 1, "create things", "CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT NOT NULL);"
)
SECOND = Migration(
    "demo",
    2,
    "add a trigger",
    """
    ALTER TABLE things ADD COLUMN note TEXT;
    CREATE TRIGGER things_no_delete BEFORE DELETE ON things
    BEGIN SELECT RAISE(ABORT, 'things are kept'); END;
    """,
)
BROKEN = Migration(
    "demo",
    3,
    "half-broken",
    "CREATE TABLE extra (id INTEGER); INSERT INTO nowhere VALUES (1);",
)


@pytest.fixture
async def db(tmp_path: Path) -> Database:
    database = Database(tmp_path / "t.sqlite3")
    await database.open()
    yield database  # type: ignore[misc]  # async generator fixture
    await database.close()


async def test_pragmas(db: Database) -> None:
    assert (await db.fetch_one("PRAGMA journal_mode"))[0] == "wal"  # type: ignore[index]
    assert (await db.fetch_one("PRAGMA foreign_keys"))[0] == 1  # type: ignore[index]
    assert (await db.fetch_one("PRAGMA busy_timeout"))[0] == 5000  # type: ignore[index]


async def test_migrations_on_an_empty_database_then_again(db: Database) -> None:
    applied = await db.migrate([FIRST, SECOND])
    assert [m.version for m in applied] == [1, 2]
    assert await db.migrate([FIRST, SECOND]) == []
    rows = await db.fetch_all("SELECT domain, version, name FROM schema_migrations")
    assert [tuple(r) for r in rows] == [("demo", 1, "create things"), ("demo", 2, "add a trigger")]


async def test_migrations_on_an_existing_database_apply_only_the_new(tmp_path: Path) -> None:
    path = tmp_path / "existing.sqlite3"
    first = Database(path)
    await first.open()
    await first.migrate([FIRST])
    await first.execute("INSERT INTO things (name) VALUES ('kept')")
    await first.close()

    again = Database(path)
    await again.open()
    try:
        assert [m.version for m in await again.migrate([FIRST, SECOND])] == [2]
        row = await again.fetch_one("SELECT name, note FROM things")
        assert tuple(row) == ("kept", None)  # type: ignore[arg-type]
    finally:
        await again.close()


async def test_a_failing_migration_leaves_the_database_as_it_was(db: Database) -> None:
    await db.migrate([FIRST])
    with pytest.raises(MigrationError, match=r"demo 3 .* rolled back: no such table: nowhere"):
        await db.migrate([FIRST, BROKEN])
    tables = {r[0] for r in await db.fetch_all("SELECT name FROM sqlite_master")}
    assert "extra" not in tables
    versions = [r[0] for r in await db.fetch_all("SELECT version FROM schema_migrations")]
    assert versions == [1]


async def test_transaction_rolls_back_on_error(db: Database) -> None:
    await db.migrate([FIRST])

    async def add_then_fail() -> None:
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO things (name) VALUES ('lost')")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await add_then_fail()
    assert await db.fetch_all("SELECT * FROM things") == []


async def test_concurrent_writers_are_serialised(db: Database) -> None:
    await db.migrate([FIRST])

    async def add(i: int) -> None:
        async with db.transaction() as conn:
            async with conn.execute("SELECT COUNT(*) FROM things") as cursor:
                (count,) = await cursor.fetchone()  # type: ignore[misc]
            await asyncio.sleep(0)  # give another writer the chance to interleave
            await conn.execute("INSERT INTO things (id, name) VALUES (?, ?)", (count + 1, f"n{i}"))

    await asyncio.gather(*(add(i) for i in range(50)))
    assert (await db.fetch_one("SELECT COUNT(*) FROM things"))[0] == 50  # type: ignore[index]


def test_split_statements_keeps_triggers_whole() -> None:
    statements = split_statements(SECOND.sql)
    assert len(statements) == 2
    assert statements[1].startswith("CREATE TRIGGER")
    assert statements[1].endswith("END;")


def test_split_statements_refuses_a_dangling_statement() -> None:
    with pytest.raises(MigrationError, match="incomplete SQL"):
        split_statements(
            "CREATE TABLE a (x INTEGER); CREATE TRIGGER t BEFORE DELETE ON a BEGIN SELECT 1;"
        )


async def test_backup_while_a_writer_holds_the_database(db: Database, tmp_path: Path) -> None:
    await db.migrate([FIRST])
    for i in range(100):
        await db.execute("INSERT INTO things (name) VALUES (?)", (f"t{i}",))
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO things (name) VALUES ('uncommitted')")
        await asyncio.to_thread(backup_database, db.path, tmp_path / "copy.sqlite3")
    copy = sqlite3.connect(tmp_path / "copy.sqlite3")
    try:
        names = {r[0] for r in copy.execute("SELECT name FROM things")}
    finally:
        copy.close()
    assert len(names) == 100
    assert "uncommitted" not in names


def test_every_domain_numbers_its_migrations_once_and_in_order() -> None:
    """A domain whose modules each add migrations (notify: the outbox and the local providers)
    must not give two the same number: the second would fail at start-up."""
    from canhbao.app import all_migrations

    by_domain: dict[str, list[int]] = {}
    for migration in all_migrations():
        by_domain.setdefault(migration.domain, []).append(migration.version)
    for domain, versions in by_domain.items():
        assert sorted(versions) == list(range(1, len(versions) + 1)), domain


async def test_a_cancel_while_begin_waits_leaves_no_transaction_open(db: Database) -> None:
    """A caller cancelled while its BEGIN IMMEDIATE waits for another writer: the BEGIN still
    runs in the connection's thread once that writer lets go, and must be rolled back, or every
    later transaction fails ("cannot start a transaction within a transaction")."""
    await db.migrate([FIRST])
    # Another connection (another process's, say) holds SQLite's write lock.
    blocker = sqlite3.connect(db.path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    loop = asyncio.get_running_loop()
    begun = asyncio.Event()

    def traced(sql: str) -> None:  # in the writer's thread, as each statement starts
        if sql.startswith("BEGIN"):
            loop.call_soon_threadsafe(begun.set)

    await db.writer.set_trace_callback(traced)
    try:
        task = asyncio.create_task(db.execute("INSERT INTO things (name) VALUES ('lost')"))
        await begun.wait()  # the BEGIN waits in SQLite's busy handler now
        task.cancel()
        blocker.execute("COMMIT")
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        await db.writer.set_trace_callback(None)
        blocker.close()
    assert await db.execute("INSERT INTO things (name) VALUES ('kept')")
    assert not db.writer.in_transaction
    rows = await db.fetch_all("SELECT name FROM things")
    assert [r["name"] for r in rows] == ["kept"]
