"""What a process loaded to start lives as long as the process: kept out of the garbage
collector's full collections (gc.freeze), which otherwise walk it every time.

A started web process holds ~100,000 objects from start-up (modules, routes, schemas, the
device index); every full collection walked all of them, 75 ms of CPU on this machine with the
event loop stopped (≈ 0 once frozen; measured by creating and starting the app, then timing
gc.collect(2) before and after gc.freeze()). Full collections come every few seconds while
requests pour in, so they were the hotline webhooks' slowest answers. Objects made after start-up
(requests, their tasks, registrations) are collected as before.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator

from aiohttp import web


async def settled_heap_ctx(app: web.Application) -> AsyncIterator[None]:
    """The last of an app's cleanup contexts: everything before it has started."""
    del app
    # No gc.collect() first: start-up makes little garbage, and a full collection per app
    # start would cost the test suite, which starts thousands, minutes.
    gc.freeze()
    yield
    gc.unfreeze()
