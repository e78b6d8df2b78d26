"""SQLite through aiosqlite: one serialised writer, a separate reader, forward-only migrations."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Sequence,
)
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import aiosqlite

from canhbao.db_writer import WriterQueue, run_body, run_returning, run_write
from canhbao.errors import DatabaseUnavailable, MigrationError
from canhbao.writer_lock import WriterLock

log = logging.getLogger(__name__)

Params = Sequence[Any] | dict[str, Any]
T = TypeVar("T")

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


# One row the service rewrites to prove it can write: at start-up, and on every /healthz.
WRITE_PROBE_TABLE = """
CREATE TABLE IF NOT EXISTS db_write_probe (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at TEXT NOT NULL
)
"""
WRITE_PROBE_WAIT_S = 2.0

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
        # Background work's reads (the event log's subscribers, the live stream, delivery
        # counts) on a connection and thread of their own: a request's read never queues
        # behind them.
        self._background: aiosqlite.Connection | None = None
        self.background = BackgroundReads(self)
        self._checkpointer: aiosqlite.Connection | None = None
        self._checkpoints: asyncio.Task[None] | None = None
        self._write_lock = asyncio.Lock()
        self._writers: WriterLock | None = None  # every writing process's turns (writer_lock)
        self._queue: WriterQueue | None = None  # this process's write jobs (db_writer)

    async def open(self) -> None:
        """Open the connections and prove the file can be read and written, or raise
        DatabaseUnavailable with one line saying why (nothing is left open behind it: a
        connection's thread left running would keep the process from exiting)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            blocker = next(
                (p for p in (self.path.parent, *self.path.parent.parents) if p.is_file()), None
            )
            reason = f"{blocker} is a file" if blocker else (err.strerror or str(err))
            raise DatabaseUnavailable(
                f"database {self.path} cannot create its folder {self.path.parent}: {reason}"
            ) from None
        try:
            # First with the plain module in a worker thread: aiosqlite leaves the thread of a
            # connection that failed to open racing the loop's shutdown.
            await asyncio.to_thread(_open_and_read, self.path)
            # Writers in other processes (`canhbao serve` runs two) take turns (writer_lock).
            self._writers = WriterLock(self.path)
            self._writer = await self._connect()
            await _pragma(self._writer, "journal_mode=WAL")
            await _pragma(self._writer, "wal_autocheckpoint=0")
            # Read the schema and write once now: a file that is not SQLite, is corrupted
            # where the schema lives, or cannot be written is refused at start-up.
            await self._writer.execute_fetchall(WRITE_PROBE_TABLE)
            await self._probe(self._writer)
            self._reader = await self._connect()
            self._background = await self._connect()
            self._checkpointer = await self._connect()
            self._queue = WriterQueue(self._writer, self._writers, self._write_lock)
        except (sqlite3.Error, OSError) as err:
            await self.close()
            raise DatabaseUnavailable(describe_error(self.path, err)) from None
        self._checkpoints = asyncio.create_task(
            self._checkpoint_loop(self._checkpointer), name="sqlite-checkpoints"
        )

    async def check_writable(self) -> str | None:
        """Write one row now; None if it worked, else why not (read-only, disk full, …).

        For /healthz: reads alone keep working on a database that has become read-only.
        Waits for the write lock at most WRITE_PROBE_WAIT_S; a writer busy that long is
        writing, so the database counts as writable.
        """
        try:
            async with asyncio.timeout(WRITE_PROBE_WAIT_S):
                await self._write_lock.acquire()
        except TimeoutError:
            return None
        try:
            try:
                async with asyncio.timeout(WRITE_PROBE_WAIT_S):
                    await self._queue_idle()
            except TimeoutError:
                return None  # this process is writing, so the database is writable
            if self._writers is not None and not self._writers.try_take():
                return None  # another process is writing, so the database is writable
            try:
                await self._probe(self.writer)
            finally:
                if self._writers is not None:
                    self._writers.release()
        except (sqlite3.Error, RuntimeError, ValueError) as err:
            return describe_error(self.path, err)
        finally:
            self._write_lock.release()
            self._kick()
        return None

    async def _queue_idle(self) -> None:
        if self._queue is not None:
            await self._queue.idle.wait()

    def _kick(self) -> None:
        if self._queue is not None:
            self._queue.kick()

    async def _probe(self, conn: aiosqlite.Connection) -> None:
        await conn.execute_fetchall(
            "INSERT INTO db_write_probe (id, at) VALUES (1, ?)"
            " ON CONFLICT (id) DO UPDATE SET at = excluded.at",
            (datetime.now(UTC).isoformat(),),
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
        try:
            await _pragma(conn, f"busy_timeout={int(self._busy_timeout_ms)}")
            await _pragma(conn, "foreign_keys=ON")
            await _pragma(conn, "synchronous=NORMAL")
            # Bulk ingest (feeds backfills, alert fan-outs) runs far faster with a larger page
            # cache and fewer WAL checkpoints; 64 MiB per connection is small beside the
            # device index.
            await _pragma(conn, "cache_size=-65536")
            await _pragma(conn, "temp_store=MEMORY")
        except BaseException:
            await conn.close()  # its thread would otherwise keep the process alive
            raise
        return conn

    async def close(self) -> None:
        """Close whatever is open (also after a failed open); safe to call twice."""
        if self._checkpoints is not None:
            self._checkpoints.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpoints
            self._checkpoints = None
        if self._queue is not None:
            await self._queue.close()
            self._queue = None
        for conn in (self._checkpointer, self._background, self._reader, self._writer):
            if conn is not None:
                await conn.close()
        self._checkpointer = self._background = self._reader = self._writer = None
        if self._writers is not None:
            self._writers.close()
            self._writers = None

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[None]:
        """This process's turn to write (no run of queued jobs under way), then every
        process's (the lock file's, in turn)."""
        try:
            async with self._write_lock:
                await self._queue_idle()
                writers = self._writers
                if writers is None:
                    raise RuntimeError("database is not open")
                await writers.acquire()
                try:
                    yield
                finally:
                    writers.release()
        finally:
            self._kick()  # jobs queued meanwhile

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

    @property
    def background_reader(self) -> aiosqlite.Connection:
        if self._background is None:
            raise RuntimeError("database is not open")
        return self._background

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """A write transaction (BEGIN IMMEDIATE); commits on exit, rolls back on any error."""
        async with self._writing():
            conn = self.writer
            try:
                await conn.execute("BEGIN IMMEDIATE")
                yield conn
                await conn.execute("COMMIT")
            except BaseException:
                # An error, a COMMIT refused, or a cancel at any await here (BEGIN's too: it still
                # runs in the thread): nothing may stay open on the one writer connection.
                await _uncancellable(conn._execute(_rollback_if_open, conn._conn))  # type: ignore[no-untyped-call]  # aiosqlite's way into its thread, as in _in_writer_thread
                raise

    async def transact(self, body: Callable[[aiosqlite.Connection], Awaitable[T]]) -> T:
        """Run `body(conn)` as one write transaction, all of it in the writer's own thread.

        The writers' locks (this process's and the lock file every process takes) are held for
        the SQL alone: `transaction()` goes back to the event loop between its statements, so
        there each statement also waits for whatever else the loop is doing, and on a busy loop
        that wait, not the SQL, is what every other writer (the other process's too) queues
        behind. `body` must await nothing but its connection's calls (execute, executemany and
        their cursors): those are answered at once, in the thread, so the coroutine runs to its
        end in one go; one that awaits anything else is a bug, refused with RuntimeError after
        its transaction is rolled back.
        """
        return await self._in_writer_thread(run_body, body)

    async def write(self, sql: str, params: Params = ()) -> int:
        """Run one write statement as its own transaction; returns the rows it changed.

        One trip to the writer thread, the locks taken and let go there: for hot paths whose
        latency matters, like recording sends as they finish.
        """
        return await self._in_writer_thread(run_write, sql, params)

    async def write_returning(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """Run one write statement with RETURNING as its own transaction, in one trip."""
        return await self._in_writer_thread(run_returning, sql, params)

    async def _in_writer_thread(self, job: Callable[..., T], *args: Any) -> T:
        """`job(raw connection, *args)` in one transaction in the writer's thread, with the lock
        file taken and let go there too (so no other process waits on this loop's latency); see
        db_writer for how queued jobs share one turn of the lock.

        A caller cancelled meanwhile does not stop the job: it commits or rolls back on its own,
        and the next job in this thread starts only after it (the thread runs them in order)."""
        if self._queue is None:
            raise RuntimeError("database is not open")
        return await self._queue.submit(job, *args)

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
        try:
            return await self._migrate(migrations)
        except sqlite3.Error as err:
            raise DatabaseUnavailable(describe_error(self.path, err)) from None

    async def _migrate(self, migrations: Iterable[Migration]) -> list[Migration]:
        async with self._writing():
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


ReadParams = Sequence[object] | dict[str, object]


class Reads(Protocol):
    """Somewhere to read from: the Database (requests' reads) or its `background`."""

    async def fetch_all(self, sql: str, params: ReadParams = ()) -> list[sqlite3.Row]: ...

    async def fetch_one(self, sql: str, params: ReadParams = ()) -> sqlite3.Row | None: ...


class BackgroundReads:
    """Reads for background work, on the database's background connection."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def fetch_all(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        async with self._db.background_reader.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def fetch_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        async with self._db.background_reader.execute(sql, params) as cursor:
            return await cursor.fetchone()


def describe_error(path: Path, err: BaseException) -> str:
    """One line for an operator: which file, and what SQLite's error means for it."""
    text = str(err)
    if "file is not a database" in text:
        meaning = "is not a SQLite database (or its header is corrupted)"
    elif "malformed" in text or "corrupt" in text:
        meaning = f"is corrupted ({text}); restore it from a backup"
    elif "readonly" in text or "read-only" in text:
        meaning = f"is read-only ({text}); the service must be able to write it"
    elif "unable to open" in text:
        meaning = (
            f"cannot be opened ({text}): it must be a file, in a folder the service can"
            " read and write"
        )
    elif "disk I/O" in text or "full" in text:
        meaning = f"cannot be written ({text})"
    else:
        meaning = f"cannot be used: {text}"
    return f"database {path} {meaning}"


def _open_and_read(path: Path) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
    finally:
        conn.close()


def _rollback_if_open(raw: sqlite3.Connection) -> None:
    """In the writer's thread, after every statement queued before it: end any transaction."""
    if raw.in_transaction:
        raw.execute("ROLLBACK")


async def _uncancellable(work: Awaitable[T]) -> T:
    """Await `work` to its end even if we are cancelled meanwhile; the cancel is raised after."""
    task, cancelled = asyncio.ensure_future(work), False
    while not task.done():
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(task)
            continue
        cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    return task.result()


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
    """Copy a live database with SQLite's online backup API (safe while the service writes).

    DatabaseUnavailable names the file at fault when either cannot be used.
    """
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DatabaseUnavailable(
            f"database {target} cannot create its folder {target.parent}: {err.strerror or err}"
        ) from None
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    except sqlite3.Error as err:
        raise DatabaseUnavailable(describe_error(source, err)) from None
    try:
        try:
            dst = sqlite3.connect(target)
        except sqlite3.Error as err:
            raise DatabaseUnavailable(describe_error(target, err)) from None
        try:
            # pages=-1 copies in one step inside one read transaction: a consistent snapshot,
            # and in WAL mode writers are not blocked meanwhile.
            src.backup(dst, pages=-1)
        except sqlite3.Error as err:
            dst.close()
            target.unlink(missing_ok=True)  # a partial copy must not pass for a backup
            raise DatabaseUnavailable(describe_error(source, err)) from None
        finally:
            dst.close()
    finally:
        src.close()
