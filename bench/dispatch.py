"""Dispatch: the recommendation round for 1,000 open requests and 100 teams, and the latency
from offering a request to its messages being sent through the outbox.

1. Recommendation: dispatch.recommend (vectorised: one matrix product for the distances, the
   coverage as a ward matrix and one contains_xy per polygon team) beside recommend_naive, the
   plain loop over every pair, on the same teams and requests in the same run (a third of the
   teams cover anywhere, a third a list of wards, a third a polygon; some positions fresh, some
   stale, some teams off duty or full, some requests excluding teams offered before). Both
   must choose the same teams. Target (issue #12): ≤ 10 ms median.
2. Offer → sent: the real app (create_app, SQLite file, Local push and SMS providers that
   record what they send), a request offered to a team (its push and two SMS committed with
   the offer), timed until every message of the offer is marked sent; beside a single SMS
   enqueued straight into the outbox and timed the same way (the outbox's own latency).
3. Deadline → timed out: 20 offers on the real clock, deadlines 0.1 s apart, timed out by the
   deadline timer (dispatch.deadlines); beside the former job that looked every 2 s, on the
   same app in the same run: how late each offer was timed out.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web

from canhbao import keys
from canhbao.app import create_app
from canhbao.config import parse_config
from dispatch.keys import DISPATCH_REQUESTS
from dispatch.models import NewRequest, Water
from dispatch.recommend import OpenRequest, TeamTable, recommend, recommend_naive
from dispatch.teams import Coverage, Member, Team, TeamDraft
from dispatch.teams_keys import DISPATCH_DEADLINES, DISPATCH_OFFERS, DISPATCH_TEAMS
from notify import keys as notify_keys
from notify.models import OutboxItem, SmsMessage

REQUESTS = 1_000
TEAMS = 100
ROUNDS = 21
NAIVE_ROUNDS = 3
TARGET_MS = 10.0
OFFERS = 30
NOW = datetime(2026, 12, 3, 5, 0, tzinfo=UTC)
FRESH = timedelta(minutes=15)
CAPABILITIES = ("boat", "medical", "truck", "divers")


def _box(lat: float, lon: float, d: float) -> dict[str, object]:
    ring = [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d]]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def _scene(rng: random.Random) -> tuple[list[Team], list[OpenRequest]]:
    wards = [f"hue.ward-{i}" for i in range(40)]
    teams = []
    for index in range(TEAMS):
        lat, lon = 16.35 + rng.random() * 0.25, 107.45 + rng.random() * 0.3
        kind = index % 3
        coverage = (
            Coverage()
            if kind == 0
            else Coverage(tuple(rng.sample(wards, 6)))
            if kind == 1
            else Coverage((), _box(lat, lon, 0.06 + rng.random() * 0.06))
        )
        seen = NOW - timedelta(minutes=rng.randint(0, 40))
        teams.append(
            Team(
                id=index + 1,
                name=f"Đội {index + 1}",
                base_lat=lat,
                base_lon=lon,
                capabilities=frozenset(rng.sample(CAPABILITIES, rng.randint(1, 3))),
                capacity=rng.randint(1, 3),
                coverage=coverage,
                on_duty=rng.random() < 0.85,
                members=(),
                push_token=None,
                last_lat=lat + rng.uniform(-0.02, 0.02),
                last_lon=lon + rng.uniform(-0.02, 0.02),
                last_seen_at=seen,
                token_id=None,
                created_at=NOW,
                updated_at=NOW,
                active_jobs=rng.randint(0, 2),
            )
        )
    requests = [
        OpenRequest(
            id=i + 1,
            number=str(1001 + i),
            lat=16.35 + rng.random() * 0.25,
            lon=107.45 + rng.random() * 0.3,
            ward_code=rng.choice([*wards, None]),
            needs=frozenset(rng.sample(("boat", "medical"), rng.randint(0, 1))),
            excluded=frozenset(rng.sample(range(1, TEAMS + 1), rng.randint(0, 3))),
        )
        for i in range(REQUESTS)
    ]
    return teams, requests


def bench_recommendation() -> None:
    teams, requests = _scene(random.Random(12))
    fast: list[float] = []
    chosen: dict[int, int | None] = {}
    for _ in range(ROUNDS):
        started = time.perf_counter()
        found = recommend(requests, TeamTable(teams, NOW, FRESH))
        fast.append((time.perf_counter() - started) * 1000)
        chosen = {rid: r.team_id for rid, r in found.items()}
    slow: list[float] = []
    plain: dict[int, int | None] = {}
    for _ in range(NAIVE_ROUNDS):
        started = time.perf_counter()
        plain = dict(recommend_naive(requests, teams, NOW, FRESH))
        slow.append((time.perf_counter() - started) * 1000)
    differ = sum(1 for rid in chosen if chosen[rid] != plain[rid])
    fast_ms, slow_ms = statistics.median(fast), statistics.median(slow)
    matched = sum(1 for team_id in chosen.values() if team_id is not None)
    print(
        f"recommendation, {REQUESTS:,} open requests × {TEAMS} teams ({matched} matched):"
        f" median {fast_ms:.2f} ms (p90 {statistics.quantiles(fast, n=10)[-1]:.2f} ms,"
        f" {ROUNDS} rounds) — target ≤ {TARGET_MS:g} ms:"
        f" {'met' if fast_ms <= TARGET_MS else 'MISSED'}"
    )
    print(
        f"  naive loop over every pair: median {slow_ms:.1f} ms ({NAIVE_ROUNDS} rounds);"
        f" vectorised is {slow_ms / fast_ms:.0f}× faster; choices that differ: {differ}"
    )


async def _sent(app: web.Application, keys_like: str, count: int) -> float:
    db = app[keys.DB]
    while True:
        row = await db.fetch_one(
            "SELECT COUNT(*) FROM outbox WHERE idempotency_key LIKE ? AND status = 'sent'",
            (keys_like,),
        )
        if row is not None and row[0] >= count:
            return time.perf_counter()
        await asyncio.sleep(0.0005)


async def bench_offer_latency() -> None:
    with tempfile.TemporaryDirectory() as directory:
        config = parse_config(
            {
                "database": {"path": str(Path(directory) / "bench.sqlite3")},
                "log": {"level": "WARNING"},
                "dispatch": {"offers": {"auto_offer": False}},
            }
        )
        app = create_app(config)
        runner = web.AppRunner(app)
        await runner.setup()
        try:
            registry = app[DISPATCH_TEAMS]
            for index in range(OFFERS):
                await registry.create(
                    TeamDraft(
                        name=f"Đội {index}",
                        base_lat=16.46,
                        base_lon=107.59,
                        capabilities=frozenset({"boat"}),
                        members=(
                            Member("An", f"+849110{index:05d}"),
                            Member("Bình", f"+849120{index:05d}"),
                        ),
                        push_token="bench-team-token-" + "x" * 30 + str(index),
                    ),
                    actor="bench",
                )
            requests = app[DISPATCH_REQUESTS]
            offers = app[DISPATCH_OFFERS]
            offer_ms: list[float] = []
            for index in range(OFFERS):
                request = await requests.create(
                    NewRequest(source="operator", lat=16.4637, lon=107.5909, water=Water.roof),
                    actor="bench",
                )
                started = time.perf_counter()
                offer = await offers.offer(request.id, index + 1, actor="bench")
                done = await _sent(app, f"dispatch:offer:{offer.id}:%", 3)
                offer_ms.append((done - started) * 1000)
            outbox = app[notify_keys.OUTBOX]
            sms_ms: list[float] = []
            for index in range(OFFERS):
                key = f"bench:sms:{index}"
                started = time.perf_counter()
                await outbox.enqueue(
                    [
                        OutboxItem(
                            "sms",
                            SmsMessage(
                                "+84911999999", "Thử nghiệm", config.telephony.hotline_number
                            ),
                            key,
                        )
                    ]
                )
                done = await _sent(app, key, 1)
                sms_ms.append((done - started) * 1000)
        finally:
            await runner.cleanup()
    print(
        f"offer → sent (push + 2 SMS, Local providers, {OFFERS} offers): median"
        f" {statistics.median(offer_ms):.1f} ms, max {max(offer_ms):.1f} ms"
    )
    print(
        f"  one SMS enqueued straight into the outbox → sent: median"
        f" {statistics.median(sms_ms):.1f} ms, max {max(sms_ms):.1f} ms"
        f" (offer/outbox ratio {statistics.median(offer_ms) / statistics.median(sms_ms):.1f}×)"
    )


DEADLINE_OFFERS = 20
DEADLINE_ACK_S = 1.0
DEADLINE_SPREAD_S = 0.1  # between two offers: their deadlines fall 0.1 s apart
OLD_POLL_S = 2.0  # the former deadline job's interval (before the timer)


async def _lateness(app: web.Application, first_offer: int) -> list[float]:
    rows = await app[keys.DB].fetch_all(
        "SELECT expires_at, ended_at FROM dispatch_offers WHERE id >= ? AND status = 'timed_out'",
        (first_offer,),
    )
    return [
        (
            datetime.fromisoformat(r["ended_at"]) - datetime.fromisoformat(r["expires_at"])
        ).total_seconds()
        * 1000
        for r in rows
    ]


async def _offer_batch(app: web.Application) -> int:
    """DEADLINE_OFFERS requests offered DEADLINE_SPREAD_S apart; the first offer's id."""
    requests, offers = app[DISPATCH_REQUESTS], app[DISPATCH_OFFERS]
    first = 0
    for index in range(DEADLINE_OFFERS):
        request = await requests.create(
            NewRequest(source="operator", lat=16.4637, lon=107.5909, water=Water.roof),
            actor="bench",
        )
        offer = await offers.offer(request.id, index + 1, actor="bench")
        first = first or offer.id
        await asyncio.sleep(DEADLINE_SPREAD_S)
    return first


async def _all_timed_out(app: web.Application, first_offer: int) -> list[float]:
    """Each offer's lateness in ms, once all of the batch timed out."""
    while True:
        late = await _lateness(app, first_offer)
        if len(late) >= DEADLINE_OFFERS:
            return late
        await asyncio.sleep(0.05)


async def bench_deadline_lateness() -> None:
    """How late an unanswered offer times out, on the real clock: the deadline timer beside the
    former job that looked every 2 s, on the same app in the same run."""
    with tempfile.TemporaryDirectory() as directory:
        config = parse_config(
            {
                "database": {"path": str(Path(directory) / "bench.sqlite3")},
                "log": {"level": "WARNING"},
                "dispatch": {
                    "offers": {
                        "auto_offer": False,
                        "ack_timeout_s": DEADLINE_ACK_S,
                        "poll_interval_s": 3600.0,
                    }
                },
            }
        )
        app = create_app(config)
        runner = web.AppRunner(app)
        await runner.setup()
        try:
            for index in range(DEADLINE_OFFERS):
                await app[DISPATCH_TEAMS].create(
                    TeamDraft(
                        name=f"Đội {index}",
                        base_lat=16.46,
                        base_lon=107.59,
                        capabilities=frozenset({"boat"}),
                        capacity=2,
                        members=(Member("An", f"+849110{index:05d}"),),
                    ),
                    actor="bench",
                )
            first = await _offer_batch(app)
            timer_ms = await _all_timed_out(app, first)

            # The former way: the timer stopped, a job calling expire_due every 2 s.
            await app[DISPATCH_DEADLINES].stop()

            async def poll() -> None:
                while True:
                    await asyncio.sleep(OLD_POLL_S)
                    await app[DISPATCH_OFFERS].expire_due()

            poller = asyncio.create_task(poll())
            try:
                first = await _offer_batch(app)
                poll_ms = await _all_timed_out(app, first)
            finally:
                poller.cancel()
        finally:
            await runner.cleanup()
    print(
        f"offer deadline → timed out ({DEADLINE_OFFERS} offers, real clock): timer median"
        f" {statistics.median(timer_ms):.1f} ms, max {max(timer_ms):.1f} ms late"
    )
    ratio = statistics.median(poll_ms) / statistics.median(timer_ms)
    print(
        f"  a look every {OLD_POLL_S:.0f} s (the former job): median"
        f" {statistics.median(poll_ms):.0f} ms, max {max(poll_ms):.0f} ms late"
        f" (poll/timer median ratio {ratio:.0f}×)"
    )


def main() -> None:
    bench_recommendation()
    asyncio.run(bench_offer_latency())
    asyncio.run(bench_deadline_lateness())


if __name__ == "__main__":
    main()
