"""After-action report: how long building the report (every figure, and the HTML page with
its chart) takes over the full November scenario's volume, beside its anchor: reading the same
tables' rows straight, one SELECT each, with nothing computed.

The database: the real VNDMS readings of Kim Long and Phú Ốc over the scenario's 72 flood
hours (from ../shared/data), each upward báo động crossing with its auto-drafted warning issued
to 2,000 devices (2,000 push messages sent over a minute), the scenario's 237 calls (44 queued
for an operator, 22 hanging up and called back), 69 rescue requests resolved at various speeds
and a few escalations. Rows are written straight into the tables (a bench, not a test: the
tests build theirs through the domains' real paths).
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alerting.json_form import alert_to_dict
from alerting.models import Alert, Info
from canhbao.adapters.report import report_sources
from canhbao.app import all_migrations
from canhbao.clock import utc_text
from canhbao.config import parse_config
from canhbao.db import Database
from exercises.report.models import Window
from exercises.report.service import build_report
from feeds import store as feeds_store
from feeds.sources import SOURCE_NAMES
from feeds.sources.replay import parse as parse_replay
from feeds.stations import from_config

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "feeds"
CSV = DATA / "vn_vndms_kimlong_phuoc_2025-11_derived.csv"
START = datetime(2025, 11, 15, 23, 0, tzinfo=UTC)  # 2025-11-16 06:00 +07:00
END = START + timedelta(hours=72)
DEVICES = 2_000
CALLS = 237
QUEUED = 44
HANG_UPS = 22
REQUESTS = 69
ROUNDS = 7


async def _fill(db: Database) -> dict[str, int]:
    config = parse_config({})
    stations = {s.id: from_config(s, SOURCE_NAMES) for s in config.feeds.stations}
    await feeds_store.sync_config_stations(db, list(stations.values()), START)
    observations, _ = parse_replay(CSV.read_text(encoding="utf-8"))
    rng = random.Random(16)
    readings, events, alerts, outbox, audit, keys = [], [], [], [], [], []
    bands: dict[str, int] = {}
    for o in observations:
        if o.value is None or not START <= o.observed_at <= END or o.source_id not in stations:
            continue
        at = utc_text(o.observed_at)
        readings.append((o.source_id, "water_level", at, o.value, 1, "", "replay", 0, at, 0))
        limits = stations[o.source_id].thresholds
        assert limits is not None
        band = sum(o.value >= level for level in limits.levels()[:3])
        before = bands.get(o.source_id, 0)
        bands[o.source_id] = band
        if band <= before:
            continue
        events.append((o.source_id, "river_band", before, band, o.value, at, at))
        if band < 2:
            continue
        identifier = f"2.49.0.1.704.46.{len(alerts) + 1}"
        created = o.observed_at + timedelta(seconds=rng.uniform(1, 30))
        approved = created + timedelta(seconds=rng.uniform(60, 600))
        issued = approved + timedelta(seconds=rng.uniform(5, 60))
        info = Info("vi-VN", ("Met",), "Lũ trên sông", "Immediate", "Severe", "Observed",
                    headline=f"Trạm {o.source_id} vượt báo động {band}")  # fmt: skip
        document = alert_to_dict(
            Alert(identifier, "pctt.hue.gov.vn", issued.replace(microsecond=0), "Exercise",
                  "Alert", infos=(info,))
        )  # fmt: skip
        plan = {"totals": {"devices": DEVICES, "by_topic": 0, "by_token": DEVICES}, "areas": []}
        alerts.append((identifier, json.dumps(document), json.dumps(plan), utc_text(created),
                       utc_text(issued)))  # fmt: skip
        keys.append(
            (f"{o.source_id}:river_band:{before}>{band}:{at}", identifier, utc_text(created))
        )
        audit += [
            (utc_text(approved), "user:minh", "alert.approve", identifier),
            (utc_text(issued), "user:minh", "alert.issue", identifier),
        ]
        for device in range(DEVICES):
            sent = utc_text(issued + timedelta(seconds=rng.uniform(0.5, 60)))
            payload = json.dumps({"target_kind": "token", "target": f"tok-{device}"})
            outbox.append((f"{identifier}:push:{device}", payload, identifier, sent))
    calls, tasks, attempts, requests, escalations = [], [], [], [], []
    span = (END - START).total_seconds()
    for n in range(CALLS):
        received = START + timedelta(seconds=rng.uniform(0, span))
        queued = n < QUEUED
        hung_up = QUEUED <= n < QUEUED + HANG_UPS
        wait = rng.uniform(0, 40) if queued else None
        ended = received + timedelta(seconds=rng.uniform(20, 300))
        outcome = "handled" if queued else "abandoned" if hung_up else "informed"
        calls.append((f"CA{n:032d}", f"+8490{n:07d}", utc_text(received), utc_text(received),
                       utc_text(ended), utc_text(received) if queued else None, wait, outcome,
                       n + 1 if hung_up else None, utc_text(ended)))  # fmt: skip
        if hung_up:
            back = ended + timedelta(seconds=rng.uniform(100, 200))
            tasks.append((n + 1, f"+8490{n:07d}", f"CA{n:032d}", utc_text(ended)))
            attempts.append((n + 1, utc_text(back), "reached" if n % 2 else "no-answer"))
    for n in range(REQUESTS):
        created = START + timedelta(seconds=rng.uniform(0, span))
        accepted = created + timedelta(seconds=rng.uniform(30, 900))
        on_scene = accepted + timedelta(seconds=rng.uniform(600, 3600))
        resolved = on_scene + timedelta(seconds=rng.uniform(600, 7200))
        water = ("roof", "chest", "ground_floor")[n % 3]
        requests.append((n + 1, str(1001 + n), f"+8491{n:07d}", water,
                         utc_text(created), utc_text(accepted), utc_text(on_scene),
                         utc_text(resolved)))  # fmt: skip
        if n % 12 == 0:
            escalations.append((n + 1, utc_text(created + timedelta(minutes=3)), None))
    async with db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO feeds_readings (station_id, parameter, observed_at, value, flag,"
            " reasons, source, interval_s, ingested_at, revision)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", readings)  # fmt: skip
        await conn.executemany(
            "INSERT INTO feeds_events (station_id, kind, from_level, to_level, value,"
            " observed_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)", events)  # fmt: skip
        await conn.executemany(
            "INSERT INTO alerting_alerts (identifier, state, msg_type, status, chain, origin,"
            " document, author, plan, created_at, updated_at, sent) VALUES"
            " (?1, 'issued', 'Alert', 'Exercise', ?1, 'auto', ?2, 'system:auto', ?3, ?4, ?5, ?5)",
            alerts)  # fmt: skip
        await conn.executemany(
            "INSERT INTO alerting_auto_events (event_key, identifier, created_at)"
            " VALUES (?, ?, ?)", keys)  # fmt: skip
        await conn.executemany(
            "INSERT INTO audit_log (at, actor, action, entity, entity_id)"
            " VALUES (?, ?, ?, 'alert', ?)", audit)  # fmt: skip
        await conn.executemany(
            "INSERT INTO outbox (idempotency_key, channel, payload, reference, priority, status,"
            " next_attempt_at, created_at, updated_at, sent_at)"
            " VALUES (?1, 'push', ?2, ?3, 10, 'sent', ?4, ?4, ?4, ?4)", outbox)  # fmt: skip
        await conn.executemany(
            "INSERT INTO hotline_callbacks (id, phone, reason, source_call_sid, status,"
            " created_at, updated_at) VALUES (?1, ?2, 'abandoned', ?3, 'closed', ?4, ?4)",
            tasks)  # fmt: skip
        await conn.executemany(
            "INSERT INTO hotline_callback_attempts (task_id, number, outcome, started_at)"
            " VALUES (?1, 1, ?3, ?2)", attempts)  # fmt: skip
        await conn.executemany(
            "INSERT INTO hotline_calls (sid, kind, from_number, received_at, answered_at,"
            " ended_at, enqueued_at, queue_wait_s, outcome, callback_task_id, updated_at)"
            " VALUES (?1, 'inbound', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)", calls)  # fmt: skip
        await conn.executemany(
            "INSERT INTO dispatch_requests (id, number, source, caller, water, state,"
            " created_at, updated_at, state_changed_at, accepted_at, on_scene_at, resolved_at)"
            " VALUES (?1, ?2, 'call', ?3, ?4, 'resolved', ?5, ?8, ?8, ?6, ?7, ?8)",
            requests)  # fmt: skip
        await conn.executemany(
            "INSERT INTO dispatch_escalations (request_id, escalated_at, failed_offers, reason,"
            " cleared_at) VALUES (?, ?, 3, 'no team answered', ?)", escalations)  # fmt: skip
    return {
        "readings": len(readings),
        "crossings": len(events),
        "warnings": len(alerts),
        "push messages": len(outbox),
        "calls": len(calls),
        "rescue requests": len(requests),
    }


TABLES = (
    "feeds_stations", "feeds_readings", "feeds_events", "alerting_alerts", "alerting_auto_events",
    "audit_log", "outbox", "hotline_calls", "hotline_callback_attempts", "dispatch_requests",
    "dispatch_escalations",
)  # fmt: skip


async def _run() -> None:
    with tempfile.TemporaryDirectory() as folder:
        db = Database(Path(folder) / "aar.sqlite3")
        await db.open()
        try:
            await db.migrate(all_migrations())
            held = await _fill(db)
            print("database: " + ", ".join(f"{v:,} {k}" for k, v in held.items()))
            sources = report_sources(db)
            window = Window(START, END)
            built, raw = [], []
            for _ in range(ROUNDS):
                started = time.perf_counter()
                figures, page = await build_report(sources, window)
                built.append(time.perf_counter() - started)
                started = time.perf_counter()
                for table in TABLES:
                    await db.fetch_all(f"SELECT * FROM {table}")  # noqa: S608  # our own names
                raw.append(time.perf_counter() - started)
            report, anchor = statistics.median(built), statistics.median(raw)
            assert figures["calls"]["offered"] == CALLS
            print(  # the bench's report
                f"report (figures + HTML, {len(page) / 1024:.0f} KiB):"
                f" median {report * 1000:.0f} ms"
                f" of {ROUNDS}\nanchor, the same tables read raw: median {anchor * 1000:.0f} ms"
                f"\nratio report / anchor: {report / anchor:.2f}"
            )
        finally:
            await db.close()


def main() -> None:
    asyncio.run(_run())
