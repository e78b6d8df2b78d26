"""Public pages under a crowd: requests/s for / and a warning page at 1,000 concurrent keep-alive
clients revalidating with the ETag (304s), beside a plain aiohttp static file handler measured
with the same load in the same run, and the hotline's webhook p99 during that load.

One service as shipped (`canhbao serve`: Huế's wards loaded on first start, the two gauges, an
issued warning), `wrk` from Debian's packages (installed as root when missing) as the crowd:
1,000 connections on 2 threads, every request carrying `If-None-Match` and `Accept-Encoding:
gzip, br` as a phone's cache would. The anchor is a one-process aiohttp app serving one static
HTML file of the home page's size with `web.FileResponse` (its own ETag and 304s), under the
same wrk. The hotline's signed webhook mix (bench.flood_night's load process, 200 req/s open
loop) runs alone first, then during each crowd. Targets: ≥ 3,000 req/s, webhook p99 ≤ 25 ms.
The load average (`uptime`) is printed with every figure: the machine is shared.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from alerting.settings import Settings
from alerting.workflow import Workflow
from bench.alerting import flood_alert
from bench.flood_night import Sample, latency, webhook_load
from bench.hotline import TOKEN, _free_port
from canhbao.clock import SystemClock
from canhbao.config import AlertingConfig
from canhbao.db import Database

CONNECTIONS = 1_000
THREADS = 2
SECONDS = 10
WEBHOOKS_ALONE_S = 8.0
WEBHOOKS_WARMUP_S = 6.0  # the load process signs a minute of webhooks before it sends
TARGET_RPS = 3_000.0
TARGET_P99_MS = 25.0
REPO = Path(__file__).resolve().parent.parent


def _load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f}"


def _wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
        found = shutil.which("wrk")
    assert found is not None, "wrk could not be installed"
    return found


@dataclass(frozen=True)
class Crowd:
    rate: float
    failed: int
    load: str
    started: float  # time.monotonic(), as the webhook load process's samples are stamped
    ended: float


def crowd(url: str, etag: str, seconds: int = SECONDS) -> Crowd:
    """wrk's requests/s and errors, with the load average as it ended."""
    started = time.monotonic()
    result = subprocess.run(  # fixed arguments; wrk from Debian
        [
            _wrk(),
            f"-t{THREADS}",
            f"-c{CONNECTIONS}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-H",
            f"If-None-Match: {etag}",
            "-H",
            "Accept-Encoding: gzip, br",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    ended = time.monotonic()
    load = _load_average()
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", result.stdout).group(1))  # type: ignore[union-attr]
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", result.stdout
    )
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", result.stdout)
    failed = sum(int(n) for n in errors.groups()) if errors else 0
    failed += int(non_2xx.group(1)) if non_2xx else 0
    return Crowd(rate, failed, load, started, ended)


async def _seed(database: Path) -> str:
    """An issued warning in the database, by two people (the workflow, no HTTP)."""
    db = Database(database)
    await db.open()
    try:
        workflow = Workflow(db, SystemClock(), Settings.from_config(AlertingConfig(), ""))
        stored = await workflow.create(flood_alert(), actor="user:bench-issuer")
        await workflow.submit(stored.identifier, actor="user:bench-issuer")
        await workflow.approve(stored.identifier, actor="user:bench-approver")
        await workflow.issue(stored.identifier, actor="user:bench-approver")
        return stored.identifier
    finally:
        await db.close()


@contextlib.contextmanager
def serve(workdir: Path) -> Iterator[tuple[str, str]]:
    """`canhbao serve` as shipped with one issued warning; yields (base URL, its identifier)."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    database = workdir / "public.sqlite3"
    config = workdir / "public.toml"
    config.write_text(
        f'[server]\nport = {port}\npublic_base_url = "{base}"\n'
        f'[database]\npath = "{database}"\n'
        '[log]\nlevel = "WARNING"\n'
        f'[hotline]\nlocal_auth_token = "{TOKEN}"\n'
        "[geofences]\nfirst_start_hue_wards = true\n",
        encoding="utf-8",
    )
    cli = [sys.executable, "-m", "canhbao"]
    subprocess.run([*cli, "migrate", "--config", str(config)], cwd=REPO, check=True)
    identifier = asyncio.run(_seed(database))
    process = _start([*cli, "serve", "--config", str(config)], base)
    try:
        asyncio.run(_until_wards(base))
        yield base, identifier
    finally:
        _stop(process)


@contextlib.contextmanager
def static_anchor(workdir: Path, body: bytes) -> Iterator[str]:
    """A plain aiohttp app serving one file (web.FileResponse: ETag, 304), one process."""
    port = _free_port()
    page = workdir / "index.html"
    page.write_bytes(body)
    code = (
        "import sys\nfrom aiohttp import web\n"
        "async def index(request):\n"
        f"    return web.FileResponse({str(page)!r})\n"
        "app = web.Application()\napp.router.add_get('/', index)\n"
        f"web.run_app(app, host='127.0.0.1', port={port}, access_log=None, print=None)\n"
    )
    base = f"http://127.0.0.1:{port}"
    process = _start([sys.executable, "-c", code], base, health="/")
    try:
        yield base
    finally:
        _stop(process)


def _start(command: list[str], base: str, health: str = "/healthz") -> subprocess.Popen[bytes]:
    process = subprocess.Popen(  # our own CLI or a fixed script
        command,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    deadline = time.monotonic() + 120

    async def ready() -> None:
        async with aiohttp.ClientSession() as session:
            while True:
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(base + health) as response:
                        if response.status == 200:
                            return
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{command[:3]} did not start")
                await asyncio.sleep(0.1)

    asyncio.run(ready())
    return process


async def _until_wards(base: str) -> None:
    """First start loads Huế's wards in the background: measure the page with its map."""
    deadline = time.monotonic() + 120
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            async with session.get(f"{base}/") as response:
                if 'href="/phuong/' in await response.text():
                    return
            await asyncio.sleep(0.5)
    raise RuntimeError("the wards never showed on /")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def _etag(url: str) -> tuple[str, bytes, int]:
    """The page's ETag (as a phone holding it would send it), its body and its gzip size."""
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        async with session.get(url, headers={"Accept-Encoding": "gzip, br"}) as response:
            assert response.status == 200, response.status
            compressed = await response.read()
        async with session.get(url) as response:
            body = await response.read()
        return response.headers["ETag"], body, len(compressed)


def _p99(samples: list[Sample]) -> str:
    median, p99, count, errors = latency(samples)
    verdict = "met" if p99 <= TARGET_P99_MS and errors == 0 else "NOT met"
    return (
        f"median {median:6.2f} ms  p99 {p99:6.2f} ms  ({count} webhooks, {errors} errors;"
        f" target p99 ≤ {TARGET_P99_MS:.0f} ms: {verdict})"
    )


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-public-"))
    try:
        with serve(workdir) as (base, identifier):
            pages = {"/": f"{base}/", "warning": f"{base}/canh-bao/{identifier}"}
            tags = {name: asyncio.run(_etag(url)) for name, url in pages.items()}
            print(
                f"{CONNECTIONS:,} keep-alive clients on {THREADS} wrk threads, {SECONDS} s each,"
                " every request revalidating (If-None-Match) → 304"
            )
            with webhook_load(base, workdir, "alone") as samples:
                time.sleep(WEBHOOKS_WARMUP_S)
                window = time.monotonic()
                time.sleep(WEBHOOKS_ALONE_S)
            alone = [s for s in samples if s.started >= window]
            print(f"  hotline webhooks alone (200 req/s)    {_p99(alone)}  [{_load_average()}]")
            rates = {}
            for name, url in pages.items():
                etag, _, size = tags[name]
                with webhook_load(base, workdir, name.strip("/") or "home") as samples:
                    time.sleep(WEBHOOKS_WARMUP_S)  # the load process is sending before wrk starts
                    run = crowd(url, etag)
                during = [s for s in samples if run.started <= s.started <= run.ended]
                rates[name] = run.rate
                print(
                    f"  {name:9} {run.rate:9,.0f} req/s  ({run.failed} errors; page {size:,} B"
                    f" compressed)  [{run.load}]"
                )
                print(f"    hotline webhooks during it           {_p99(during)}")
        home_body = tags["/"][1]
        with static_anchor(workdir, home_body) as anchor:
            etag, _, _ = asyncio.run(_etag(f"{anchor}/"))
            static = crowd(f"{anchor}/", etag)
        static_rate = static.rate
        print(
            f"  anchor: plain aiohttp FileResponse of the same page {static_rate:9,.0f} req/s"
            f"  ({static.failed} errors)  [{static.load}]"
        )
        for name, rate in rates.items():
            verdict = "met" if rate >= TARGET_RPS else "NOT met"
            print(
                f"  {name:9} / static file: {rate / static_rate:5.2f}×;"
                f" / target {TARGET_RPS:,.0f} req/s: {rate / TARGET_RPS:5.2f} [{verdict}]"
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
