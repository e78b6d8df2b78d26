"""Where the cameras domain runs CPU work (decoding, hashing, thumbnails): off the event loop.

A bounded thread pool: Pillow and numpy release the GIL while they decode and compute, so two
threads use two cores, and the memory a decode may take is bounded by the pixel cap checked
before it (cameras.images). When the shared process pool (canhbao.offload, with time and memory
limits per task) lands on main, `CpuPool.run` is the one place to switch to it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


class CpuPool:
    def __init__(self, workers: int) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cameras-cpu")

    async def run(self, function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: function(*args, **kwargs))

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
