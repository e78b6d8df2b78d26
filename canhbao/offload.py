"""CPU-heavy work off the event loop: worker processes with a time and a memory limit per job.

The loop must keep answering (webhooks, /healthz, the scheduler) while an admin imports a
country's wards or a camera still is decoded. `ProcessPool.run(fn, *args)` sends a picklable
top-level function and its arguments to a worker process and awaits the answer. Each worker
caps its own address space (RLIMIT_AS); the pool kills a worker whose job runs past its time
limit, or whose caller gave up, and starts a fresh one for the next job. Closing the pool (on
shutdown, SIGTERM) kills busy workers at once: a runaway job never holds up a stop.

Errors (the job's own exceptions pass through unchanged):

OffloadError
├── JobTimedOut      the job ran past its time limit; its worker was killed
├── JobOutOfMemory   the job needed more memory than the worker's limit
├── WorkerDied       the worker process ended during the job (a crash, or memory the
│                    allocator could not report as MemoryError)
└── PoolClosed       the pool is shutting down
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import resource
import signal
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, ParamSpec, TypeVar, cast

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

# Numeric libraries start one thread per core and reserve address space for each: a worker is
# one job at a time, so one thread is all it uses, and the memory limit stays meaningful.
_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
WORKER_NICENESS = 10


class OffloadError(Exception):
    """Base of every error the pool raises on purpose; `limit` names the limit that was hit."""

    def __init__(self, message: str, limit: str = "") -> None:
        super().__init__(message)
        self.limit = limit


class JobTimedOut(OffloadError):
    """The job ran longer than its time limit."""


class JobOutOfMemory(OffloadError):
    """The job needed more memory than a worker may use."""


class WorkerDied(OffloadError):
    """The worker ended without answering (most often: over its memory limit inside C code)."""


class PoolClosed(OffloadError):
    """The pool was closed (the service is stopping) before the job finished."""


@dataclass(frozen=True)
class PoolLimits:
    """How many workers, and what one job may take."""

    workers: int = 2
    time_limit_s: float = 120.0
    memory_limit_bytes: int = 2 << 30


def _describe_bytes(size: int) -> str:
    return f"{size / (1 << 30):g} GiB" if size >= 1 << 30 else f"{size / (1 << 20):g} MiB"


def _worker_main(conn: Connection, memory_limit: int) -> None:
    """A worker: apply the limits, then run jobs one at a time until the pipe closes."""
    # The parent decides when workers stop; Ctrl-C in a terminal reaches the whole group.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in _THREAD_VARIABLES:
        os.environ[name] = "1"
    resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    # Background work: when cores are scarce the serving process (webhooks) goes first.
    os.nice(WORKER_NICENESS)
    while True:
        try:
            fn, args = conn.recv()
        except (EOFError, OSError):
            return
        try:
            answer: tuple[str, Any] = ("ok", fn(*args))
        except MemoryError:
            answer = ("memory", None)
        except Exception as err:  # any job error goes back to the caller, to raise there
            answer = ("error", err) if "bad_alloc" not in str(err) else ("memory", None)
        try:
            conn.send(answer)
        except MemoryError:
            conn.send(("memory", None))
        except Exception as err:  # the answer could not be pickled: say so rather than die
            conn.send(("error", RuntimeError(f"the job's answer cannot be sent back: {err!r}")))


def _call(conn: Connection, fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[str, Any]:
    # In a thread: pickling a large argument and pushing it through the pipe stays off the loop.
    conn.send((fn, args))
    answer: tuple[str, Any] = conn.recv()
    return answer


class _Worker:
    """One worker process and the parent's end of its pipe."""

    def __init__(self, process: BaseProcess, conn: Connection) -> None:
        self.process = process
        self.conn = conn

    def kill(self) -> None:
        # The pipe stays open until the process is reaped: a thread may still be reading it,
        # and the kill is what ends that read (end of file).
        if self.process.is_alive():
            self.process.kill()

    def reap(self) -> None:
        self.process.join(timeout=5)
        self.conn.close()


class _JobFailed(Exception):
    """The job raised by itself: the worker is fine and goes back to work."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(repr(error))
        self.error = error


class ProcessPool:
    """Runs functions in worker processes, at most `limits.workers` at a time.

    Workers start on the first job (a service that never needs one never pays for it) and are
    reused; a worker is replaced whenever it was killed or died.
    """

    def __init__(self, limits: PoolLimits, *, name: str = "offload") -> None:
        if limits.workers < 1 or limits.time_limit_s <= 0 or limits.memory_limit_bytes <= 0:
            raise ValueError("a pool needs at least one worker and positive limits")
        self.limits = limits
        self.name = name
        # forkserver: the workers do not inherit this process's threads (aiosqlite's, the
        # executor's), its memory (the device index), nor its open sockets.
        self._context = multiprocessing.get_context("forkserver")
        self._slots = asyncio.Semaphore(limits.workers)
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._reaping: set[asyncio.Future[None]] = set()
        self._closed = False
        self.jobs_done = 0
        self.jobs_failed = 0
        self.workers_killed = 0

    @property
    def busy(self) -> int:
        """Workers running a job now."""
        return len(self._busy)

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """fn(*args) in a worker with the pool's limits; raises fn's own exception, or an
        OffloadError. Pass fn's arguments positionally: keywords are refused."""
        return await self.run_limited(self.limits.time_limit_s, fn, *args, **kwargs)

    async def run_limited(
        self, time_limit_s: float, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """As run(), with a time limit of its own for this job."""
        if kwargs:
            raise TypeError(f"pass the job's arguments positionally, not {sorted(kwargs)}")
        if self._closed:
            raise PoolClosed("the service is stopping")
        async with self._slots:
            if self._closed:
                raise PoolClosed("the service is stopping")
            worker = self._idle.pop() if self._idle else await self._start_worker()
            self._busy.add(worker)
            try:
                result = await self._exchange(worker, fn, args, time_limit_s)
            except _JobFailed as failed:
                self._release(worker, reuse=True)
                self.jobs_failed += 1
                raise failed.error from None
            except BaseException:
                self._release(worker, reuse=False)
                self.jobs_failed += 1
                raise
            self._release(worker, reuse=True)
            self.jobs_done += 1
            return cast(T, result)

    def _release(self, worker: _Worker, *, reuse: bool) -> None:
        self._busy.discard(worker)
        if reuse and not self._closed and worker.process.is_alive():
            self._idle.append(worker)
            return
        if worker.process.is_alive():
            self.workers_killed += 1
        worker.kill()
        reaped = asyncio.get_running_loop().run_in_executor(None, worker.reap)
        self._reaping.add(reaped)
        reaped.add_done_callback(self._reaping.discard)

    async def _exchange(
        self, worker: _Worker, fn: Callable[..., Any], args: tuple[Any, ...], time_limit: float
    ) -> Any:
        memory = _describe_bytes(self.limits.memory_limit_bytes)
        try:
            kind, value = await asyncio.wait_for(
                asyncio.to_thread(_call, worker.conn, fn, args), time_limit
            )
        except TimeoutError:
            log.warning("offloaded job stopped", extra={"pool": self.name, "limit_s": time_limit})
            raise JobTimedOut(
                f"the work took longer than its {time_limit:g} s limit and was stopped",
                limit=f"{time_limit:g} s",
            ) from None
        except (EOFError, OSError):
            if self._closed:
                raise PoolClosed("the service is stopping") from None
            worker.process.join(timeout=1)
            code = worker.process.exitcode
            log.warning("offload worker died", extra={"pool": self.name, "exit_code": code})
            raise WorkerDied(
                f"the work stopped its worker process (exit code {code}); most likely it"
                f" needed more than the {memory} memory limit",
                limit=memory,
            ) from None
        if kind == "ok":
            return value
        if kind == "memory":
            raise JobOutOfMemory(
                f"the work needed more than the {memory} memory limit and was stopped",
                limit=memory,
            )
        raise _JobFailed(value)

    async def _start_worker(self) -> _Worker:
        parent, child = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=_worker_main,
            args=(child, self.limits.memory_limit_bytes),
            name=f"canhbao-{self.name}",
            daemon=True,
        )
        # Starting the fork server (the first time) takes a moment: not on the loop.
        await asyncio.to_thread(process.start)
        child.close()
        return _Worker(process, parent)

    async def close(self) -> None:
        """Stop every worker now; jobs still running fail with PoolClosed."""
        self._closed = True
        workers = [*self._idle, *self._busy]
        self._idle.clear()
        for worker in workers:
            worker.kill()
        for worker in workers:
            await asyncio.to_thread(worker.process.join, 5)
        if self._reaping:
            await asyncio.gather(*self._reaping, return_exceptions=True)
        for worker in self._idle_or_done(workers):
            worker.conn.close()

    def _idle_or_done(self, workers: list[_Worker]) -> list[_Worker]:
        # Busy workers' pipes are closed by their own run() when it sees the end of file.
        return [worker for worker in workers if worker not in self._busy]
