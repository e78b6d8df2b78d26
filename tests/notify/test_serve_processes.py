"""`canhbao serve`'s two processes: the web process SIGKILLed mid-fan-out is started again by
serve, while the sender (serve's own process, which also enqueues the fan-out's later batches)
never stops: every device of a 100,000-device warning gets it exactly once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import numpy as np
import pytest

from tests.alerting.test_fanout_crash import (
    DEADLINE_S,
    World,
    fanout_row,
    read,
    sent_keys,
    serve,
    world,
)
from tests.doubles.processes import Process, free_port, start_serve, stop, wait_until

__all__ = ["world"]  # the fixture, shared with the fan-out crash test


def children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text(encoding="utf-8")
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after its closing paren.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


async def healthz(world: World) -> tuple[int, dict[str, object]]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{world.base_url}/healthz") as response,
    ):
        return response.status, await response.json()


async def metrics(world: World) -> str:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{world.base_url}/metrics") as response,
    ):
        return await response.text()


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_web_process_killed_mid_fanout_is_restarted_and_every_device_reached_once(
    world: World,
) -> None:
    app: Process = await serve(world, 1)
    try:
        (web,) = children(app.process.pid)
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

        def first_sends() -> bool:
            row = fanout_row(world)
            return row is not None and (
                row["finished_at"] is not None or len(world.fcm.read()) >= 100
            )

        await wait_until(app, first_sends, "the first sends", DEADLINE_S, 0.002)
        killed_at = datetime.now(UTC)
        os.kill(web, signal.SIGKILL)
        at_kill = fanout_row(world)
        assert at_kill is not None
        assert at_kill["finished_at"] is None, "the fan-out was done before the kill"
        sent_at_kill = len(world.fcm.read())

        # Serve starts the web process again; the fan-out goes on in the sender meanwhile.
        async def restarted() -> bool:
            try:
                status, body = await healthz(world)
            except aiohttp.ClientError:
                return False
            state = body["components"]["process.web"]  # type: ignore[index]  # JSON
            return bool(status == 200 and "1 restarts" in state["detail"])

        async with asyncio.timeout(DEADLINE_S):
            while not await restarted():
                assert app.process.returncode is None, app.tail()
                await asyncio.sleep(0.05)
        (again,) = children(app.process.pid)
        assert again != web
        _, body = await healthz(world)
        web_state = body["components"]["process.web"]  # type: ignore[index]  # JSON
        assert web_state["status"] == "degraded"
        assert "killed by SIGKILL" in web_state["detail"]
        assert 'canhbao_process_restarts_total{process="web"} 1.0' in await metrics(world)

        def drained() -> bool:
            left = read(
                world.database,
                "SELECT COUNT(*) AS n FROM outbox WHERE reference = ?"
                " AND status IN ('queued', 'sending')",
                (world.identifier,),
            )[0]["n"]
            row = fanout_row(world)
            return left == 0 and row is not None and row["outcome"] == "complete"

        # The whole fan-out, with a restart in it, on a machine other tests share: more time
        # than one step's deadline.
        await wait_until(app, drained, "the fan-out drained", 3 * DEADLINE_S, 0.2)
        app.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            await app.process.wait()
    finally:
        await stop(app.process)
    assert app.process.returncode == 0, app.tail()

    # The sender never stopped: it kept enqueueing and sending while the web process was down
    # (no fan-out had to resume), and nothing went twice.
    log = [json.loads(line) for line in app.log.read_text(encoding="utf-8").splitlines()]
    messages = [entry["message"] for entry in log]
    assert "outbox recovered rows left sending" not in messages
    resumed = [
        entry
        for entry in log
        if entry["message"] == "alert fan-outs resumed after a restart"
        and datetime.fromisoformat(entry["time"]) >= killed_at
    ]
    assert not resumed, "the fan-out stopped with the web process"
    assert sent_at_kill < len(world.fcm.read())

    row = fanout_row(world)
    assert row is not None
    targeted = np.frombuffer(row["device_ids"], dtype="<i8")
    tokens = {
        r["token"]
        for r in read(
            world.database,
            "SELECT token FROM geofences_devices WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(targeted.tolist()),),
        )
    }
    assert len(tokens) == tokens_planned
    sent: Counter[str] = sent_keys(world)
    assert set(sent) - {key for key in sent if key.startswith("'")} == tokens
    assert sum(1 for key in sent if key.startswith("'")) == conditions_planned
    assert max(sent.values()) == 1


def plain_config(tmp_path: Path, port: int) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[server]\nport = {port}\n[database]\npath = "canhbao.sqlite3"\n'
        '[log]\nlevel = "INFO"\nformat = "json"\n',
        encoding="utf-8",
    )
    return config


async def answering(port: int) -> bool:
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/healthz") as response,
        ):
            return response.status == 200
    except aiohttp.ClientError:
        return False


@pytest.mark.slow
async def test_the_web_process_dies_with_serve_however_serve_dies(tmp_path: Path) -> None:
    port = free_port()
    app = await start_serve(tmp_path, plain_config(tmp_path, port), {}, "serve")
    try:
        async with asyncio.timeout(DEADLINE_S):
            while not await answering(port):
                assert app.process.returncode is None, app.tail()
                await asyncio.sleep(0.05)
        (web,) = children(app.process.pid)
        app.process.send_signal(signal.SIGKILL)
        await app.process.wait()
    finally:
        await stop(app.process)

    def web_gone() -> bool:
        try:
            state = (Path(f"/proc/{web}/stat")).read_text(encoding="utf-8")
        except OSError:
            return True
        return state.rsplit(")", 1)[1].split()[0] == "Z"  # dead, waiting to be reaped

    async with asyncio.timeout(DEADLINE_S):
        while not web_gone():  # noqa: ASYNC110  # another process's state: nothing to await
            await asyncio.sleep(0.01)
    assert not await answering(port)


@pytest.mark.slow
async def test_serve_stops_with_a_reason_when_the_web_process_cannot_start(
    tmp_path: Path,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        app = await start_serve(tmp_path, plain_config(tmp_path, port), {}, "serve")
        try:
            async with asyncio.timeout(DEADLINE_S):
                code = await app.process.wait()
        finally:
            await stop(app.process)
    assert code == 2
    # The web process's own one-line reason, once: serve adds no second line.
    said = [
        line
        for line in app.log.read_text(encoding="utf-8").splitlines()
        if not line.startswith("{")
    ]
    assert len(said) == 1, said
    assert said[0].startswith("canhbao: "), said
    assert "address already in use" in said[0]
