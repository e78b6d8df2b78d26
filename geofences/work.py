"""Geometry work on user input runs in the shell's worker pool; its limits become our errors.

Parsing, checking, repairing and outlining an import (or a warning area) can take seconds to
minutes and gigabytes for a hostile or careless file; in a worker it cannot stall the loop,
and a job past the pool's time or memory limit comes back as ImportTooCostly naming the limit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from canhbao.http import ApiError
from canhbao.offload import JobOutOfMemory, JobTimedOut, PoolClosed, ProcessPool, WorkerDied
from geofences.areas import (
    ImportOptions,
    ImportPlan,
    check_depth,
    import_document,
    parse_geometry,
)
from geofences.errors import ImportTooCostly

P = ParamSpec("P")
T = TypeVar("T")


async def off_loop(pool: ProcessPool, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """fn(*args) in a worker; a job stopped at a limit raises ImportTooCostly.

    While the service stops (PoolClosed) the request gets 503.
    """
    try:
        return await pool.run(fn, *args, **kwargs)
    except JobTimedOut as err:
        raise ImportTooCostly(
            f"the geometry work took longer than the {err.limit} limit (offload.time_limit_s)"
            " and was stopped; simplify or split the file",
            limit=err.limit,
        ) from None
    except (JobOutOfMemory, WorkerDied) as err:
        raise ImportTooCostly(
            f"the geometry work needed more than the {err.limit} memory limit"
            " (offload.memory_limit_mb) and was stopped; simplify or split the file",
            limit=err.limit,
        ) from None
    except PoolClosed:
        raise ApiError(503, "stopping", "the service is stopping; try again shortly") from None


async def prepare_import_off_loop(
    pool: ProcessPool, raw: bytes, max_bytes: int, options: ImportOptions
) -> ImportPlan:
    """An import's parse, checks, repairs and outlines, in a worker."""
    return await off_loop(pool, import_document, raw, max_bytes, options)


async def parse_geometry_off_loop(pool: ProcessPool, document: Any, max_vertices: int) -> Any:
    """A warning area checked and built (parse_geometry), in a worker."""
    check_depth(document)
    return await off_loop(pool, parse_geometry, document, max_vertices)
