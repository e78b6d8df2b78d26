"""What a process loaded to start is kept out of the collector's full collections while it runs
(canhbao.heap), in the web app and in serve's sender app; a stopped app lets it go again."""

from __future__ import annotations

import gc
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestServer

from canhbao.app import create_app
from notify.process import create_sender_app
from tests.conftest import make_config


async def _frozen_while_running(app: web.Application) -> tuple[int, int, int]:
    before = gc.get_freeze_count()
    server = TestServer(app)
    await server.start_server()
    try:
        running = gc.get_freeze_count()
    finally:
        await server.close()
    return before, running, gc.get_freeze_count()


async def test_the_web_app_freezes_what_it_loaded_to_start(tmp_path: Path) -> None:
    before, running, after = await _frozen_while_running(create_app(make_config(tmp_path)))
    # The app's modules, routes and schemas at least: tens of thousands of objects.
    assert running - before > 10_000
    assert after == 0


async def test_the_sender_app_freezes_what_it_loaded_to_start(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    # The sender's database is the web process's, migrated by it first.
    web_app = create_app(config)
    server = TestServer(web_app)
    await server.start_server()
    await server.close()
    before, running, after = await _frozen_while_running(create_sender_app(config))
    assert running > before
    assert after == 0
