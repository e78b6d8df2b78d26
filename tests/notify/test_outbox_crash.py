"""The outbox survives SIGKILL mid-send: a real `canhbao serve` killed, restarted, drained."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from canhbao.app import all_migrations
from canhbao.clock import SystemClock
from canhbao.db import Database
from notify.journal import SentJournal
from notify.models import OutboxItem, PushMessage, SmsMessage
from notify.outbox import Outbox
from tests.doubles import processes
from tests.doubles.processes import (
    Process,
    RecordFile,
    start_double,
    start_fcm_double,
    start_serve,
    stop,
)
from tests.doubles.twilio import ACCOUNT_SID, AUTH_TOKEN

SMS_COUNT = 1500
PUSH_COUNT = 2500
HOTLINE = "+8419001075"
PROJECT = "canhbao-crash"
# A guard against a hang, not a speed target: on a loaded 2-core machine start-up alone
# takes 15-20 s, and the restart then sends 4,000 messages (test_fanout_crash uses 120 s too).
DEADLINE_S = 120.0


@dataclass
class Doubles:
    twilio_port: int
    fcm_port: int
    credentials: Path
    sms: RecordFile
    push: RecordFile


@pytest.fixture
async def doubles(tmp_path: Path) -> AsyncIterator[Doubles]:
    """The Twilio and FCM doubles, each in its own process, outliving the app's restarts."""
    twilio, twilio_port = await start_double("tests.doubles.twilio", tmp_path / "twilio.jsonl")
    try:
        fcm, fcm_port, credentials = await start_fcm_double(tmp_path, PROJECT)
        try:
            yield Doubles(
                twilio_port,
                fcm_port,
                credentials,
                RecordFile(tmp_path / "twilio.jsonl"),
                RecordFile(tmp_path / "fcm.jsonl"),
            )
        finally:
            await stop(fcm)
    finally:
        await stop(twilio)


def write_config(tmp_path: Path, doubles: Doubles) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[server]
host = "127.0.0.1"
port = 0
shutdown_timeout_s = 5.0

[database]
path = "canhbao.sqlite3"

[push]
provider = "firebase"

[push.firebase]
project_id = "{PROJECT}"
endpoint = "http://127.0.0.1:{doubles.fcm_port}"

[telephony]
provider = "twilio"

[telephony.twilio]
api_base_url = "http://127.0.0.1:{doubles.twilio_port}"

[outbox]
concurrency = 50
batch_size = 200
# Paced so the kill lands mid-stream: about three seconds of work per channel.
sms_per_second = 500.0
push_per_minute = 50000

[log]
level = "INFO"
format = "json"
""",
        encoding="utf-8",
    )
    return path


def sms_key(n: int) -> str:
    return f"sms-{n:05d}"


def push_key(n: int) -> str:
    return f"push-{n:05d}"


async def enqueue_everything(database: Path) -> None:
    """Fill the outbox before the app starts, as an issued alert would."""
    db = Database(database)
    await db.open()
    try:
        await db.migrate(all_migrations())
        items = [
            OutboxItem(
                "sms",
                SmsMessage(
                    to=f"+8490{n:07d}", body=f"Cảnh báo lũ, sơ tán #{sms_key(n)}", sender=HOTLINE
                ),
                sms_key(n),
                "crash",
            )
            for n in range(SMS_COUNT)
        ] + [
            OutboxItem(
                "push",
                PushMessage(
                    target_kind="token",
                    target=f"crash-token-{n:06d}-" + "x" * 20,
                    title="Cảnh báo lũ",
                    body="Báo động III tại Kim Long",
                    data={"key": push_key(n)},
                    collapse_key="crash-alert",
                    tag=push_key(n),
                ),
                push_key(n),
                "crash",
            )
            for n in range(PUSH_COUNT)
        ]
        assert await Outbox(db, SystemClock()).enqueue(items) == SMS_COUNT + PUSH_COUNT
    finally:
        await db.close()


async def start_app(tmp_path: Path, config: Path, doubles: Doubles, run: int) -> Process:
    env = {
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "CANHBAO_FIREBASE_CREDENTIALS": str(doubles.credentials),
    }
    return await start_serve(tmp_path, config, env, f"serve-{run}")


def outbox_rows(database: Path) -> dict[str, sqlite3.Row]:
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    connection.row_factory = sqlite3.Row
    try:
        return {
            row["idempotency_key"]: row
            for row in connection.execute(
                "SELECT id, idempotency_key, channel, status, provider_id FROM outbox"
            )
        }
    finally:
        connection.close()


def sms_keys(entries: list[dict[str, Any]]) -> Counter[str]:
    return Counter(entry["resource"]["body"].rsplit("#", 1)[1] for entry in entries)


def push_keys(entries: list[dict[str, Any]]) -> Counter[str]:
    return Counter(entry["message"]["data"]["key"] for entry in entries)


async def wait_until(app: Process, condition: Any, what: str, pause: float = 0.01) -> None:
    await processes.wait_until(app, condition, what, DEADLINE_S, pause)


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_sigkill_mid_send_then_restart_sends_everything_and_no_sms_twice(
    tmp_path: Path, doubles: Doubles
) -> None:
    """What is guaranteed after `canhbao serve` is SIGKILLed mid-send and started again:

    - every SMS reaches Twilio exactly once: rows the dead process left `sending` are marked
      sent with the SID Twilio gave, from the sent journal when the send had finished, else by
      looking them up at Twilio on start (find_sms);
    - every push reaches FCM at least once; a push can arrive twice only if its row was
      `sending` at the kill and its send had not finished (FCM has no lookup), and both copies
      carry the same notification tag and APNs collapse id, so the phone shows it once;
    - every row ends `sent`, an SMS row with the SID of its one Twilio message.
    """
    config = write_config(tmp_path, doubles)
    database = tmp_path / "canhbao.sqlite3"
    await enqueue_everything(database)

    def journaled_ids() -> set[int]:
        """Rows whose send the app had finished (the sent journal it appends to)."""
        journal = SentJournal(tmp_path / "canhbao.sqlite3-sent")
        try:
            return set(journal.entries())
        finally:
            journal.close()

    first = await start_app(tmp_path, config, doubles, 1)
    try:

        def under_way() -> bool:
            sms, push = len(doubles.sms.read()), len(doubles.push.read())
            return sms >= SMS_COUNT // 10 and push >= PUSH_COUNT // 10

        await wait_until(first, under_way, "the first messages arrived")

        def caught_mid_send() -> bool:
            """Freeze the app; True (and stay frozen) if it holds, for each channel, a row that
            is `sending` in the database and already at the provider, but whose answer the app
            has not yet had (not in the sent journal): the case only recovery can settle."""
            first.process.send_signal(signal.SIGSTOP)
            rows = outbox_rows(database)
            journaled = journaled_ids()
            sending = {
                k
                for k, row in rows.items()
                if row["status"] == "sending" and row["id"] not in journaled
            }
            at_twilio = sending & set(sms_keys(doubles.sms.read()))
            at_fcm = sending & set(push_keys(doubles.push.read()))
            if at_twilio and at_fcm:
                return True
            first.process.send_signal(signal.SIGCONT)
            return False

        await wait_until(first, caught_mid_send, "a moment with sends unrecorded", pause=0.02)
        first.process.send_signal(signal.SIGKILL)
        await first.process.wait()
    finally:
        await stop(first.process)
    assert first.process.returncode == -signal.SIGKILL

    at_kill = outbox_rows(database)
    sending_at_kill = {key for key, row in at_kill.items() if row["status"] == "sending"}
    delivered_at_kill = set(sms_keys(doubles.sms.read())) | set(push_keys(doubles.push.read()))
    unrecorded_at_kill = sending_at_kill & delivered_at_kill
    assert any(key.startswith("sms-") for key in unrecorded_at_kill)
    assert any(key.startswith("push-") for key in unrecorded_at_kill)
    assert any(row["status"] == "queued" for row in at_kill.values())
    journaled = journaled_ids()
    journaled_at_kill = {k for k in sending_at_kill if at_kill[k]["id"] in journaled}

    second = await start_app(tmp_path, config, doubles, 2)
    try:

        def drained() -> bool:
            rows = outbox_rows(database)
            done = all(row["status"] == "sent" for row in rows.values())
            sms, push = sms_keys(doubles.sms.read()), push_keys(doubles.push.read())
            return done and len(sms) == SMS_COUNT and len(push) == PUSH_COUNT

        await wait_until(second, drained, "the outbox drained")
        second.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(DEADLINE_S):
            await second.process.wait()
    finally:
        await stop(second.process)
    assert second.process.returncode == 0, second.tail()

    sms_entries = doubles.sms.read()
    sms = sms_keys(sms_entries)
    assert set(sms) == {sms_key(n) for n in range(SMS_COUNT)}
    assert [key for key, count in sms.items() if count > 1] == []

    push_entries = doubles.push.read()
    push = push_keys(push_entries)
    assert set(push) == {push_key(n) for n in range(PUSH_COUNT)}
    repeated = {key for key, count in push.items() if count > 1}
    assert repeated <= sending_at_kill - journaled_at_kill
    assert all(count <= 2 for count in push.values())
    for entry in push_entries:
        key = entry["message"]["data"]["key"]
        if key in repeated:
            assert entry["message"]["android"]["notification"]["tag"] == key
            assert entry["message"]["apns"]["headers"]["apns-collapse-id"] == key

    final = outbox_rows(database)
    sid_of = {
        entry["resource"]["body"].rsplit("#", 1)[1]: entry["resource"]["sid"]
        for entry in sms_entries
    }
    for key, row in final.items():
        assert row["status"] == "sent", key
        if row["channel"] == "sms":
            assert row["provider_id"] == sid_of[key], key

    # The second start settled exactly the rows the first left in flight, and said so.
    recovered = [
        json.loads(line)
        for line in second.log.read_text(encoding="utf-8").splitlines()
        if '"outbox recovered rows left sending"' in line
    ]
    assert len(recovered) == 1, "the kill left no row in flight: nothing was tested"
    report = recovered[0]
    assert report["requeued"] + report["reconciled"] == len(sending_at_kill)
    assert report["unresolved"] == 0
    assert report["journaled"] == len(journaled_at_kill)
    # Looked up at Twilio: SMS rows in flight whose answer the app never had (at least the one
    # the kill was timed for reached Twilio all the same).
    sms_unfinished = {k for k in sending_at_kill - journaled_at_kill if k.startswith("sms-")}
    assert 1 <= report["reconciled"] - report["journaled"] <= len(sms_unfinished)
    assert repeated, "no push was in flight at the kill: the resend path went untested"
