"""Doubles and `canhbao serve` as child processes, for tests that SIGKILL the service."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.doubles.credentials import service_account_public_key, write_service_account

REPO = Path(__file__).resolve().parents[2]


class RecordFile:
    """A double's JSON-lines record, read incrementally while the double appends to it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: list[dict[str, Any]] = []
        self._offset = 0
        self._partial = b""

    def read(self) -> list[dict[str, Any]]:
        if self.path.exists():
            with self.path.open("rb") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
            self._offset += len(chunk)
            lines = (self._partial + chunk).split(b"\n")
            self._partial = lines.pop()
            self.entries.extend(json.loads(line) for line in lines if line)
        return self.entries


@dataclass
class Process:
    """A child process and the file its stderr goes to."""

    process: asyncio.subprocess.Process
    log: Path

    def tail(self) -> str:
        return "\n".join(self.log.read_text(encoding="utf-8").splitlines()[-30:])


async def start_double(
    module: str, record: Path, *extra: str
) -> tuple[asyncio.subprocess.Process, int]:
    """`python -m module --port 0 --record FILE ...`; returns it and the port it printed."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        "--port",
        "0",
        "--record",
        str(record),
        *extra,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert process.stdout is not None
    async with asyncio.timeout(20):
        line = (await process.stdout.readline()).decode()
    assert line.startswith("PORT "), line
    return process, int(line.split()[1])


async def start_fcm_double(
    workdir: Path, project: str, *extra: str
) -> tuple[asyncio.subprocess.Process, int, Path]:
    """The FCM double in its own process, recording to workdir/fcm.jsonl, and a service-account
    file (workdir/sa.json) whose key it trusts and whose token_uri names it; returns (process,
    port, that file). `extra`: more of its options (--unregistered TOKEN)."""
    # The double must trust the key, and the account's token_uri must name the double's port:
    # write the key first, then point token_uri at the started double.
    credentials = write_service_account(workdir / "sa.json", "http://127.0.0.1:1/token", project)
    public_key = workdir / "sa.pub.pem"
    public_key.write_bytes(service_account_public_key(credentials))
    process, port = await start_double(
        "tests.doubles.fcm",
        workdir / "fcm.jsonl",
        "--project",
        project,
        "--public-key",
        str(public_key),
        *extra,
    )
    info = json.loads(credentials.read_text(encoding="utf-8"))
    info["token_uri"] = f"http://127.0.0.1:{port}/token"
    credentials.write_text(json.dumps(info), encoding="utf-8")
    return process, port, credentials


async def start_serve(cwd: Path, config: Path, env: dict[str, str], name: str) -> Process:
    """`canhbao serve --config CONFIG` in `cwd`, its stderr (the JSON log) to `cwd/name.log`."""
    log = cwd / f"{name}.log"
    with log.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "canhbao",
            "serve",
            "--config",
            str(config),
            cwd=cwd,
            env={**os.environ, "PYTHONPATH": str(REPO), **env},
            stdout=asyncio.subprocess.DEVNULL,
            stderr=stderr,
        )
    return Process(process, log)


async def stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


async def wait_until(
    app: Process, condition: Callable[[], bool], what: str, deadline_s: float, pause: float = 0.01
) -> None:
    """Poll `condition()` until true; fail with the app's log if the deadline or the app ends."""
    try:
        async with asyncio.timeout(deadline_s):
            # The state lives in other processes' files: there is no event to wait on.
            while not condition():
                if app.process.returncode is not None:
                    pytest.fail(
                        f"canhbao exited ({app.process.returncode}) before {what}:\n{app.tail()}"
                    )
                await asyncio.sleep(pause)
    except TimeoutError:
        pytest.fail(f"timed out waiting for {what}:\n{app.tail()}")


def free_port() -> int:
    """A port free a moment ago, for a child process that cannot report its own."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
