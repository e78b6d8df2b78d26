"""canhbao.offload: jobs run in worker processes with a time and a memory limit per job."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest

from canhbao.offload import (
    JobOutOfMemory,
    JobTimedOut,
    PoolClosed,
    PoolLimits,
    ProcessPool,
    WorkerDied,
)

MiB = 1 << 20


def add(a: int, b: int) -> int:
    return a + b


def worker_pid() -> int:
    return os.getpid()


def refuse(reason: str) -> None:
    raise LookupError(reason)


def spin() -> None:
    """A runaway job: pure CPU, never returns, never looks at a signal or a clock."""
    while True:
        pass


def hoard(size: int) -> int:
    return len(bytearray(size))


def crash() -> None:
    os._exit(7)


def geometry_work(vertices: int) -> int:
    import shapely  # in the worker: the parent need not have it loaded

    ring = [(float(i % 2), float(i)) for i in range(vertices)]
    return int(shapely.get_num_coordinates(shapely.make_valid(shapely.Polygon(ring))))


@pytest.fixture
async def pool() -> AsyncIterator[ProcessPool]:
    pool = ProcessPool(PoolLimits(workers=2, time_limit_s=30, memory_limit_bytes=768 * MiB))
    yield pool
    await pool.close()


async def test_a_job_answers_and_its_worker_is_reused(pool: ProcessPool) -> None:
    assert await pool.run(add, 2, 3) == 5
    first = await pool.run(worker_pid)
    assert first != os.getpid()
    assert await pool.run(worker_pid) == first
    assert pool.jobs_done == 3


async def test_a_jobs_own_error_is_raised_and_the_worker_kept(pool: ProcessPool) -> None:
    pid = await pool.run(worker_pid)
    with pytest.raises(LookupError, match="no such ward"):
        await pool.run(refuse, "no such ward")
    assert await pool.run(worker_pid) == pid


async def test_a_runaway_job_is_stopped_at_its_time_limit(pool: ProcessPool) -> None:
    pid = await pool.run(worker_pid)
    with pytest.raises(JobTimedOut, match=r"0\.5 s limit") as caught:
        await pool.run_limited(0.5, spin)
    assert caught.value.limit == "0.5 s"
    # The killed worker is replaced by a fresh one for the next job.
    assert await pool.run(add, 1, 1) == 2
    assert await pool.run(worker_pid) != pid
    assert pool.workers_killed == 1


async def test_a_job_over_the_memory_limit_fails_naming_it(pool: ProcessPool) -> None:
    with pytest.raises(JobOutOfMemory, match="768 MiB memory limit") as caught:
        await pool.run(hoard, 2 << 30)
    assert caught.value.limit == "768 MiB"
    assert await pool.run(hoard, 16 * MiB) == 16 * MiB


async def test_geometry_work_runs_in_the_worker(pool: ProcessPool) -> None:
    assert await pool.run(geometry_work, 200) > 0


async def test_a_worker_that_dies_fails_its_job_and_is_replaced(pool: ProcessPool) -> None:
    with pytest.raises(WorkerDied, match="exit code 7"):
        await pool.run(crash)
    assert await pool.run(add, 2, 2) == 4


async def test_keywords_are_refused(pool: ProcessPool) -> None:
    with pytest.raises(TypeError, match="positionally"):
        await pool.run(add, 1, b=2)  # type: ignore[call-arg]  # the mistake under test


async def test_closing_does_not_wait_for_a_runaway_job() -> None:
    pool = ProcessPool(PoolLimits(workers=1, time_limit_s=3600, memory_limit_bytes=768 * MiB))
    await pool.run(add, 0, 0)  # the worker is up
    job = asyncio.create_task(pool.run(spin))
    await asyncio.sleep(0)  # one turn of the loop: the job has taken the idle worker
    assert pool.busy == 1
    await pool.close()  # returns although the job would run for an hour
    with pytest.raises(PoolClosed):
        await job
    with pytest.raises(PoolClosed):
        await pool.run(add, 1, 1)


async def test_a_caller_that_gives_up_stops_its_job(pool: ProcessPool) -> None:
    pid = await pool.run(worker_pid)
    job = asyncio.create_task(pool.run(spin))
    await asyncio.sleep(0)  # one turn of the loop: the job has taken the idle worker
    assert pool.busy == 1
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job
    assert await pool.run(worker_pid) != pid  # the spinning worker was killed, not kept


async def test_jobs_beyond_the_workers_wait_their_turn(pool: ProcessPool) -> None:
    results = await asyncio.gather(*(pool.run(add, n, n) for n in range(6)))
    assert results == [2 * n for n in range(6)]


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least one worker"):
        ProcessPool(PoolLimits(workers=0))
