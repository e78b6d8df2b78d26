"""SQLite through aiosqlite: one serialised writer, a separate reader, forward-only migrations."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import fcntl
import logging
import os
import sqlite3
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Generator,
    Iterable,
    Sequence,
)
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

import aiosqlite

from canhbao.errors import DatabaseUnavailable, MigrationError

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
        self._checkpointer: aiosqlite.Connection | None = None
        self._checkpoints: asyncio.Task[None] | None = None
        self._write_lock = asyncio.Lock()
        self._writers_fd: int | None = None

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
            # Writers in other processes (`canhbao serve` runs two) take turns through this
            # lock, woken the moment it is free: SQLite's own busy handler polls with sleeps of
            # up to 100 ms and lets a process that writes often starve one that writes rarely.
            self._writers_fd = os.open(self.path.with_name(self.path.name + "-writer.lock"),
                                       os.O_RDWR | os.O_CREAT, 0o600)  # fmt: skip
            self._writer = await self._connect()
            await _pragma(self._writer, "journal_mode=WAL")
            await _pragma(self._writer, "wal_autocheckpoint=0")
            # Read the schema and write once now: a file that is not SQLite, is corrupted
            # where the schema lives, or cannot be written is refused at start-up.
            await self._writer.execute_fetchall(WRITE_PROBE_TABLE)
            await self._probe(self._writer)
            self._reader = await self._connect()
            self._checkpointer = await self._connect()
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
            if self._writers_fd is not None:
                try:
                    fcntl.flock(self._writers_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return None  # another process is writing, so the database is writable
            try:
                await self._probe(self.writer)
            finally:
                if self._writers_fd is not None:
                    fcntl.flock(self._writers_fd, fcntl.LOCK_UN)
        except (sqlite3.Error, RuntimeError, ValueError) as err:
            return describe_error(self.path, err)
        finally:
            self._write_lock.release()
        return None

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
        for conn in (self._checkpointer, self._reader, self._writer):
            if conn is not None:
                await conn.close()
        self._checkpointer = self._reader = self._writer = None
        if self._writers_fd is not None:
            os.close(self._writers_fd)
            self._writers_fd = None

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[None]:
        """This process's turn to write, then every process's (the lock file's)."""
        async with self._write_lock:
            fd = self._writers_fd
            if fd is None:
                raise RuntimeError("database is not open")
            await _lock(fd)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

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
        return await self._in_writer_thread(_run_body, body)

    async def write(self, sql: str, params: Params = ()) -> int:
        """Run one write statement as its own transaction; returns the rows it changed.

        One trip to the writer thread, the locks taken and let go there: for hot paths whose
        latency matters, like recording sends as they finish.
        """
        return await self._in_writer_thread(_run_write, sql, params)

    async def write_returning(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """Run one write statement with RETURNING as its own transaction, in one trip."""
        return await self._in_writer_thread(_run_returning, sql, params)

    async def _in_writer_thread(
        self, job: Callable[..., T], *args: Any
    ) -> T:  # fmt: skip
        """`job(raw connection, *args)` in one transaction in the writer's thread, with the lock
        file taken and let go there too (so no other process waits on this loop's latency).

        A caller cancelled meanwhile does not stop the job: it commits or rolls back on its own,
        and the next job in this thread starts only after it (the thread runs them in order)."""
        async with self._write_lock:
            conn, fd = self.writer, self._writers_fd
            if fd is None:
                raise RuntimeError("database is not open")
            # aiosqlite's own way into its thread (each of its calls goes through it); no public
            # call runs a function there. tests/test_db_transact.py covers what relies on it.
            # In the caller's context: what a body logs carries the request's id.
            context = contextvars.copy_context()
            result = await conn._execute(  # type: ignore[no-untyped-call]  # unannotated there
                context.run, _locked, conn._conn, fd, job, *args
            )
            return cast(T, result)

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


async def _lock(fd: int) -> None:
    """Take the writers' lock file: at once if free, else in a thread woken when it is."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return
    except BlockingIOError:
        pass
    taking = asyncio.ensure_future(asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX))
    try:
        await asyncio.shield(taking)
    except asyncio.CancelledError:
        # The thread takes the lock in the end; let it go again then, or no one writes again.
        taking.add_done_callback(lambda _: fcntl.flock(fd, fcntl.LOCK_UN))
        raise


def _locked(raw: sqlite3.Connection, fd: int, job: Callable[..., T], *args: Any) -> T:
    """In the writer's thread: every process's write lock, BEGIN IMMEDIATE, the job, COMMIT
    (ROLLBACK on any error), the lock let go."""
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        raw.execute("BEGIN IMMEDIATE")
        try:
            result = job(raw, *args)
        except BaseException:
            if raw.in_transaction:  # some errors (a full disk) have rolled it back already
                raw.execute("ROLLBACK")
            raise
        try:
            raw.execute("COMMIT")
        except sqlite3.Error:
            if raw.in_transaction:  # a deferred constraint refused it: nothing may stay open
                raw.execute("ROLLBACK")
            raise
        return result
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _run_write(raw: sqlite3.Connection, sql: str, params: Params) -> int:
    before = raw.total_changes
    raw.execute(sql, params).close()
    return raw.total_changes - before


def _run_returning(raw: sqlite3.Connection, sql: str, params: Params) -> list[sqlite3.Row]:
    cursor = raw.execute(sql, params)
    try:
        return cursor.fetchall()
    finally:
        cursor.close()


def _run_body(raw: sqlite3.Connection, body: Callable[[aiosqlite.Connection], Awaitable[T]]) -> T:
    # The stores' functions are typed for aiosqlite's connection; _InThread answers the calls
    # they make on it (tests/test_db_transact.py runs store-style code through it).
    awaitable = body(cast(aiosqlite.Connection, _InThread(raw)))
    coroutine = cast(Coroutine[Any, Any, T], awaitable)
    try:
        coroutine.send(None)
    except StopIteration as done:
        return cast(T, done.value)
    coroutine.close()
    raise RuntimeError(
        "a body run by Database.transact awaited something other than its connection"
    )


class _InThreadCursor:
    """An aiosqlite Cursor's calls, answered at once from a sqlite3 cursor."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class _InThreadResult:
    """What aiosqlite's execute returns: awaited, a cursor; used with `async with`, a cursor
    closed on exit. Neither ever suspends."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = _InThreadCursor(cursor)

    def __await__(self) -> Generator[Any, None, _InThreadCursor]:
        return self._cursor
        yield  # never reached: makes this a generator that finishes at once

    async def __aenter__(self) -> _InThreadCursor:
        return self._cursor

    async def __aexit__(self, *exc: object) -> None:
        await self._cursor.close()


class _InThread:
    """The writer connection as a `Database.transact` body sees it, in the writer's thread."""

    def __init__(self, raw: sqlite3.Connection) -> None:
        self._raw = raw

    @property
    def total_changes(self) -> int:
        return self._raw.total_changes

    @property
    def in_transaction(self) -> bool:
        return self._raw.in_transaction

    def execute(self, sql: str, parameters: Params | None = None) -> _InThreadResult:
        return _InThreadResult(self._raw.execute(sql, parameters or ()))

    def executemany(self, sql: str, parameters: Iterable[Params]) -> _InThreadResult:
        return _InThreadResult(self._raw.executemany(sql, parameters))

    async def execute_fetchall(self, sql: str, parameters: Params | None = None) -> list[Any]:
        return self._raw.execute(sql, parameters or ()).fetchall()


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
