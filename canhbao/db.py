"""SQLite through aiosqlite: one serialised writer, a separate reader, forward-only migrations."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from canhbao.errors import MigrationError

log = logging.getLogger(__name__)

Params = Sequence[Any] | dict[str, Any]

# How often the background connection copies the WAL into the database file. The writer never
# checkpoints itself: a checkpoint of a large WAL can take hundreds of milliseconds, and the
# writer stalling that long delays every commit queued behind it (a send not yet recorded is a
# send a crash would repeat).
CHECKPOINT_INTERVAL_S = 1.0


@dataclass(frozen=True)
class Migration:
    """One forward-only schema step owned by a domain; applied once, in (domain order, version)."""

    domain: str
    version: int
    name: str
    sql: str


MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    domain TEXT NOT NULL,
    version INTEGER NOT NULL,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    PRIMARY KEY (domain, version)
)
"""


class Database:
    """The app's SQLite database: writes go through one connection, one transaction at a time."""

    def __init__(self, path: Path, busy_timeout_ms: int = 5000) -> None:
        self.path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._checkpointer: aiosqlite.Connection | None = None
        self._checkpoints: asyncio.Task[None] | None = None
        self._write_lock = asyncio.Lock()

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = await self._connect()
        await _pragma(self._writer, "journal_mode=WAL")
        await _pragma(self._writer, "wal_autocheckpoint=0")
        self._reader = await self._connect()
        self._checkpointer = await self._connect()
        self._checkpoints = asyncio.create_task(
            self._checkpoint_loop(self._checkpointer), name="sqlite-checkpoints"
        )

    async def _checkpoint_loop(self, conn: aiosqlite.Connection) -> None:
        """PASSIVE checkpoints beside the writer: they wait for no one and block no one."""
        failing = False
        while True:
            await asyncio.sleep(CHECKPOINT_INTERVAL_S)
            try:
                await _pragma(conn, "wal_checkpoint(PASSIVE)")
            except sqlite3.Error:
                if not failing:
                    log.exception("SQLite checkpoint failing; the WAL grows until it succeeds")
                failing = True
            else:
                if failing:
                    log.info("SQLite checkpoint recovered")
                failing = False

    async def _connect(self) -> aiosqlite.Connection:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a transaction is exactly
        # what `transaction()` encloses.
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        conn.row_factory = aiosqlite.Row
        await _pragma(conn, f"busy_timeout={int(self._busy_timeout_ms)}")
        await _pragma(conn, "foreign_keys=ON")
        await _pragma(conn, "synchronous=NORMAL")
        # Bulk ingest (feeds backfills, alert fan-outs) runs far faster with a larger page cache
        # and fewer WAL checkpoints; 64 MiB per connection is small beside the device index.
        await _pragma(conn, "cache_size=-65536")
        await _pragma(conn, "temp_store=MEMORY")
        return conn

    async def close(self) -> None:
        if self._checkpoints is not None:
            self._checkpoints.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpoints
            self._checkpoints = None
        for conn in (self._checkpointer, self._reader, self._writer):
            if conn is not None:
                await conn.close()
        self._checkpointer = self._reader = self._writer = None

    @property
    def writer(self) -> aiosqlite.Connection:
        if self._writer is None:
            raise RuntimeError("database is not open")
        return self._writer

    @property
    def reader(self) -> aiosqlite.Connection:
        if self._reader is None:
            raise RuntimeError("database is not open")
        return self._reader

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """A write transaction (BEGIN IMMEDIATE); commits on exit, rolls back on any error."""
        async with self._write_lock:
            conn = self.writer
            await conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            try:
                await conn.execute("COMMIT")
            except sqlite3.Error:
                # A COMMIT refused by a deferred constraint leaves the transaction open; the
                # next BEGIN on this one writer connection would fail.
                if conn.in_transaction:
                    await conn.execute("ROLLBACK")
                raise

    async def write(self, sql: str, params: Params = ()) -> int:
        """Run one write statement as its own transaction; returns the rows it changed.

        One trip to the writer thread instead of three (BEGIN, the statement, COMMIT): for hot
        paths whose latency matters, like recording sends as they finish.
        """
        async with self._write_lock:
            conn = self.writer
            before = conn.total_changes
            await conn.execute_fetchall(sql, params)
            return conn.total_changes - before

    async def write_returning(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """Run one write statement with RETURNING as its own transaction, in one trip."""
        async with self._write_lock:
            return list(await self.writer.execute_fetchall(sql, params))

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one write statement in its own transaction; returns lastrowid."""
        async with self.transaction() as conn, conn.execute(sql, params) as cursor:
            return cursor.lastrowid or 0

    async def fetch_all(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        async with self.reader.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def fetch_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        async with self.reader.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def ping(self) -> bool:
        try:
            row = await self.fetch_one("SELECT 1")
        except (sqlite3.Error, RuntimeError, ValueError):
            return False
        return row is not None

    async def migrate(self, migrations: Iterable[Migration]) -> list[Migration]:
        """Apply the migrations not yet recorded; each runs in its own transaction."""
        async with self._write_lock:
            await self.writer.execute(MIGRATIONS_TABLE)
        applied = {
            (row["domain"], row["version"])
            for row in await self.fetch_all("SELECT domain, version FROM schema_migrations")
        }
        done: list[Migration] = []
        for migration in migrations:
            if (migration.domain, migration.version) in applied:
                continue
            await self._apply(migration)
            done.append(migration)
            log.info(
                "migration applied",
                extra={"domain": migration.domain, "version": migration.version},
            )
        return done

    async def _apply(self, migration: Migration) -> None:
        try:
            async with self.transaction() as conn:
                for statement in split_statements(migration.sql):
                    await conn.execute(statement)
                await conn.execute(
                    "INSERT INTO schema_migrations (domain, version, name, applied_at)"
                    " VALUES (?, ?, ?, ?)",
                    (
                        migration.domain,
                        migration.version,
                        migration.name,
                        datetime.now(UTC).isoformat(),
                    ),
                )
        except sqlite3.Error as err:
            raise MigrationError(
                f"migration {migration.domain} {migration.version} ({migration.name}) failed"
                f" and was rolled back: {err}"
            ) from err


async def _pragma(conn: aiosqlite.Connection, setting: str) -> None:
    # Close the cursor at once: an unfinished PRAGMA statement holds a lock on the file.
    async with conn.execute(f"PRAGMA {setting}") as cursor:
        await cursor.fetchall()


def split_statements(sql: str) -> list[str]:
    """Split a script into statements (executescript would commit behind our back)."""
    statements: list[str] = []
    current = ""
    for piece in sql.split(";"):
        current += piece + ";"
        if sqlite3.complete_statement(current):
            if current.strip(" \n\t;"):
                statements.append(current.strip())
            current = ""
    if current.strip(" \n\t;"):
        raise MigrationError(f"incomplete SQL statement: {current.strip()[:80]}")
    return statements


def backup_database(source: Path, target: Path) -> None:
    """Copy a live database with SQLite's online backup API (safe while the service writes)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(target)
        try:
            # pages=-1 copies in one step inside one read transaction: a consistent snapshot,
            # and in WAL mode writers are not blocked meanwhile.
            src.backup(dst, pages=-1)
        finally:
            dst.close()
    finally:
        src.close()
