"""A 100,000-device warning survives SIGKILL: `canhbao serve` killed twice, restarted, drained.

The first kill lands while the fan-out is still enqueueing its recipients, the second while the
outbox is sending. The FCM double runs in its own process, outliving both, and records every
message it accepts.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import numpy as np
import pytest

from alerting.settings import Settings
from alerting.workflow import Workflow
from bench.alerting import devices_in_flood, flood_alert
from bench.geofences import SEED, build_database
from canhbao.auth.store import Accounts
from canhbao.clock import SystemClock
from canhbao.config import AlertingConfig, AuthConfig
from canhbao.db import Database
from tests.doubles.processes import (
    Process,
    RecordFile,
    free_port,
    start_fcm_double,
    start_serve,
    stop,
    wait_until,
)

PROJECT = "canhbao-fanout-crash"
DEADLINE_S = 120.0
MAX_TWICE = 0.001  # the bound: at most 0.1% of messages sent twice
# Sends in flight at a kill are the only ones that can go twice (finished ones are in the sent
# journal): two kills, so at most twice this. The double needs no more than this for full speed.
CONCURRENCY = 32


@dataclass
class World:
    workdir: Path
    database: Path
    config: Path
    credentials: Path
    fcm: RecordFile
    base_url: str
    token: str  # a bearer token with the approver role
    identifier: str  # the approved, not yet issued, warning
    version: int  # its version as the approver sees it


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    """100,000 devices in the flood polygon, an approved warning over it, the FCM double."""
    x, y, ward_index, wards = devices_in_flood(np.random.default_rng(SEED))
    # build_database runs the CLI, which has its own event loop.
    database = await asyncio.to_thread(build_database, tmp_path, x, y, ward_index, wards)
    token, identifier, version = await approved_warning(database)

    fcm, fcm_port, credentials = await start_fcm_double(tmp_path, PROJECT)
    try:
        port = free_port()
        config = tmp_path / "config.toml"
        config.write_text(
            f"""
[server]
host = "127.0.0.1"
port = {port}
shutdown_timeout_s = 5.0

[database]
path = "{database.name}"

[push]
provider = "firebase"

[push.firebase]
project_id = "{PROJECT}"
endpoint = "http://127.0.0.1:{fcm_port}"

[outbox]
concurrency = {CONCURRENCY}
batch_size = 128

[log]
level = "INFO"
format = "json"
""",
            encoding="utf-8",
        )
        yield World(
            tmp_path,
            database,
            config,
            credentials,
            RecordFile(tmp_path / "fcm.jsonl"),
            f"http://127.0.0.1:{port}",
            token,
            identifier,
            version,
        )
    finally:
        await stop(fcm)


async def approved_warning(database: Path) -> tuple[str, str, int]:
    """Two people have written and approved the warning; an approver's token will issue it."""
    db = Database(database)
    await db.open()
    try:
        clock = SystemClock()
        _, secret = await Accounts(db, clock, AuthConfig()).create_token(
            "duty approver", ["approver"], actor="test"
        )
        workflow = Workflow(db, clock, Settings.from_config(AlertingConfig(), ""))
        stored = await workflow.create(flood_alert(), actor="user:lan")
        await workflow.submit(stored.identifier, actor="user:lan")
        approved = await workflow.approve(stored.identifier, actor="user:minh")
        return secret, stored.identifier, approved.version
    finally:
        await db.close()


def read(database: Path, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    connection.row_factory = sqlite3.Row
    try:
        return connection.execute(sql, params).fetchall()
    except sqlite3.OperationalError:
        return []  # a table the serving process has not created yet
    finally:
        connection.close()


def fanout_row(world: World) -> sqlite3.Row | None:
    rows = read(
        world.database, "SELECT * FROM alerting_fanout WHERE identifier = ?", (world.identifier,)
    )
    return rows[0] if rows else None


def sent_keys(world: World) -> Counter[str]:
    """What FCM accepted: a device's token, or a condition."""
    return Counter(
        entry["message"].get("token") or entry["message"]["condition"] for entry in world.fcm.read()
    )


async def serve(world: World, run: int) -> Process:
    app = await start_serve(
        world.workdir,
        world.config,
        {"CANHBAO_FIREBASE_CREDENTIALS": str(world.credentials)},
        f"serve-{run}",
    )

    async def answering() -> bool:
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"{world.base_url}/healthz") as response,
            ):
                return response.status in (200, 503)
        except aiohttp.ClientError:
            return False

    async with asyncio.timeout(DEADLINE_S):
        while not await answering():
            if app.process.returncode is not None:
                pytest.fail(f"canhbao exited ({app.process.returncode}):\n{app.tail()}")
            await asyncio.sleep(0.05)
    return app


async def kill(app: Process) -> None:
    app.process.send_signal(signal.SIGKILL)
    await app.process.wait()
    assert app.process.returncode == -signal.SIGKILL


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_sigkill_twice_mid_fanout_then_every_device_reached_and_few_twice(
    world: World,
) -> None:
    first = await serve(world, 1)
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{world.base_url}/api/v1/alerts/{world.identifier}/issue",
                headers={
                    "Authorization": f"Bearer {world.token}",
                    "If-Match": f'"{world.version}"',
                },
            ) as response,
        ):
            assert response.status == 200, await response.text()
            plan = (await response.json())["plan"]
        tokens_planned = plan["messages"]["token"]
        conditions_planned = plan["messages"]["condition"]
        assert tokens_planned + plan["totals"]["by_topic"] >= 100_000 * 0.99

        def first_sends() -> bool:
            # Or a finished fan-out, which the assertion after the kill then reports.
            row = fanout_row(world)
            return row is not None and (
                row["finished_at"] is not None or len(world.fcm.read()) >= 100
            )

        await wait_until(first, first_sends, "the first sends", DEADLINE_S, 0.002)
        await kill(first)
    finally:
        await stop(first.process)
    at_first_kill = fanout_row(world)
    assert at_first_kill is not None
    assert at_first_kill["finished_at"] is None, "the fan-out was done before the kill"
    assert at_first_kill["devices_done"] < tokens_planned  # killed mid-enqueue

    second = await serve(world, 2)
    try:
        await wait_until(
            second,
            lambda: len(world.fcm.read()) >= tokens_planned // 2,
            "half the messages sent",
            DEADLINE_S,
        )
        await kill(second)
    finally:
        await stop(second.process)

    third = await serve(world, 3)
    try:

        def drained() -> bool:
            left = read(
                world.database,
                "SELECT COUNT(*) AS n FROM outbox WHERE reference = ?"
                " AND status IN ('queued', 'sending')",
                (world.identifier,),
            )[0]["n"]
            row = fanout_row(world)
            return left == 0 and row is not None and row["outcome"] == "complete"

        await wait_until(third, drained, "the fan-out drained", DEADLINE_S, 0.2)
        third.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            await third.process.wait()
    finally:
        await stop(third.process)
    assert third.process.returncode == 0, third.tail()

    # Every device the frozen plan targets by token got the warning, each condition went out.
    row = fanout_row(world)
    assert row is not None
    targeted = np.frombuffer(row["device_ids"], dtype="<i8")
    assert targeted.size == tokens_planned
    tokens = {
        r["token"]
        for r in read(
            world.database,
            "SELECT token FROM geofences_devices WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(targeted.tolist()),),
        )
    }
    assert len(tokens) == tokens_planned
    sent = sent_keys(world)
    assert tokens <= set(sent)
    assert sum(1 for key in sent if key.startswith("'")) == conditions_planned
    assert set(sent) - tokens == {key for key in sent if key.startswith("'")}

    # Sent twice: only what was in flight at a kill, and within the bound.
    twice = sum(count - 1 for count in sent.values())
    messages = tokens_planned + conditions_planned
    assert twice <= 2 * CONCURRENCY
    assert twice <= MAX_TWICE * messages
    rows = read(
        world.database,
        "SELECT status, COUNT(*) AS n FROM outbox WHERE reference = ? GROUP BY status",
        (world.identifier,),
    )
    assert {r["status"]: r["n"] for r in rows} == {"sent": messages}
    resumed = [
        json.loads(line)
        for line in (world.workdir / "serve-2.log").read_text(encoding="utf-8").splitlines()
        if '"alert fan-outs resumed after a restart"' in line
    ]
    assert resumed, "the second start did not resume the fan-out the first left half done"
