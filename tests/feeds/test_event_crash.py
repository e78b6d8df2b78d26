"""A threshold event survives SIGKILL between its commit and its auto-draft.

A real `canhbao serve`: a gauge pushes Phú Ốc into BĐ II; the ingest answers once its readings
and the threshold event are committed. The auto-drafter cannot write (a trigger the test put on
its table fails), so it fails and retries, shown in /healthz, and no draft exists when the
process is killed with SIGKILL. Restarted with the trigger gone, the process delivers the stored
event from the drafter's cursor and the draft appears, once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from canhbao.auth.store import Accounts
from canhbao.clock import SystemClock
from canhbao.config import AuthConfig
from canhbao.db import Database
from tests.doubles.processes import REPO, Process, free_port, start_serve, stop

DEADLINE_S = 60.0
HAZARD = "river:71518"


def config_text(port: int) -> str:
    return f"""
[server]
host = "127.0.0.1"
port = {port}
shutdown_timeout_s = 2.0

[database]
path = "canhbao.sqlite3"

[feeds]
schedule = false

[[feeds.stations]]
id = "71518"
name = "Phú Ốc"
kind = "river_level"
lat = 16.533
lon = 107.467
source = "ingest"
river = "Bồ"
bao_dong1 = 1.5
bao_dong2 = 3.0
bao_dong3 = 4.5
historic = 5.31

[log]
level = "INFO"
format = "json"
"""


def query(database: Path, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
    connection = sqlite3.connect(database)
    connection.row_factory = sqlite3.Row
    try:
        with connection:
            return connection.execute(sql, params).fetchall()
    finally:
        connection.close()


async def run_cli(workdir: Path, config: Path, *args: str) -> None:
    """`canhbao ARGS --config CONFIG` to its end (it migrates the database first)."""
    done = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "canhbao", *args, "--config", str(config),
        cwd=workdir, env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, errors = await done.communicate()
    assert done.returncode == 0, errors.decode()


async def serve(
    workdir: Path, config: Path, base_url: str, run: int, env: dict[str, str] | None = None
) -> Process:
    app = await start_serve(workdir, config, env or {}, f"serve-{run}")
    async with asyncio.timeout(DEADLINE_S):
        while await health(base_url) is None:
            if app.process.returncode is not None:
                pytest.fail(f"canhbao exited ({app.process.returncode}):\n{app.tail()}")
            # Another process coming up: there is no event to wait on.
            await asyncio.sleep(0.05)
    return app


async def health(base_url: str) -> Any:
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{base_url}/healthz") as response,
        ):
            return await response.json()
    except aiohttp.ClientError:
        return None


async def until(app: Process, what: str, check: Any) -> None:
    try:
        async with asyncio.timeout(DEADLINE_S):
            while not await check():
                if app.process.returncode is not None:
                    pytest.fail(f"canhbao exited before {what}:\n{app.tail()}")
                # The state lives in another process: poll it.
                await asyncio.sleep(0.02)
    except TimeoutError:
        lines = app.log.read_text(encoding="utf-8").splitlines()
        told = "\n".join(line for line in lines if "/healthz" not in line)
        pytest.fail(f"timed out waiting for {what}:\n{told}")


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_sigkill_between_the_event_commit_and_the_draft_then_the_draft_after_restart(
    tmp_path: Path,
) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    config = tmp_path / "config.toml"
    config.write_text(config_text(port), encoding="utf-8")
    database = tmp_path / "canhbao.sqlite3"
    await run_cli(tmp_path, config, "areas", "load-hue")
    db = Database(database)
    await db.open()
    try:
        _, secret = await Accounts(db, SystemClock(), AuthConfig()).create_token(
            "gauge 71518", ["gauge"], actor="test"
        )
    finally:
        await db.close()
    # The drafter's first write fails (an OperationalError, as a full disk or a bug would give).
    query(
        database,
        "CREATE TRIGGER refuse_drafts BEFORE INSERT ON alerting_auto_events"
        " BEGIN INSERT INTO no_such_table VALUES (1); END",
    )

    first = await serve(tmp_path, config, base_url, 1)
    try:
        now = datetime.now(UTC)
        rows = [
            {"station_id": "71518", "parameter": "water_level", "value": value,
             "observed_at": (now - timedelta(minutes=minutes)).isoformat()}
            for value, minutes in ((1.2, 30), (3.1, 20), (3.2, 10))
        ]  # fmt: skip
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{base_url}/api/v1/ingest/readings",
                json={"readings": rows},
                headers={"Authorization": f"Bearer {secret}"},
            ) as response,
        ):
            answer = await response.json()
        assert response.status == 200, answer
        assert answer["events"] == 1

        async def failing() -> bool:
            body = await health(base_url)
            state = (body or {}).get("components", {}).get("events.alerting.auto_draft", {})
            return bool(state.get("status") == "degraded")

        await until(first, "the drafter failing", failing)
        body = await health(base_url)
        assert body["status"] == "ok"  # degraded, not critical
        events = query(database, "SELECT id, type FROM event_log")
        assert [row["type"] for row in events] == ["feeds.threshold"]
        assert query(database, "SELECT * FROM alerting_alerts WHERE hazard = ?", (HAZARD,)) == []
    finally:
        first.process.send_signal(signal.SIGKILL)
        await first.process.wait()
    assert first.process.returncode == -signal.SIGKILL

    query(database, "DROP TRIGGER refuse_drafts")
    second = await serve(tmp_path, config, base_url, 2)
    try:

        async def delivered() -> bool:
            # The draft, then the drafter's cursor past the event: delivery is over.
            cursor = query(
                database,
                "SELECT position FROM event_cursors WHERE subscriber = 'alerting.auto_draft'",
            )
            return bool(cursor) and cursor[0]["position"] == events[0]["id"]

        await until(second, "the draft", delivered)
        drafts = query(
            database, "SELECT identifier, state, origin FROM alerting_alerts WHERE hazard = ?",
            (HAZARD,),
        )  # fmt: skip
        assert [(row["state"], row["origin"]) for row in drafts] == [("draft", "auto")]
        components = (await health(base_url))["components"]
        assert components["events.alerting.auto_draft"]["status"] == "ok"
    finally:
        await stop(second.process)
