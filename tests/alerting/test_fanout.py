"""Large fan-outs: a first batch with the issue, the rest in resumable batches."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from alerting.delivery import Delivery
from alerting.fanout import FanoutRunner
from alerting.keys import ALERTING, ALERTING_FANOUT
from canhbao import keys
from canhbao.clock import utc_text
from canhbao.config import Config
from tests.alerting.conftest import Client
from tests.alerting.test_delivery import INSIDE_SQUARE, body
from tests.alerting.test_workflow import issue, step
from tests.conftest import AppClient, StaffFactory, StaffLogin
from tests.geofences.conftest import Register, eventually, load_hue, manual_jobs

DEVICES = 11
FIRST = 3
BATCH = 4


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return manual_jobs(tmp_path)


async def start(app_client: AppClient, config: Config) -> tuple[Client, Delivery, FanoutRunner]:
    """The app with its background fan-out runner stopped: the test runs batches itself."""
    client = await app_client(config=config)
    assert client.app is not None
    runner = client.app[ALERTING_FANOUT]
    await runner.stop()
    delivery = client.app[ALERTING].fanout
    assert isinstance(delivery, Delivery)
    delivery.FIRST_DEVICES, delivery.BATCH = FIRST, BATCH
    app = client.app
    runner = FanoutRunner(
        delivery, app[keys.DB], app[keys.CLOCK], app[keys.HEALTH], CollectorRegistry()
    )
    return client, delivery, runner


async def token_rows(client: Client, identifier: str) -> Counter[str]:
    """Outbox rows of an alert's per-token pushes, by idempotency key."""
    assert client.app is not None
    rows = await client.app[keys.DB].fetch_all(
        "SELECT idempotency_key FROM outbox WHERE reference = ? AND idempotency_key LIKE ?",
        (identifier, f"{identifier}:push:%"),
    )
    return Counter(row["idempotency_key"] for row in rows)


async def progress(login: StaffLogin, identifier: str) -> dict[str, Any]:
    report = await (await login.get(f"/api/v1/alerts/{identifier}/delivery")).json()
    fanout: dict[str, Any] = report["fanout"]
    return fanout


async def issued_alert(
    client: Client, staff: StaffFactory, register: Register
) -> tuple[StaffLogin, StaffLogin, str]:
    await load_hue(client)
    for _ in range(DEVICES):
        await register(client, at=INSIDE_SQUARE)
    lan = await staff(client, "lan", roles=["issuer"])
    minh = await staff(client, "minh", roles=["approver"])
    created = await lan.post("/api/v1/alerts", json=body())
    assert created.status == 201, await created.text()
    identifier = (await created.json())["identifier"]
    issued = await issue(lan, minh, identifier)
    assert issued["plan"]["messages"]["token"] == DEVICES
    return lan, minh, identifier


async def test_the_issue_commits_a_first_batch_and_the_runner_enqueues_the_rest(
    app_client: AppClient, config: Config, staff: StaffFactory, register: Register
) -> None:
    client, _, runner = await start(app_client, config)
    lan, _, identifier = await issued_alert(client, staff, register)

    # Sending can start before the rest of the recipients are written.
    assert len(await token_rows(client, identifier)) == FIRST
    assert await progress(lan, identifier) == {
        "devices": DEVICES,
        "devices_enqueued": FIRST,
        "contacts": 0,
        "contacts_enqueued": 0,
        "started_at": (await progress(lan, identifier))["started_at"],
        "finished_at": None,
        "outcome": None,
    }

    metrics = await (await client.get("/metrics")).text()
    assert "alerting_fanouts_enqueueing 1.0" in metrics
    assert f"alerting_fanout_recipients_left {DEVICES - FIRST}.0" in metrics

    assert await runner.run_pending() == 2  # 3 + 4 + 4
    rows = await token_rows(client, identifier)
    assert len(rows) == DEVICES
    assert set(rows.values()) == {1}
    done = await progress(lan, identifier)
    assert done["devices_enqueued"] == DEVICES
    assert done["outcome"] == "complete"
    assert done["finished_at"] is not None
    assert await runner.run_pending() == 0
    metrics = await (await client.get("/metrics")).text()
    assert "alerting_fanouts_enqueueing 0.0" in metrics
    assert "alerting_fanout_recipients_left 0.0" in metrics
    # Every message ends with the warning: none is sent after it expires.
    assert client.app is not None
    expires = (await client.app[ALERTING].get(identifier)).alert.expires
    assert expires is not None
    limits = await client.app[keys.DB].fetch_all(
        "SELECT DISTINCT not_after FROM outbox WHERE reference = ?", (identifier,)
    )
    assert [row["not_after"] for row in limits] == [utc_text(expires)]


async def test_a_running_fanout_reads_its_frozen_targets_once_not_per_batch(
    app_client: AppClient, config: Config, staff: StaffFactory, register: Register
) -> None:
    """100,000 devices' targets are 800 kB: read (and the alert's JSON parsed) once per fan-out,
    while each batch still sees the alert's state as it is now."""
    client, delivery, runner = await start(app_client, config)
    lan, _, identifier = await issued_alert(client, staff, register)
    delivery.BATCH = 2  # 8 devices left: 4 batches
    assert client.app is not None
    db = client.app[keys.DB]
    statements: list[str] = []
    await db.reader.set_trace_callback(statements.append)
    try:
        assert await runner.run_pending() == 4
    finally:
        await db.reader.set_trace_callback(None)
    targets = [s for s in statements if "device_ids, contact_ids" in s]
    assert len(targets) == 1, targets
    documents = [s for s in statements if "document" in s and "alerting_alerts" in s]
    assert len(documents) == 1, documents
    rows = await token_rows(client, identifier)
    assert len(rows) == DEVICES
    assert set(rows.values()) == {1}
    assert (await progress(lan, identifier))["outcome"] == "complete"


async def test_a_restart_resumes_a_fanout_where_its_last_batch_committed(
    app_client: AppClient,
    config: Config,
    staff: StaffFactory,
    register: Register,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client, _, runner = await start(app_client, config)
    _, _, identifier = await issued_alert(client, staff, register)
    assert await runner.run_pending() == 2
    # As a process killed after its first batch leaves it: the batches after it not written.
    assert client.app is not None
    async with client.app[keys.DB].transaction() as conn:
        await conn.execute(
            "UPDATE alerting_fanout SET devices_done = ?, finished_at = NULL, outcome = NULL",
            (FIRST + BATCH,),
        )
        await conn.execute(
            "DELETE FROM outbox WHERE reference = ? AND id NOT IN"
            " (SELECT id FROM outbox WHERE reference = ? ORDER BY id LIMIT ?)",
            (identifier, identifier, 2 + FIRST + BATCH),  # the conditions (vi, en), then tokens
        )
    assert len(await token_rows(client, identifier)) == FIRST + BATCH
    await client.close()

    again = await app_client(config=config)  # its runner starts and resumes at once
    await eventually(lambda: _complete(again, identifier))
    rows = await token_rows(again, identifier)
    assert len(rows) == DEVICES
    assert set(rows.values()) == {1}
    assert "alert fan-outs resumed after a restart" in caplog.text


async def _complete(client: Client, identifier: str) -> bool:
    assert client.app is not None
    row = await client.app[keys.DB].fetch_one(
        "SELECT outcome FROM alerting_fanout WHERE identifier = ?", (identifier,)
    )
    return row is not None and row["outcome"] == "complete"


async def test_a_cancel_withdraws_what_its_warning_has_not_sent_and_reaches_everyone(
    app_client: AppClient, tmp_path: Path, staff: StaffFactory, register: Register
) -> None:
    # Pushes paced to one a minute: the warning's messages are still waiting when it is
    # cancelled (as in a large fan-out, or a warning issued by mistake and cancelled at once).
    slow = manual_jobs(tmp_path, {"outbox": {"push_per_minute": 1}})
    client, _, runner = await start(app_client, slow)
    lan, minh, identifier = await issued_alert(client, staff, register)

    derived = await lan.post(f"/api/v1/alerts/{identifier}/cancel", json={})
    assert derived.status == 201, await derived.text()
    cancel = (await derived.json())["identifier"]
    await step(lan, cancel, "submit")
    await step(minh, cancel, "approve")
    await step(minh, cancel, "issue")

    # At once, in the Cancel's own transaction: the fan-out ends, unsent messages never go.
    stopped = await progress(lan, identifier)
    assert stopped["outcome"] == "superseded"
    assert stopped["devices_enqueued"] == FIRST  # no first delivery of a cancelled warning
    report = await (await lan.get(f"/api/v1/alerts/{identifier}/delivery")).json()
    withdrawn = report["failures"].get("push", {}).get("SUPERSEDED", 0)
    sent_or_sending = sum(
        n for status, n in report["channels"]["push"].items() if status in ("sent", "sending")
    )
    assert report["channels"]["push"].get("queued", 0) == 0
    assert withdrawn + sent_or_sending == FIRST + 2  # the tokens and both language conditions
    assert withdrawn >= FIRST  # at most the conditions (first in line) got out

    await runner.run_pending()
    assert len(await token_rows(client, identifier)) == FIRST
    finished = await progress(lan, cancel)
    assert finished["outcome"] == "complete"
    assert len(await token_rows(client, cancel)) == DEVICES


async def test_a_fanout_that_cannot_go_on_shows_in_health_and_recovers(
    app_client: AppClient, config: Config, staff: StaffFactory, register: Register
) -> None:
    client, _, runner = await start(app_client, config)
    _, _, identifier = await issued_alert(client, staff, register)
    assert client.app is not None
    db = client.app[keys.DB]
    # Targets no one can read (a torn write, a bad restore): the batch fails, and keeps failing.
    async with db.transaction() as conn:
        good = await (
            await conn.execute(
                "SELECT device_ids FROM alerting_fanout WHERE identifier = ?", (identifier,)
            )
        ).fetchone()
        await conn.execute("UPDATE alerting_fanout SET device_ids = x'00'")
    health = client.app[keys.HEALTH].components
    runner.start()
    try:
        await eventually(lambda: _status(health, "failing"))
        assert not health["alerting.fanout"].critical
        async with db.transaction() as conn:
            await conn.execute("UPDATE alerting_fanout SET device_ids = ?", (good[0],))
        runner.kick()
        await eventually(lambda: _status(health, "ok"))
        await eventually(lambda: _complete(client, identifier))
    finally:
        await runner.stop()


async def _status(health: Any, status: str) -> bool:
    return bool(health["alerting.fanout"].status == status)
