"""Flood night: hotline webhook latency while the same service fans a warning out to 100,000 phones.

One service as shipped (`canhbao serve`, FirebasePush to the FCM double in its own process, the
local hotline token) and a separate load process sending the hotline's signed webhook mix (that
of bench.hotline) open-loop at 200 requests/s. In the same run:

1. the webhooks alone;
2. the webhooks while an approver issues the 100,000-device warning of bench.alerting and the
   service fans it out (the window runs from the issue to the last message FCM accepts);
3. the same fan-out on a fresh copy of the database with no webhooks (the rate's anchor).

Printed: medians and p99s of (1) and (2) and their ratio, errors, the fan-out's rate while
serving beside its rate alone, issue → first send, against the issue's targets (p99 ≤ 25 ms
during the fan-out, ≥ 5,000 msg/s while serving, first send ≤ 1 s), and the machine's load
average (other work on the machine makes every figure worse).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import numpy as np

from alerting.settings import Settings
from alerting.workflow import Workflow
from bench.alerting import DEVICES, devices_in_flood, flood_alert
from bench.geofences import SEED, build_database
from bench.hotline import RATE, TOKEN, _free_port, _requests
from bench.outbox import PROJECT, fcm_double
from canhbao.auth.store import Accounts
from canhbao.clock import SystemClock
from canhbao.config import AlertingConfig, AuthConfig
from canhbao.db import Database
from tests.doubles.credentials import write_service_account

ALONE_S = 12.0
WARMUP_S = 2.0
SETTLE_S = 2.0  # webhooks running before the issue, so the window starts in steady state
FANOUT_DEADLINE_S = 600.0  # generous: on a busy machine the figures still come, with its load
TARGET_P99_MS = 25.0
TARGET_RATE = 5_000.0
TARGET_FIRST_SEND_S = 1.0
TWILIO_LIMIT_S = 15.0
REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Sample:
    started: float  # time.monotonic() in the load process (the same clock system-wide)
    latency_ms: float
    ok: bool


@dataclass(frozen=True)
class Fanout:
    issued: float  # time.monotonic()
    first_s: float
    drained: float
    sent: int
    cpu_s: dict[str, float]  # CPU seconds each of serve's processes spent from issue to drained

    @property
    def rate(self) -> float:
        return self.sent / (self.drained - self.issued)


# -- the load process ----------------------------------------------------------------------


async def _load(base: str, out: Path) -> None:
    """Send the webhook mix at RATE until stdin closes; one JSON line per answered request."""
    plan = _requests(base, RATE * 60)  # a minute of distinct calls, reused round robin
    samples: list[tuple[float, float, bool]] = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_reader(sys.stdin.fileno(), stop.set)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(base, connector=connector) as session:

        async def one(index: int) -> None:
            path, params, signature = plan[index % len(plan)]
            started = time.monotonic()
            try:
                async with session.post(
                    path, data=params, headers={"X-Twilio-Signature": signature}
                ) as response:
                    await response.read()
                    ok = response.status in (200, 204)
            except aiohttp.ClientError:
                ok = False
            samples.append((started, (time.monotonic() - started) * 1000, ok))

        tasks: set[asyncio.Task[None]] = set()
        started_at: dict[asyncio.Task[None], float] = {}
        start = time.monotonic()
        index = 0
        while not stop.is_set():
            delay = start + index / RATE - time.monotonic()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await stop.wait()
                continue
            task = asyncio.create_task(one(index))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            started_at[task] = time.monotonic()
            index += 1
        # Answers still outstanding get Twilio's 15 s, then count as errors (Twilio would have
        # called the fallback URL): a starved service still yields its figures.
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=TWILIO_LIMIT_S)
            now = time.monotonic()
            for task in late:
                task.cancel()
                samples.append((started_at[task], (now - started_at[task]) * 1000, False))
            await asyncio.gather(*late, return_exceptions=True)
    text = "\n".join(json.dumps(s) for s in samples)
    await asyncio.to_thread(out.write_text, text, encoding="utf-8")


@contextlib.contextmanager
def webhook_load(base: str, workdir: Path, name: str) -> Iterator[list[Sample]]:
    """The load process for the duration of the block; the list fills once it has stopped."""
    out = workdir / f"load-{name}.jsonl"
    process = subprocess.Popen(  # our own module, fixed arguments
        [sys.executable, "-m", "bench.flood_night", "--load", base, "--out", str(out)],
        cwd=REPO,
        stdin=subprocess.PIPE,
    )
    samples: list[Sample] = []
    try:
        yield samples
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=60)
    samples.extend(
        Sample(*json.loads(line)) for line in out.read_text(encoding="utf-8").splitlines()
    )


# -- the service -------------------------------------------------------------------------------


async def approved_warning(database: Path) -> tuple[str, str, int]:
    """An approver's bearer token and the approved, not yet issued, 100,000-device warning (its
    identifier and the version the approver saw)."""
    db = Database(database)
    await db.open()
    try:
        clock = SystemClock()
        _, secret = await Accounts(db, clock, AuthConfig()).create_token(
            "bench approver", ["approver"], actor="bench"
        )
        workflow = Workflow(db, clock, Settings.from_config(AlertingConfig(), ""))
        stored = await workflow.create(flood_alert(), actor="user:bench-issuer")
        await workflow.submit(stored.identifier, actor="user:bench-issuer")
        approved = await workflow.approve(stored.identifier, actor="user:bench-approver")
        return secret, stored.identifier, approved.version
    finally:
        await db.close()


@dataclass(frozen=True)
class Service:
    base: str
    pid: int

    def cpu_s(self) -> dict[str, float]:
        """CPU seconds so far of serve's process and of each child (the web process), by name."""
        found = {"serve": _cpu_s(self.pid)}
        for child in _children(self.pid):
            found["web" if "web" in _cmdline(child) else f"child {child}"] = _cpu_s(child)
        return found


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                stat = (entry / "stat").read_text(encoding="utf-8")
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def _cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    return ""


@contextlib.contextmanager
def serve(workdir: Path, database: Path, fcm: str, credentials: Path) -> Iterator[Service]:
    """`canhbao serve` as shipped, pushing to the FCM double; yields it once /healthz answers."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    config = workdir / f"{database.stem}.toml"
    config.write_text(
        f'[server]\nport = {port}\npublic_base_url = "{base}"\n'
        f'[database]\npath = "{database}"\n'
        f'[log]\nlevel = "{os.environ.get("BENCH_LOG_LEVEL", "WARNING")}"\n'
        f'[push]\nprovider = "firebase"\n'
        f'[push.firebase]\nproject_id = "{PROJECT}"\nendpoint = "{fcm}"\n'
        f'[hotline]\nlocal_auth_token = "{TOKEN}"\n',
        encoding="utf-8",
    )
    log = (workdir / f"{database.stem}.log").open("wb")
    process = subprocess.Popen(  # our own CLI, fixed arguments
        [sys.executable, "-m", "canhbao", "serve", "--config", str(config)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=log,
        env={
            **os.environ,
            "PYTHONWARNINGS": "ignore",
            "CANHBAO_FIREBASE_CREDENTIALS": str(credentials),
        },
    )
    try:
        asyncio.run(_until_healthy(base, process))
        yield Service(base, process.pid)
    except BaseException:
        log.flush()
        lines = (workdir / f"{database.stem}.log").read_text(encoding="utf-8").splitlines()
        print("\n".join(lines[-20:]), file=sys.stderr)  # why it failed
        raise
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


async def _until_healthy(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    async with aiohttp.ClientSession() as session:
        while True:
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"{base}/healthz") as response:
                    if response.status == 200:
                        return
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("canhbao serve did not become healthy")
            await asyncio.sleep(0.1)


async def fan_out(service: Service, fcm: str, token: str, identifier: str, version: int) -> Fanout:
    """Issue the warning over HTTP, as an approver would; wait until FCM has accepted every
    message of its plan."""
    base = service.base
    async with aiohttp.ClientSession() as session:
        before = await _accepted(session, fcm)
        cpu_before = service.cpu_s()
        issued = time.monotonic()
        issuing = asyncio.ensure_future(
            session.post(
                f"{base}/api/v1/alerts/{identifier}/issue",
                headers={"Authorization": f"Bearer {token}", "If-Match": f'"{version}"'},
            )
        )
        # The double is another process: polling its counter is the only way to see it.
        while await _accepted(session, fcm) == before:
            if issuing.done() and issuing.result().status != 200:  # refused: nothing will come
                answer = issuing.result()
                raise RuntimeError(f"issue failed: {answer.status} {await answer.text()}")
            await asyncio.sleep(0.002)
        first = time.monotonic() - issued
        async with await issuing as response:
            if response.status != 200:
                raise RuntimeError(f"issue failed: {response.status} {await response.text()}")
            messages = (await response.json())["plan"]["messages"]
        expected = messages["token"] + messages["condition"]
        deadline = issued + FANOUT_DEADLINE_S
        while (accepted := await _accepted(session, fcm) - before) < expected:
            if time.monotonic() > deadline:
                raise RuntimeError(f"fan-out stalled: {accepted:,} of {expected:,} accepted")
            await asyncio.sleep(0.01)
        drained = time.monotonic()
        cpu = {name: spent - cpu_before.get(name, 0.0) for name, spent in service.cpu_s().items()}
        return Fanout(issued, first, drained, accepted, cpu)


async def _accepted(session: aiohttp.ClientSession, fcm: str) -> int:
    async with session.get(f"{fcm}/_double/stats") as response:
        return int((await response.json())["accepted"])


# -- figures -----------------------------------------------------------------------------------


def latency(samples: list[Sample]) -> tuple[float, float, int, int]:
    """(median ms, p99 ms, requests, errors)."""
    values = sorted(s.latency_ms for s in samples)
    if not values:
        return float("nan"), float("nan"), 0, 0
    p99 = values[max(0, int(len(values) * 0.99) - 1)]
    return statistics.median(values), p99, len(values), sum(1 for s in samples if not s.ok)


def main() -> None:
    rng = np.random.default_rng(SEED)
    x, y, ward_index, wards = devices_in_flood(rng)
    with tempfile.TemporaryDirectory(prefix="canhbao-flood-night-") as tmp, fcm_double() as fcm:
        workdir = Path(tmp)
        credentials = write_service_account(workdir / "sa.json", f"{fcm}/token", PROJECT)
        template = build_database(workdir, x, y, ward_index, wards)
        serving_db = workdir / "serving.sqlite3"
        alone_db = workdir / "alone.sqlite3"
        shutil.copyfile(template, serving_db)
        shutil.copyfile(template, alone_db)
        token, identifier, version = asyncio.run(approved_warning(serving_db))
        alone_token, alone_identifier, alone_version = asyncio.run(approved_warning(alone_db))

        with serve(workdir, serving_db, fcm, credentials) as service:
            cpu_before = service.cpu_s()
            with webhook_load(service.base, workdir, "alone") as alone_samples:
                time.sleep(WARMUP_S + ALONE_S)
            cpu_alone = service.cpu_s()
            with webhook_load(service.base, workdir, "fanout") as during_samples:
                time.sleep(WARMUP_S + SETTLE_S)
                load_before = os.getloadavg()[0]
                fanout = asyncio.run(fan_out(service, fcm, token, identifier, version))
                load_after = os.getloadavg()[0]
        with serve(workdir, alone_db, fcm, credentials) as service:
            alone_fanout = asyncio.run(
                fan_out(service, fcm, alone_token, alone_identifier, alone_version)
            )

    first_alone = alone_samples[0].started if alone_samples else 0.0
    alone = [s for s in alone_samples if s.started >= first_alone + WARMUP_S]
    during = [s for s in during_samples if fanout.issued <= s.started <= fanout.drained]
    a_median, a_p99, a_n, a_errors = latency(alone)
    d_median, d_p99, d_n, d_errors = latency(during)

    def verdict(met: bool) -> str:
        return "met" if met else "MISSED"

    print(f"hotline webhooks at {RATE} req/s; warning over {DEVICES:,} devices pushed to FCM")
    print(f"  load average (1 min) before / after the fan-out: {load_before:.2f} / {load_after:.2f}"
          )  # fmt: skip
    print(f"  webhooks alone            median {a_median:7.2f} ms   p99 {a_p99:7.2f} ms"
          f"   ({a_n:,} requests, errors {a_errors})")  # fmt: skip
    print(f"  webhooks during fan-out   median {d_median:7.2f} ms   p99 {d_p99:7.2f} ms"
          f"   ({d_n:,} requests, errors {d_errors})")  # fmt: skip
    print(
        f"  during / alone            median {d_median / a_median:6.1f}×     "
        f"p99 {d_p99 / a_p99:6.1f}×"
    )
    print(
        f"  p99 during the fan-out / target {TARGET_P99_MS:.0f} ms: {d_p99 / TARGET_P99_MS:.2f}"
        f" [{verdict(d_p99 <= TARGET_P99_MS and d_errors == 0 and a_errors == 0)}]"
    )
    print(
        f"  fan-out while serving     {fanout.rate:7,.0f} msg/s ({fanout.sent:,} messages in"
        f" {fanout.drained - fanout.issued:.1f} s)  target ≥ {TARGET_RATE:,.0f}"
        f" [{verdict(fanout.rate >= TARGET_RATE)}]"
    )
    print(
        f"  fan-out alone             {alone_fanout.rate:7,.0f} msg/s"
        f"  (while serving = {fanout.rate / alone_fanout.rate:.2f}× alone)"
    )
    webhooks_cpu = {n: cpu_alone[n] - cpu_before.get(n, 0.0) for n in cpu_alone}
    requests_alone = len(alone_samples)
    print("  CPU of serve's processes (µs per webhook alone; µs per message while fanning out):")
    for name in sorted(set(webhooks_cpu) | set(fanout.cpu_s)):
        print(
            f"    {name:8} {webhooks_cpu.get(name, 0.0) / requests_alone * 1e6:8,.0f} µs/webhook"
            f"   {fanout.cpu_s.get(name, 0.0) / fanout.sent * 1e6:6,.0f} µs/message serving"
            f"   {alone_fanout.cpu_s.get(name, 0.0) / alone_fanout.sent * 1e6:6,.0f} alone"
        )
    print(
        f"  issue → first send        {fanout.first_s:7.2f} s while serving,"
        f" {alone_fanout.first_s:.2f} s alone  target ≤ {TARGET_FIRST_SEND_S:.0f} s"
        f" [{verdict(fanout.first_s <= TARGET_FIRST_SEND_S)}]"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--load", metavar="BASE", help="run the load process against BASE")
    parser.add_argument("--out", type=Path, help="where the load process writes its samples")
    args = parser.parse_args()
    if args.load:
        asyncio.run(_load(args.load, args.out))
    else:
        main()
