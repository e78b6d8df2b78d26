"""Where the cameras domain decodes and measures stills: the shared worker processes
(canhbao.offload), never the event loop.

Each still is one job with its own time limit, in a worker whose address space is capped: a
picture that slips past the pixel check and still blows up in C (a decompression bomb, a
decoder bug) costs a worker, which the pool replaces, and the camera a failed fetch.
"""

from __future__ import annotations

from cameras.errors import ImageRejected
from cameras.images import Analysed, Limits, analyse
from canhbao.offload import JobOutOfMemory, JobTimedOut, ProcessPool, WorkerDied


class StillDecoder:
    def __init__(self, pool: ProcessPool, time_limit_s: float) -> None:
        self._pool = pool
        self._time_limit_s = time_limit_s

    async def analyse(self, body: bytes, limits: Limits) -> Analysed:
        """cameras.images.analyse in a worker; ImageRejected when it cannot be kept."""
        try:
            return await self._pool.run_limited(self._time_limit_s, analyse, body, limits)
        except JobTimedOut:
            raise ImageRejected(
                "decode_too_slow", f"decoding took over {self._time_limit_s:g} s"
            ) from None
        except (JobOutOfMemory, WorkerDied) as err:
            raise ImageRejected("decode_out_of_memory", str(err)) from None
