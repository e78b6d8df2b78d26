"""The November 2025 exercise at full speed, and the hotline's webhook latency while it plays.

`canhbao exercise run scenarios/hue-2025-11.toml --speed 3600` (72 flood hours; 2,300 people,
237 calls, 59 SMS, 6 teams) runs in its own process; the figure is simulated flood hours per
wall second from its first flood second to its end, and how late the service saw the river:
each threshold event's time from its reading's hour to the event, in flood minutes (what the
accelerated clock costs in fidelity).

Meanwhile a load generator sends the hotline's webhook mix (bench.hotline's: incoming call,
menu choice, flood information, status callback), signed, at RATE requests a second, open loop,
to the exercise's server; the anchor is the same load against `canhbao serve` alone, measured
in the same run. The targets: p99 <= 25 ms (bench.hotline's), Twilio's 15 s limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import aiohttp

from bench.hotline import TOKEN, _free_port, _requests, paced

RATE = 50  # webhook requests a second: a busy flood night's hotline is far below it
LOAD_S = 20
SPEED = 3600
REPO = Path(__file__).resolve().parent.parent
SCENARIO = REPO / "scenarios" / "hue-2025-11.toml"


def _config(workdir: Path, port: int) -> Path:
    config = workdir / "config.toml"
    config.write_text(
        f'[server]\nport = {port}\npublic_base_url = "http://127.0.0.1:{port}"\n'
        f'[database]\npath = "{workdir / "real.sqlite3"}"\n'
        '[log]\nlevel = "WARNING"\n'
        f'[hotline]\nlocal_auth_token = "{TOKEN}"\n',
        encoding="utf-8",
    )
    return config


def _wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start") from None
            time.sleep(0.05)


@contextlib.contextmanager
def _process(argv: list[str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(  # our own CLI, fixed arguments
        [sys.executable, "-m", "canhbao", *argv],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    try:
        _wait_for_port(port, process)
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=60)


async def _load(base: str, seconds: float) -> tuple[float, float, int, int]:
    total = int(RATE * seconds)
    plan = _requests(base, total)
    latencies: list[float] = []
    errors = 0
    async with aiohttp.ClientSession(base, connector=aiohttp.TCPConnector(limit=0)) as session:

        async def one(index: int) -> None:
            nonlocal errors
            path, params, signature = plan[index]
            started = time.perf_counter()
            try:
                async with session.post(
                    path, data=params, headers={"X-Twilio-Signature": signature}
                ) as response:
                    await response.read()
                    if response.status not in (200, 204):
                        errors += 1
            except aiohttp.ClientError:
                errors += 1
                return
            latencies.append((time.perf_counter() - started) * 1000)

        await paced(total, RATE, one)
    latencies.sort()
    p99 = latencies[max(int(len(latencies) * 0.99) - 1, 0)] if latencies else float("nan")
    median = statistics.median(latencies) if latencies else float("nan")
    return median, p99, len(latencies), errors


def _lag_minutes(database: Path) -> list[float]:
    with contextlib.closing(sqlite3.connect(database)) as db:
        rows = db.execute("SELECT observed_at, created_at FROM feeds_events").fetchall()
    return sorted(
        (datetime.fromisoformat(created) - datetime.fromisoformat(observed)).total_seconds() / 60
        for observed, created in rows
    )


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="canhbao-bench-exercise-") as tmp:
        workdir = Path(tmp)
        port = _free_port()
        config = _config(workdir, port)
        base = f"http://127.0.0.1:{port}"
        with _process(["serve", "--config", str(config)], port):
            alone = asyncio.run(_load(base, LOAD_S))
        exercise_port = _free_port()
        run = [
            "--config", str(config), "exercise", "run", str(SCENARIO),
            "--speed", str(SPEED), "--port", str(exercise_port),
        ]  # fmt: skip
        started = time.monotonic()
        with _process(run, exercise_port) as process:
            listening = time.monotonic()
            during = asyncio.run(_load(f"http://127.0.0.1:{exercise_port}", LOAD_S))
            process.wait(timeout=600)
            ended = time.monotonic()
        database = next((workdir / "exercises").glob("*.sqlite3"))
        lags = _lag_minutes(database)
    hours = 72.0
    print(
        f"start-up (its database, migrated, the staff copied): {listening - started:.1f} s"
    )  # the report
    play = ended - listening
    print(  # the report
        f"full scenario at {SPEED}×: {hours:.0f} flood hours in {play:.1f} s from listening to"
        " the end (2,300 people enrolled first, the clock paused meanwhile)"
        f" = {hours / play:.2f} flood hours a wall second (the cap: {SPEED / 3600:.2f})"
    )
    if lags:
        print(  # the report
            f"threshold events after their reading: median {statistics.median(lags):.1f},"
            f" worst {lags[-1]:.1f} flood minutes ({len(lags)} events)"
        )
    for name, (median, p99, count, errors) in (("alone", alone), ("during the exercise", during)):
        print(  # the report
            f"hotline webhooks {name}: median {median:.1f} ms, p99 {p99:.1f} ms"
            f" ({count} answered, {errors} errors; target p99 <= 25 ms, Twilio's limit 15,000 ms)"
        )
