"""Approval to first FCM send, and the whole fan-out, for a warning over 100,000 devices.

The real app (geofences index, alerting workflow, outbox, FirebasePush) sends to the FCM double in
its own process. The figure the issue names is the time from the approver's "issue" to the first
message the double accepts, against its target of 1 s; the fan-out rate is shown beside
firebase-admin's own send_each_async on the same double (the anchor of bench.outbox).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import shapely
from aiohttp import web

from alerting.keys import ALERTING
from alerting.models import Alert, Area, Info
from bench.geofences import SEED, build_database, flood_polygon, hue_wards
from bench.outbox import PROJECT, anchor_send_each_async, fcm_double
from canhbao.app import create_app
from canhbao.config import parse_config
from notify import keys as notify_keys
from tests.doubles.credentials import write_service_account

DEVICES = 100_000
RUNS = 3
TARGET_FIRST_SEND_S = 1.0


def devices_in_flood(rng: np.random.Generator) -> tuple[Any, Any, Any, list[Any]]:
    """DEVICES points spread uniformly over the flood polygon, each with its ward."""
    wards = hue_wards()
    flood = flood_polygon()
    minx, miny, maxx, maxy = flood.bounds
    xs, ys, ward_index = [], [], []
    have = 0
    while have < DEVICES:
        x = rng.uniform(minx, maxx, DEVICES)
        y = rng.uniform(miny, maxy, DEVICES)
        index = np.full(x.size, -1)
        for i, ward in enumerate(wards):
            index[shapely.intersects_xy(ward.geometry, x, y)] = i
        keep = shapely.intersects_xy(flood, x, y) & (index >= 0)
        xs.append(x[keep])
        ys.append(y[keep])
        ward_index.append(index[keep])
        have += int(keep.sum())
    return (
        np.concatenate(xs)[:DEVICES],
        np.concatenate(ys)[:DEVICES],
        np.concatenate(ward_index)[:DEVICES],
        wards,
    )


def flood_alert() -> Alert:
    # Our CAP profile allows 250 points with the closing one: drop one of the 250 vertices.
    coords = list(flood_polygon().exterior.coords)[:249]
    ring = tuple((round(lat, 5), round(lon, 5)) for lon, lat in [*coords, coords[0]])
    sent = datetime.now(UTC).replace(microsecond=0)
    info = Info(
        language="vi-VN",
        categories=("Met",),
        event="Lũ trên sông Hương",
        urgency="Immediate",
        severity="Severe",
        certainty="Observed",
        response_types=("Evacuate",),
        expires=sent + timedelta(hours=6),
        headline="Cảnh báo lũ: sông Hương tại Kim Long vượt báo động III",
        description="Mực nước tại Kim Long 3,8 m và đang lên.",
        instruction="Di chuyển người và tài sản đến nơi cao, an toàn ngay.",
        contact="1900 1075",
        areas=(Area("Hai bờ sông Hương, trung tâm Huế", polygons=(ring,)),),
    )
    return Alert(
        identifier="pending",
        sender="pctt.hue.gov.vn",
        sent=sent,
        status="Actual",
        msg_type="Alert",
        infos=(info,),
    )


async def one_run(database: Path, base: str, credentials: Path) -> tuple[float, float, int]:
    """(seconds from issue to first accepted message, seconds to drain, messages sent)."""
    os.environ["CANHBAO_FIREBASE_CREDENTIALS"] = str(credentials)
    config = parse_config(
        {
            "database": {"path": str(database)},
            "log": {"level": "WARNING"},
            "push": {
                "provider": "firebase",
                "firebase": {"project_id": PROJECT, "endpoint": base},
            },
            # The shipped [outbox] settings: the figures are what a deployment gets.
        }
    )
    app = create_app(config)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        workflow = app[ALERTING]
        stored = await workflow.create(flood_alert(), actor="user:bench-issuer")
        await workflow.submit(stored.identifier, actor="user:bench-issuer")
        await workflow.approve(stored.identifier, actor="user:bench-approver")
        async with aiohttp.ClientSession() as session:
            before = await _accepted(session, base)
            started = time.perf_counter()
            issuing = asyncio.ensure_future(
                workflow.issue(stored.identifier, actor="user:bench-approver")
            )
            # The double is another process: polling its counter is the only way to see it.
            while await _accepted(session, base) == before:  # noqa: ASYNC110  # see above
                await asyncio.sleep(0.002)
            first = time.perf_counter() - started
            await issuing
            outbox = app[notify_keys.OUTBOX]
            while True:
                counts = await outbox.counts(stored.identifier)
                pending = sum(
                    n for by in counts.values() for s, n in by.items() if s in ("queued", "sending")
                )
                if not pending:
                    break
                await asyncio.sleep(0.02)
            drained = time.perf_counter() - started
            sent = sum(by.get("sent", 0) for by in counts.values())
        return first, drained, sent
    finally:
        await runner.cleanup()


async def _accepted(session: aiohttp.ClientSession, base: str) -> int:
    async with session.get(f"{base}/_double/stats") as response:
        return int((await response.json())["accepted"])


def main() -> None:
    rng = np.random.default_rng(SEED)
    x, y, ward_index, wards = devices_in_flood(rng)
    with tempfile.TemporaryDirectory(prefix="canhbao-alerting-") as tmp, fcm_double() as base:
        workdir = Path(tmp)
        credentials = write_service_account(workdir / "sa.json", f"{base}/token", PROJECT)
        template = build_database(workdir, x, y, ward_index, wards)
        firsts, drains, rates, sent = [], [], [], 0
        for run in range(RUNS):
            database = workdir / f"run-{run}.sqlite3"
            database.write_bytes(template.read_bytes())
            first, drained, sent = asyncio.run(one_run(database, base, credentials))
            firsts.append(first)
            drains.append(drained)
            rates.append(sent / drained)
        anchor = anchor_send_each_async(base, credentials)
    first, drained, rate = (statistics.median(v) for v in (firsts, drains, rates))
    print(f"warning over {DEVICES:,} devices in the flood polygon: {sent:,} FCM messages a run")
    verdict = "met" if first <= TARGET_FIRST_SEND_S else "MISSED"
    print(
        f"issue → first message accepted by FCM: {first:.2f} s"
        f"  = {first / TARGET_FIRST_SEND_S:.2f}× the 1 s target [{verdict}]"
    )
    print(
        f"issue → every message handed to FCM: {drained:.1f} s ({rate:,.0f} msg/s)"
        f"  = {rate / anchor:.1f}× firebase-admin send_each_async ({anchor:,.0f} msg/s)"
    )
    print(f"(medians of {RUNS} runs; first-send runs {[round(f, 2) for f in firsts]})")


if __name__ == "__main__":
    main()
