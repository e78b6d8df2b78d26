"""The issue transaction holds the writers' lock for its SQL alone, not for its event loop."""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import threading
from pathlib import Path

import pytest

from alerting.delivery import Delivery
from alerting.keys import ALERTING
from canhbao import keys
from canhbao.config import Config
from tests.alerting.test_delivery import INSIDE_SQUARE, body
from tests.alerting.test_fanout import DEVICES, _complete, start, token_rows
from tests.alerting.test_workflow import step
from tests.conftest import AppClient, StaffFactory
from tests.geofences.conftest import Register, eventually, load_hue, manual_jobs

DEADLOCK_S = 20.0  # only reached when the issue's lock waits for the frozen loop (the bug)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return manual_jobs(tmp_path)


def other_process_writes(database: Path, done: threading.Event) -> None:
    """What another process's writer does (the sender's batch, say): the lock file, a write."""
    fd = os.open(database.with_name(database.name + "-writer.lock"), os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        conn = sqlite3.connect(database, isolation_level=None, timeout=DEADLOCK_S)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("COMMIT")
        finally:
            conn.close()
        fcntl.flock(fd, fcntl.LOCK_UN)
        done.set()
    finally:
        os.close(fd)


async def test_another_writer_commits_while_the_issuing_loop_is_held_up(
    app_client: AppClient, config: Config, staff: StaffFactory, register: Register
) -> None:
    """The web process's loop held up (200 webhooks) right as a warning is issued: another
    process's writer still gets its turn as soon as the issue's SQL is done, rather than once
    that loop has come back to each of the issue's statements in turn."""
    client, _, _ = await start(app_client, config)
    assert client.app is not None
    await load_hue(client)
    for _ in range(DEVICES):
        await register(client, at=INSIDE_SQUARE)
    lan = await staff(client, "lan", roles=["issuer"])
    minh = await staff(client, "minh", roles=["approver"])
    created = await lan.post("/api/v1/alerts", json=body())
    assert created.status == 201, await created.text()
    identifier = (await created.json())["identifier"]
    await step(lan, identifier, "submit")
    await step(minh, identifier, "approve")

    db = client.app[keys.DB]
    loop = asyncio.get_running_loop()
    done = threading.Event()
    other = threading.Thread(target=other_process_writes, args=(db.path, done))
    waited: list[bool] = []

    def hold_up_the_loop() -> None:  # a loop busy elsewhere until the other writer is done
        other.start()
        waited.append(done.wait(DEADLOCK_S))

    armed = True

    def traced(sql: str) -> None:  # in the writer's thread, as each statement starts
        nonlocal armed
        if armed and sql.startswith("BEGIN"):
            armed = False
            loop.call_soon_threadsafe(hold_up_the_loop)

    await db.writer.set_trace_callback(traced)
    try:
        issued = await client.app[ALERTING].issue(identifier, "minh")
    finally:
        await db.writer.set_trace_callback(None)
        if other.ident is not None:
            await asyncio.to_thread(other.join)
    assert waited == [True], "the other writer waited for the issuing process's loop"
    assert issued.state == "issued"


async def test_the_issue_wakes_the_fanout_runner_from_the_writers_thread_through_its_loop(
    app_client: AppClient, config: Config, staff: StaffFactory, register: Register
) -> None:
    """The issue's first batch is written in the writer's thread; the runner waiting for work
    (an asyncio.Event of the app's loop) is woken through that loop, never from the thread (in
    debug mode asyncio refuses that, and the refused wake rolled the issue back)."""
    client = await app_client(config=config)  # its fan-out runner running, waiting for work
    assert client.app is not None
    delivery = client.app[ALERTING].fanout
    assert isinstance(delivery, Delivery)
    delivery.FIRST_DEVICES, delivery.BATCH = 3, 4  # recipients left for the runner
    await load_hue(client)
    for _ in range(DEVICES):
        await register(client, at=INSIDE_SQUARE)
    lan = await staff(client, "lan", roles=["issuer"])
    minh = await staff(client, "minh", roles=["approver"])
    created = await lan.post("/api/v1/alerts", json=body())
    assert created.status == 201, await created.text()
    identifier = (await created.json())["identifier"]
    await step(lan, identifier, "submit")
    await step(minh, identifier, "approve")

    loop = asyncio.get_running_loop()
    loop.set_debug(True)  # calls into the loop from another thread raise, rather than stall
    try:
        issued = await client.app[ALERTING].issue(identifier, "minh")
    finally:
        loop.set_debug(False)
    assert issued.state == "issued"
    await eventually(lambda: _complete(client, identifier))
    assert len(await token_rows(client, identifier)) == DEVICES
