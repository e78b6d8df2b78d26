"""The web process's pause for a full garbage collection, with start-up frozen (canhbao.heap)
beside the same app unfrozen, measured in the same run.

The app is created and started as `canhbao web` starts it (every cleanup context, Huế's wards
imported); then a full collection (gc.collect(2), the event loop stopped meanwhile) is timed
RUNS times in CPU time: first with what start-up loaded frozen, as the app runs, then with it
unfrozen, as before canhbao.heap. Medians.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import tempfile
import time
from pathlib import Path

from aiohttp.test_utils import TestServer

from canhbao.app import create_app
from canhbao.config import parse_config

RUNS = 15
TARGET_MS = 25.0  # the hotline webhooks' p99 target: a pause longer than that shows in it


def _full_collection_ms() -> float:
    samples = []
    for _ in range(RUNS):
        started = time.process_time()
        gc.collect(2)
        samples.append((time.process_time() - started) * 1000)
    return statistics.median(samples)


async def _measure(folder: Path) -> tuple[int, float, float]:
    app = create_app(parse_config({"database": {"path": str(folder / "heap.sqlite3")}}))
    server = TestServer(app)
    await server.start_server()
    try:
        frozen_objects = gc.get_freeze_count()
        frozen = _full_collection_ms()
        gc.unfreeze()
        unfrozen = _full_collection_ms()
        gc.freeze()
    finally:
        await server.close()
    return frozen_objects, frozen, unfrozen


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        objects, frozen, unfrozen = asyncio.run(_measure(Path(folder)))
    verdict = "met" if frozen <= TARGET_MS else "MISSED"
    print(
        f"web app started: {objects:,} objects from start-up frozen\n"
        f"  full collection, start-up frozen (as it runs): {frozen:.3f} ms CPU, median of {RUNS}"
        f"   [a pause under the webhooks' p99 target {TARGET_MS:.0f} ms: {verdict}]\n"
        f"  anchor, the same app unfrozen: {unfrozen:.1f} ms CPU"
        f" → {unfrozen / max(frozen, 0.001):.0f}× longer pause"
    )


if __name__ == "__main__":
    main()
