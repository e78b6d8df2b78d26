"""The writer's thread: this process's write jobs, queued and run there in runs.

Every write of a process goes through one SQLite connection, whose own thread runs what it is
given in order. A job (`Database.transact`, `write`, `write_returning`) is one transaction run
whole in that thread, with the writers' lock (writer_lock) held for its SQL alone. Jobs that
queue up while a run is under way join it: the lock is taken once for all of them, not once each
with a trip through the event loop between (on a busy loop that trip, not the SQL, is what the
other process waits behind). A run ends when the queue is empty, when a `Database.transaction()`
on the event loop wants the connection, or after RUN_BUDGET_S, when the lock goes back through
its turnstile so the other process, if it waits, writes first.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import sqlite3
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import aiosqlite

from canhbao.writer_lock import WriterLock

log = logging.getLogger(__name__)

Params = Sequence[Any] | dict[str, Any]
T = TypeVar("T")

# How long one run may keep the writers' lock before it lets another process have a turn.
RUN_BUDGET_S = 0.010


@dataclass(frozen=True)
class _Job:
    context: contextvars.Context  # the caller's: what a body logs carries the request's id
    function: Callable[..., Any]
    args: tuple[Any, ...]
    future: asyncio.Future[Any]


class WriterQueue:
    """This process's write jobs, run in the writer connection's thread, in runs."""

    def __init__(
        self, conn: aiosqlite.Connection, lock: WriterLock, exclusive: asyncio.Lock
    ) -> None:
        self._conn = conn
        self._lock = lock
        # Held by Database.transaction() (its statements come from the loop, one by one): no
        # run starts while it is held, and one under way stops at its next job.
        self._exclusive = exclusive
        self._jobs: deque[_Job] = deque()
        self._loop = asyncio.get_running_loop()
        self._running = False
        self._closed = False
        self.idle = asyncio.Event()  # no run is under way
        self.idle.set()

    def submit(self, function: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Run `function(raw connection, *args)` as one transaction; its result, or its error.

        The job is in the thread's hands from this call on: a caller cancelled meanwhile does
        not stop it (it commits or rolls back on its own)."""
        if self._closed:
            raise RuntimeError("database is not open")
        future: asyncio.Future[T] = self._loop.create_future()
        self._jobs.append(_Job(contextvars.copy_context(), function, args, future))
        self.kick()
        return future

    def kick(self) -> None:
        """Start a run if jobs wait and nothing stands in the way."""
        if self._running or self._closed or not self._jobs or self._exclusive.locked():
            return
        self._running = True
        self.idle.clear()
        done: asyncio.Future[None] = self._loop.create_future()
        run = functools.partial(
            _run, self._conn._conn, self._lock, self._jobs, self._loop, self._exclusive
        )
        # aiosqlite's own queue into its thread, as its every call; the run is queued at once
        # (a caller whose loop then stays busy still has its write done).
        self._conn._tx.put_nowait((done, run))
        done.add_done_callback(self._ended)

    def _ended(self, done: asyncio.Future[None]) -> None:
        self._running = False
        self.idle.set()
        if not done.cancelled() and (err := done.exception()) is not None:
            # The lock could not be taken (its files gone): the jobs fail, not wait forever.
            log.error("writer run failed", exc_info=err)
            self._fail_waiting(err)
        self.kick()

    async def close(self) -> None:
        """Let the run under way end; refuse what is still queued."""
        self._closed = True
        await self.idle.wait()
        self._fail_waiting(RuntimeError("database is not open"))

    def _fail_waiting(self, err: BaseException) -> None:
        while self._jobs:
            job = self._jobs.popleft()
            if not job.future.done():
                job.future.set_exception(err)


def _run(
    raw: sqlite3.Connection,
    lock: WriterLock,
    jobs: deque[_Job],
    loop: asyncio.AbstractEventLoop,
    exclusive: asyncio.Lock,
) -> None:
    """In the writer's thread: the lock taken in turn, then queued jobs until none is left, the
    loop wants the connection, or the budget is spent; the lock let go."""
    lock.take()
    try:
        started = time.monotonic()
        while jobs:
            job = jobs.popleft()
            try:
                result = job.context.run(_one_transaction, raw, job.function, *job.args)
            except BaseException as err:  # the caller's to see, as aiosqlite does
                _answer(loop, job.future, None, err)
            else:
                _answer(loop, job.future, result, None)
            if exclusive.locked() or time.monotonic() - started > RUN_BUDGET_S:
                break
    finally:
        lock.release()


def _answer(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[Any],
    result: Any,
    error: BaseException | None,
) -> None:
    def settle() -> None:
        if future.done():
            return  # its caller was cancelled; the job ran all the same
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    try:
        loop.call_soon_threadsafe(settle)
    except RuntimeError:
        pass  # the loop is closed: no one waits any more


def _one_transaction(raw: sqlite3.Connection, job: Callable[..., T], *args: Any) -> T:
    """BEGIN IMMEDIATE, the job, COMMIT (ROLLBACK on any error)."""
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


def run_write(raw: sqlite3.Connection, sql: str, params: Params) -> int:
    before = raw.total_changes
    raw.execute(sql, params).close()
    return raw.total_changes - before


def run_returning(raw: sqlite3.Connection, sql: str, params: Params) -> list[sqlite3.Row]:
    cursor = raw.execute(sql, params)
    try:
        return cursor.fetchall()
    finally:
        cursor.close()


def run_body(raw: sqlite3.Connection, body: Callable[[aiosqlite.Connection], Awaitable[T]]) -> T:
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
