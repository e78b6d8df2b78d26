"""Outbox → FCM throughput beside firebase-admin's own send_each_async, on the same FCM double.

The double runs in its own process (so it does not share our event loop); both senders use the
same service-account credentials and reach it over loopback. Figures are medians of RUNS runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import firebase_admin
from aiohttp import web
from firebase_admin import credentials, messaging

from canhbao.app import create_app
from canhbao.config import parse_config
from notify import keys as notify_keys
from notify.firebase import FirebasePush
from notify.models import OutboxItem, PushMessage
from tests.doubles.credentials import write_service_account

RUNS = 3
OUTBOX_MESSAGES = 20_000
ADAPTER_MESSAGES = 20_000
TARGET_RATE = 5_000  # issue #5: per-token sends must not be the bottleneck
TARGET_RATIO = 10
ANCHOR_MESSAGES = 2_000  # send_each_async is ~20× slower; this keeps a run to seconds
PROJECT = "canhbao-bench"
REPO = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def fcm_double() -> Iterator[str]:
    """Start the FCM double in a child process; yields its base URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.doubles.fcm", "--port", "0", "--project", PROJECT],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"FCM double did not start: {line!r}")
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _message(i: int) -> PushMessage:
    """One of a warning's per-token messages: as in a real fan-out, only the token differs (the
    tag is the alert chain's, so a resend replaces rather than repeats)."""
    return PushMessage(
        target_kind="token",
        target=f"bench-device-token-{i:08d}-{'x' * 120}",
        title="Cảnh báo lũ trên sông Bồ",
        body="Mực nước tại Phú Ốc vượt báo động III. Di chuyển người và tài sản lên nơi cao.",
        data={"identifier": "2.49.0.1.704.bench", "msgType": "Alert", "severity": "Severe"},
        collapse_key="bench-chain",
        tag="bench-chain",
        ttl_s=3600,
    )


def _library_message(i: int) -> messaging.Message:
    ours = _message(i)
    return messaging.Message(
        token=ours.target,
        notification=messaging.Notification(title=ours.title, body=ours.body),
        data=dict(ours.data),
        android=messaging.AndroidConfig(
            priority="high",
            ttl=ours.ttl_s,
            collapse_key=ours.collapse_key,
            notification=messaging.AndroidNotification(tag=ours.tag),
        ),
    )


def anchor_send_each_async(base: str, credentials_path: Path) -> float:
    """firebase-admin's own path: send_each_async in batches of 500 (its maximum)."""
    app = firebase_admin.initialize_app(
        credentials.Certificate(str(credentials_path)),
        {"projectId": PROJECT},
        name=f"bench-{uuid.uuid4().hex}",
    )
    try:
        return asyncio.run(_send_each_async(app, base))
    finally:
        # Outside the event loop: delete_app closes the library's httpx client with asyncio.run.
        firebase_admin.delete_app(app)


async def _send_each_async(app: firebase_admin.App, base: str) -> float:
    # The library has no endpoint option; point its service at the double (bench only).
    service = messaging._get_messaging_service(app)
    service._fcm_url = f"{base}/v1/projects/{PROJECT}/messages:send"
    batch = [_library_message(i) for i in range(500)]
    await messaging.send_each_async(batch[:10], app=app)  # token fetch and connections
    started = time.perf_counter()
    sent = 0
    for _ in range(ANCHOR_MESSAGES // 500):
        response = await messaging.send_each_async(batch, app=app)
        if response.failure_count:
            raise RuntimeError(f"anchor failures: {response.responses[0].exception}")
        sent += response.success_count
    elapsed = time.perf_counter() - started
    await service._async_client.aclose()  # inside its loop; delete_app's close is then a no-op
    return sent / elapsed


def _config(base: str, database: Path) -> object:
    return parse_config(
        {
            "database": {"path": str(database)},
            "push": {
                "provider": "firebase",
                "firebase": {"project_id": PROJECT, "endpoint": base},
            },
            # The shipped [outbox] settings: the figures are what a deployment gets.
        }
    )


async def adapter_throughput(base: str, credentials_path: Path) -> float:
    """Our FirebasePush alone: many sends in flight over the shared aiohttp session."""
    import aiohttp

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        push = FirebasePush(
            session,
            credentials_path=credentials_path,
            project_id=PROJECT,
            endpoint=base,
            timeout_s=10,
            max_connections=200,
        )
        messages = [_message(i) for i in range(ADAPTER_MESSAGES)]
        await asyncio.gather(*(push.send(m) for m in messages[:10]))
        started = time.perf_counter()
        await asyncio.gather(*(push.send(m) for m in messages))
        elapsed = time.perf_counter() - started
        await push.close()
        return ADAPTER_MESSAGES / elapsed


async def outbox_throughput(base: str, credentials_path: Path, workdir: Path) -> float:
    """The whole path: rows enqueued in SQLite, claimed, sent, outcomes recorded."""
    os.environ["CANHBAO_FIREBASE_CREDENTIALS"] = str(credentials_path)
    config = _config(base, workdir / f"outbox-{uuid.uuid4().hex}.sqlite3")
    app = create_app(config)  # type: ignore[arg-type]  # parse_config returns a Config
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        outbox = app[notify_keys.OUTBOX]
        reference = f"bench-{uuid.uuid4().hex}"
        items = [
            OutboxItem("push", _message(i), idempotency_key=f"{reference}-{i}", reference=reference)
            for i in range(OUTBOX_MESSAGES)
        ]
        started = time.perf_counter()
        await outbox.enqueue(items)
        while True:
            counts = (await outbox.counts(reference)).get("push", {})
            done = counts.get("sent", 0) + counts.get("failed", 0) + counts.get("dead", 0)
            if done >= OUTBOX_MESSAGES:
                break
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - started
        if counts.get("sent", 0) != OUTBOX_MESSAGES:
            raise RuntimeError(f"not every message was sent: {counts}")
        return OUTBOX_MESSAGES / elapsed
    finally:
        await runner.cleanup()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, fcm_double() as base:
        workdir = Path(tmp)
        creds = write_service_account(workdir / "sa.json", f"{base}/token", PROJECT)
        anchor, adapter, outbox = [], [], []
        for _ in range(RUNS):
            anchor.append(anchor_send_each_async(base, creds))
            adapter.append(asyncio.run(adapter_throughput(base, creds)))
            outbox.append(asyncio.run(outbox_throughput(base, creds, workdir)))
    a, d, o = (statistics.median(x) for x in (anchor, adapter, outbox))
    print(f"firebase-admin send_each_async → FCM double: {a:,.0f} msg/s (anchor)")
    verdict = "met" if d >= TARGET_RATE and d >= TARGET_RATIO * a else "MISSED"
    print(
        f"FirebasePush.send (our send path)  → FCM double: {d:,.0f} msg/s  = {d / a:.1f}× anchor"
        f"  (targets ≥ {TARGET_RATE:,} msg/s and ≥ {TARGET_RATIO}× [{verdict}])"
    )
    print(
        f"outbox end to end ({OUTBOX_MESSAGES:,} rows: enqueue, claim, send, record): "
        f"{o:,.0f} msg/s  = {o / a:.1f}× anchor"
    )
    print(f"(medians of {RUNS} runs; runs: anchor {anchor}, adapter {adapter}, outbox {outbox})")


if __name__ == "__main__":
    main()
