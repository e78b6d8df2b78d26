"""The durable outbox and its worker: a real SQLite file, a scripted fake of our own ports."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import random
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from canhbao import eventlog, keys
from canhbao.app import create_app
from canhbao.clock import ManualClock, parse_utc
from canhbao.config import OutboxConfig
from canhbao.db import Database
from canhbao.errors import ConfigError
from canhbao.events import EventBus
from canhbao.health import HealthRegistry
from notify import keys as notify_keys
from notify import outbox as outbox_module
from notify.errors import DeliveryDeferred, DeliveryRejected, InvalidMessage, ProviderUnavailable
from notify.events import PUSH_TOKEN_REJECTED, PushTokenRejected
from notify.journal import SentJournal
from notify.models import (
    OutboxItem,
    PushMessage,
    SmsMessage,
    TopicChange,
    TopicChangeResult,
    VoiceCall,
)
from notify.outbox import Outbox, decode_message, encode_message
from notify.outbox_worker import OutboxWorker
from notify.pacing import ChannelPacing, TokenBucket
from tests.conftest import AppClient, make_config

HOTLINE = "+8419001075"
TOKEN = "fcm-token-" + "a" * 40

Message = PushMessage | TopicChange | SmsMessage | VoiceCall


def sms(n: int, body: str = "Nước sông Hương đang lên") -> SmsMessage:
    return SmsMessage(to=f"+8490{n:07d}", body=f"{body} #{n}", sender=HOTLINE)


def push(n: int, kind: str = "token") -> PushMessage:
    target = f"{TOKEN}{n}" if kind == "token" else f"ward-{n}"
    return PushMessage(
        target_kind=kind,  # type: ignore[arg-type]  # parametrised literal
        target=target,
        title="Cảnh báo lũ",
        body="Báo động III tại Kim Long",
        data={"alert": "A-1"},
        collapse_key="A-1",
        tag=f"push-{n}",
    )


def call(n: int) -> VoiceCall:
    return VoiceCall(to=f"+8491{n:07d}", caller_id=HOTLINE, twiml="<Response><Say/></Response>")


def item(message: Message, key: str, reference: str = "alert-1", priority: int = 0) -> OutboxItem:
    channel = {PushMessage: "push", TopicChange: "topic", SmsMessage: "sms", VoiceCall: "voice"}
    return OutboxItem(channel[type(message)], message, key, reference, priority)  # type: ignore[arg-type]  # mapped above


def target(message: Message) -> str:
    if isinstance(message, PushMessage):
        return message.target
    if isinstance(message, TopicChange):
        return message.topic
    return message.to


class FakeProvider:
    """Our own push, SMS and voice ports, scripted per target: succeed, defer, reject or raise."""

    def __init__(self, time_source: Callable[[], float] = lambda: 0.0) -> None:
        self.sent: list[Message] = []
        self.sent_at: list[float] = []
        self.script: dict[str, list[BaseException]] = {}
        self.always: dict[str, BaseException] = {}
        self.found: dict[str, str] = {}
        self.lookups: list[tuple[Message, datetime]] = []
        self.lookup_error: BaseException | None = None
        self.before_send: Callable[[Message], Awaitable[None]] | None = None
        self.gate: asyncio.Event | None = None
        self.started = 0
        self.started_enough = asyncio.Event()
        self.wait_for = 0
        self.active = 0
        self.peak = 0
        self._time = time_source

    async def _deliver(self, message: Message) -> str:
        self.sent.append(message)
        self.sent_at.append(self._time())
        self.active += 1
        self.peak = max(self.peak, self.active)
        self.started += 1
        if self.started >= self.wait_for:
            self.started_enough.set()
        try:
            if self.before_send is not None:
                await self.before_send(message)
            # Yield a few times, as a network call would, so concurrent sends overlap.
            for _ in range(3):
                await asyncio.sleep(0)
            if self.gate is not None:
                await self.gate.wait()
            key = target(message)
            if key in self.always:
                raise self.always[key]
            if self.script.get(key):
                raise self.script[key].pop(0)
            return f"id-{key}-{len(self.sent)}"
        finally:
            self.active -= 1

    async def send(self, message: PushMessage) -> str:
        return await self._deliver(message)

    async def change_topic(self, change: TopicChange) -> TopicChangeResult:
        await self._deliver(change)
        return TopicChangeResult(failures={t: "UNREGISTERED" for t in change.tokens[:1]})

    async def send_sms(self, sms: SmsMessage) -> str:
        return await self._deliver(sms)

    async def place_call(self, call: VoiceCall) -> str:
        return await self._deliver(call)

    async def find_sms(self, sms: SmsMessage, since: datetime) -> str | None:
        return self._find(sms, since)

    async def find_call(self, call: VoiceCall, since: datetime) -> str | None:
        return self._find(call, since)

    def _find(self, message: Message, since: datetime) -> str | None:
        self.lookups.append((message, since))
        if self.lookup_error is not None:
            raise self.lookup_error
        return self.found.get(target(message))


class FakeTime:
    """A monotonic time source for the token buckets that moves only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        target = self.now + seconds
        await asyncio.sleep(0)
        self.now = max(self.now, target)


async def logged_rejections(db: Database) -> list[dict[str, str]]:
    rows = await db.fetch_all(
        "SELECT payload FROM event_log WHERE type = ? ORDER BY id", (PUSH_TOKEN_REJECTED.name,)
    )
    return [json.loads(row[0]) for row in rows]


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(tmp_path / "outbox.sqlite3")
    await database.open()
    await database.migrate((*eventlog.MIGRATIONS, *outbox_module.MIGRATIONS))
    yield database
    await database.close()


@pytest.fixture
def outbox(db: Database, clock: ManualClock) -> Outbox:
    return Outbox(db, clock)


@pytest.fixture
def provider() -> FakeProvider:
    return FakeProvider()


@dataclasses.dataclass
class Rig:
    """A worker and everything it reports to."""

    worker: OutboxWorker
    bus_events: list[object]
    health: HealthRegistry
    metrics: CollectorRegistry

    def sample(self, name: str, **labels: str) -> float:
        value = self.metrics.get_sample_value(name, labels)
        return 0.0 if value is None else value


MakeWorker = Callable[..., Rig]


@pytest.fixture
def make_worker(outbox: Outbox, provider: FakeProvider, clock: ManualClock) -> MakeWorker:
    """Build a worker over the fake ports; keyword arguments override OutboxConfig fields."""

    def make(
        *,
        pacing: ChannelPacing | None = None,
        shutdown_timeout_s: float = 5.0,
        fake: FakeProvider | None = None,
        journal: SentJournal | None = None,
        **overrides: Any,
    ) -> Rig:
        settings: dict[str, Any] = {
            "concurrency": 20,
            "batch_size": 100,
            "poll_interval_s": 0.01,
            "sms_per_second": 1000.0,
            "voice_per_second": 1000.0,
            **overrides,
        }
        config = OutboxConfig(**settings)
        bus = EventBus()
        events: list[object] = []

        async def collect(event: PushTokenRejected) -> None:
            events.append(event)

        bus.subscribe(PushTokenRejected, collect)
        health = HealthRegistry()
        metrics = CollectorRegistry()
        ports = fake or provider
        worker = OutboxWorker(
            outbox,
            ports,
            ports,
            ports,
            config,
            clock,
            bus,
            health,
            metrics,
            shutdown_timeout_s=shutdown_timeout_s,
            pacing=pacing,
            rng=random.Random(7),
            journal=journal,
        )
        return Rig(worker, events, health, metrics)

    return make


async def rows(db: Database) -> dict[str, dict[str, Any]]:
    """Every outbox row by idempotency key."""
    return {
        row["idempotency_key"]: dict(row)
        for row in await db.fetch_all("SELECT * FROM outbox ORDER BY id")
    }


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 5.0) -> None:
    """Wait for a background task to reach a state, failing after a deadline."""
    async with asyncio.timeout(seconds):
        # The state lives in the database, changed by a background task: there is no event.
        while not await check():  # noqa: ASYNC110  # see above
            await asyncio.sleep(0.005)


# -- storage -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        push(1),
        PushMessage("condition", "'a' in topics && 'b' in topics", "t", "b", ttl_s=60),
        TopicChange("ward-7", (TOKEN + "1", TOKEN + "2"), subscribe=False),
        SmsMessage("+84901234567", "Sơ tán ngay", HOTLINE, status_callback="https://x/cb"),
        VoiceCall("+84901234567", HOTLINE, url="https://x/twiml", machine_detection=True),
    ],
)
def test_each_message_type_survives_the_round_trip_through_json(message: Message) -> None:
    channel = {PushMessage: "push", TopicChange: "topic", SmsMessage: "sms", VoiceCall: "voice"}
    decoded = decode_message(channel[type(message)], encode_message(message))  # type: ignore[arg-type]  # mapped
    assert decoded == message
    assert type(decoded) is type(message)
    if isinstance(decoded, TopicChange):
        assert isinstance(decoded.tokens, tuple)


def test_an_item_must_carry_its_channels_message_type() -> None:
    with pytest.raises(ValueError, match="carries SmsMessage"):
        OutboxItem("sms", push(1), "k")


async def test_enqueue_is_idempotent_by_key(outbox: Outbox, db: Database) -> None:
    first = [item(sms(n), f"sms-{n}") for n in range(3)]
    assert await outbox.enqueue(first) == 3
    again = [*first, item(sms(9), "sms-9")]
    assert await outbox.enqueue(again) == 1
    stored = await rows(db)
    assert sorted(stored) == ["sms-0", "sms-1", "sms-2", "sms-9"]
    assert all(row["status"] == "queued" and row["attempts"] == 0 for row in stored.values())
    assert await outbox.counts("alert-1") == {"sms": {"queued": 4}}


async def test_enqueue_in_commits_or_rolls_back_with_the_callers_transaction(
    outbox: Outbox, db: Database
) -> None:
    async def change_state_then_fail() -> None:
        async with db.transaction() as conn:
            await outbox.enqueue_in(conn, [item(sms(1), "sms-1")])
            raise RuntimeError("state change failed")

    with pytest.raises(RuntimeError, match="state change failed"):
        await change_state_then_fail()
    assert await rows(db) == {}
    async with db.transaction() as conn:
        assert await outbox.enqueue_in(conn, [item(sms(1), "sms-1")]) == 1
    assert list(await rows(db)) == ["sms-1"]


# -- sending -----------------------------------------------------------------------------------


async def test_a_row_is_stored_as_sending_before_the_provider_sees_it(
    outbox: Outbox,
    db: Database,
    provider: FakeProvider,
    make_worker: MakeWorker,
    clock: ManualClock,
) -> None:
    seen: list[dict[str, Any]] = []

    async def look(message: Message) -> None:
        seen.append((await rows(db))["sms-1"])

    provider.before_send = look
    await outbox.enqueue([item(sms(1), "sms-1")])
    rig = make_worker()
    assert await rig.worker.run_once() == 1

    assert seen[0]["status"] == "sending"
    assert parse_utc(seen[0]["claimed_at"]) == clock.now()
    row = (await rows(db))["sms-1"]
    assert row["status"] == "sent"
    assert row["provider_id"] == "id-+84900000001-1"
    assert parse_utc(row["sent_at"]) == clock.now()
    assert row["attempts"] == 1
    assert rig.sample("outbox_messages_total", channel="sms", outcome="sent") == 1
    assert await rig.worker.run_once() == 0
    assert len(provider.sent) == 1


async def test_higher_priority_rows_are_claimed_first(
    outbox: Outbox, provider: FakeProvider, make_worker: MakeWorker
) -> None:
    await outbox.enqueue([item(sms(n), f"sms-{n}", priority=n % 3) for n in range(9)])
    rig = make_worker(concurrency=1, batch_size=3)
    assert await rig.worker.run_once() == 3
    assert sorted(m.to[-1] for m in provider.sent) == ["2", "5", "8"]  # type: ignore[union-attr]  # sms only


async def test_deferrals_back_off_exponentially_with_full_jitter(
    outbox: Outbox,
    db: Database,
    provider: FakeProvider,
    make_worker: MakeWorker,
    clock: ManualClock,
) -> None:
    count = 40
    await outbox.enqueue([item(sms(n), f"sms-{n}") for n in range(count)])
    for n in range(count):
        provider.always[sms(n).to] = DeliveryDeferred("503 from Twilio", code="20500")
    rig = make_worker(backoff_base_s=2.0, backoff_max_s=600.0, max_attempts=10)

    for attempt, ceiling in [(1, 2.0), (2, 4.0), (3, 8.0)]:
        now = clock.now()
        assert await rig.worker.run_once() == count
        delays = [
            (parse_utc(row["next_attempt_at"]) - now).total_seconds()
            for row in (await rows(db)).values()
        ]
        assert all(row["attempts"] == attempt for row in (await rows(db)).values())
        assert all(0 <= d <= ceiling for d in delays), (attempt, max(delays))
        # Full jitter: spread over the whole range, reaching past the previous ceiling.
        assert max(delays) > ceiling / 2
        assert min(delays) < ceiling / 4
        assert len(set(delays)) == count
        clock.advance(timedelta(seconds=ceiling))

    assert rig.health.components["outbox"].status == "degraded"
    assert rig.sample("outbox_messages_total", channel="sms", outcome="deferred") == 3 * count


def test_backoff_is_capped_at_backoff_max(make_worker: MakeWorker) -> None:
    worker = make_worker(backoff_base_s=2.0, backoff_max_s=60.0).worker
    samples = [worker.backoff(attempts) for attempts in (10, 20, 500) for _ in range(200)]
    assert all(0 <= s <= 60.0 for s in samples)
    assert max(samples) > 50


async def test_a_retry_after_longer_than_the_backoff_is_honoured(
    outbox: Outbox,
    db: Database,
    provider: FakeProvider,
    make_worker: MakeWorker,
    clock: ManualClock,
) -> None:
    await outbox.enqueue([item(push(1), "push-1")])
    provider.script[push(1).target] = [
        DeliveryDeferred("429", code="QUOTA_EXCEEDED", retry_after=120.0)
    ]
    time = FakeTime()
    fake = FakeProvider(time_source=time)
    fake.script = provider.script
    pacing = ChannelPacing(OutboxConfig(), time_source=time, sleep=time.sleep)
    rig = make_worker(backoff_base_s=2.0, pacing=pacing, fake=fake)
    start = clock.now()
    assert await rig.worker.run_once() == 1
    row = (await rows(db))["push-1"]
    assert (row["status"], row["error_code"]) == ("queued", "QUOTA_EXCEEDED")
    assert parse_utc(row["next_attempt_at"]) == start + timedelta(seconds=120)

    clock.advance(timedelta(seconds=119))
    assert await rig.worker.run_once() == 0
    clock.advance(timedelta(seconds=1))
    assert await rig.worker.run_once() == 1
    assert (await rows(db))["push-1"]["status"] == "sent"
    # The provider's Retry-After also paused the whole push channel, not just this row.
    assert fake.sent_at == [0.0, pytest.approx(120.0, abs=0.01)]


async def test_attempts_are_capped_then_the_row_is_dead(
    outbox: Outbox,
    db: Database,
    provider: FakeProvider,
    make_worker: MakeWorker,
    clock: ManualClock,
) -> None:
    await outbox.enqueue([item(sms(1), "sms-1")])
    provider.always[sms(1).to] = ProviderUnavailable("connection refused", code="UNREACHABLE")
    rig = make_worker(max_attempts=3, backoff_max_s=30.0)
    for _ in range(3):
        assert await rig.worker.run_once() == 1
        clock.advance(timedelta(seconds=30))
    row = (await rows(db))["sms-1"]
    assert (row["status"], row["attempts"], row["error_code"]) == ("dead", 3, "UNREACHABLE")
    assert await rig.worker.run_once() == 0
    assert len(provider.sent) == 3
    assert rig.sample("outbox_messages_total", channel="sms", outcome="dead") == 1
    assert rig.health.components["outbox"].status == "degraded"


@pytest.mark.parametrize("code", ["UNREGISTERED", "SENDER_ID_MISMATCH"])
async def test_a_refused_token_fails_the_row_and_is_published(
    outbox: Outbox, db: Database, provider: FakeProvider, make_worker: MakeWorker, code: str
) -> None:
    await outbox.enqueue([item(push(1), "push-1"), item(push(2, "topic"), "topic-2")])
    provider.script[push(1).target] = [DeliveryRejected("gone", code=code)]
    provider.script[push(2, "topic").target] = [DeliveryRejected("gone", code=code)]
    rig = make_worker()
    assert await rig.worker.run_once() == 2
    stored = await rows(db)
    assert (stored["push-1"]["status"], stored["push-1"]["error_code"]) == ("failed", code)
    assert stored["topic-2"]["status"] == "failed"
    # Only a token target names a device to drop; a topic has no token.
    assert rig.bus_events == [PushTokenRejected(push(1).target, code)]
    # Stored for the device registry with the outcome, not only told on the bus.
    assert await logged_rejections(db) == [{"token": push(1).target, "code": code}]
    assert rig.sample("outbox_messages_total", channel="push", outcome="failed") == 2
    assert rig.health.components["outbox"].status == "ok"  # a refusal is the message's fault


async def test_an_invalid_message_fails_without_retry(
    outbox: Outbox,
    db: Database,
    provider: FakeProvider,
    make_worker: MakeWorker,
    clock: ManualClock,
) -> None:
    await outbox.enqueue([item(sms(1), "sms-1")])
    provider.always[sms(1).to] = InvalidMessage("too long", code="BODY_TOO_LONG")
    rig = make_worker()
    assert await rig.worker.run_once() == 1
    clock.advance(timedelta(hours=1))
    assert await rig.worker.run_once() == 0
    row = (await rows(db))["sms-1"]
    assert (row["status"], row["error_code"], row["last_error"]) == (
        "failed",
        "BODY_TOO_LONG",
        "too long",
    )
    assert rig.bus_events == []
    assert await logged_rejections(db) == []


async def test_topic_change_failures_are_kept_and_refused_tokens_published(
    outbox: Outbox, db: Database, make_worker: MakeWorker
) -> None:
    change = TopicChange("ward-7", (TOKEN + "1", TOKEN + "2"))
    await outbox.enqueue([item(change, "topic-1")])
    rig = make_worker()
    assert await rig.worker.run_once() == 1
    row = (await rows(db))["topic-1"]
    assert row["status"] == "sent"
    assert row["last_error"] == "1 of 2 tokens failed: UNREGISTERED: 1"
    assert rig.bus_events == [PushTokenRejected(TOKEN + "1", "UNREGISTERED")]
    assert await logged_rejections(db) == [{"token": TOKEN + "1", "code": "UNREGISTERED"}]


async def test_an_unexpected_error_is_retried_and_logged_with_the_row_id(
    outbox: Outbox,
    db: Database,
    provider: FakeProvider,
    make_worker: MakeWorker,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await outbox.enqueue([item(sms(n), f"sms-{n}") for n in range(2)])
    provider.always[sms(0).to] = KeyError("sid")
    provider.always[sms(1).to] = KeyError("sid")
    rig = make_worker()
    with caplog.at_level(logging.ERROR, logger="notify.outbox_worker"):
        assert await rig.worker.run_once() == 2
    stored = await rows(db)
    assert {row["status"] for row in stored.values()} == {"queued"}
    assert {row["error_code"] for row in stored.values()} == {"UNEXPECTED_ERROR"}
    logged = [r for r in caplog.records if r.getMessage().startswith("unexpected error")]
    assert len(logged) == 1  # once per channel and error type, not once per row
    assert logged[0].outbox_id in {stored["sms-0"]["id"], stored["sms-1"]["id"]}  # type: ignore[attr-defined]  # extra=


async def test_concurrency_never_exceeds_the_limit(
    outbox: Outbox, provider: FakeProvider, make_worker: MakeWorker
) -> None:
    await outbox.enqueue([item(push(n), f"push-{n}") for n in range(60)])
    rig = make_worker(concurrency=4, batch_size=100)
    assert await rig.worker.run_once() == 60
    assert provider.peak == 4  # reached, so the sends really overlap, and never exceeded


async def test_the_token_bucket_holds_its_rate() -> None:
    time = FakeTime()
    bucket = TokenBucket(10.0, time_source=time, sleep=time.sleep)
    moments: list[float] = []

    async def take() -> None:
        await bucket.acquire()
        moments.append(time.now)

    await asyncio.gather(*(take() for _ in range(100)))
    # A burst of one second's worth, then 10 per second: the 100th goes at 9 s.
    assert moments[:10] == [0.0] * 10
    assert moments[-1] == pytest.approx(9.0)
    for index, moment in enumerate(moments):
        assert index + 1 <= 10 + 10 * moment + 1e-9

    bucket.hold(5.0)
    before = time.now
    await bucket.acquire()
    assert time.now - before == pytest.approx(5.0 + 0.1)


async def test_the_worker_paces_each_channel(outbox: Outbox, make_worker: MakeWorker) -> None:
    time = FakeTime()
    fake = FakeProvider(time_source=time)
    config = OutboxConfig(sms_per_second=5.0, push_per_minute=60_000)
    pacing = ChannelPacing(config, time_source=time, sleep=time.sleep)
    await outbox.enqueue([item(sms(n), f"sms-{n}") for n in range(25)])
    await outbox.enqueue([item(push(n), f"push-{n}") for n in range(300)])
    rig = make_worker(pacing=pacing, fake=fake, sms_per_second=5.0, push_per_minute=60_000)
    processed = 0
    while processed < 325:
        done = await rig.worker.run_once()
        assert done
        processed += done

    sms_moments = [
        t for m, t in zip(fake.sent, fake.sent_at, strict=True) if isinstance(m, SmsMessage)
    ]
    # 5 at once, then one every 0.2 s: never more than burst + rate·t by time t.
    for index, moment in enumerate(sms_moments):
        assert index + 1 <= 5 + 5 * moment + 1e-9
    assert sms_moments[-1] == pytest.approx((25 - 5) / 5)
    # Push has its own budget (1,000/s): the SMS pace did not hold it back.
    push_moments = [
        t for m, t in zip(fake.sent, fake.sent_at, strict=True) if isinstance(m, PushMessage)
    ]
    assert len(push_moments) == 300
    for index, moment in enumerate(push_moments):
        assert index + 1 <= 1000 + 1000 * moment + 1e-9


async def test_a_message_past_its_not_after_is_not_sent_and_a_push_lives_only_until_then(
    outbox: Outbox,
    db: Database,
    provider: FakeProvider,
    make_worker: MakeWorker,
    clock: ManualClock,
) -> None:
    """A warning's messages end with the warning: one that waited past its expiry (an outage,
    a long backlog) is not sent, and a push's FCM time to live never outlasts it."""
    ends = clock.now() + timedelta(minutes=10)
    await outbox.enqueue(
        [
            dataclasses.replace(item(push(1), "push-1"), not_after=ends),
            dataclasses.replace(
                item(dataclasses.replace(push(2), ttl_s=60), "push-2"), not_after=ends
            ),
            dataclasses.replace(item(sms(3), "sms-3"), not_after=clock.now()),
        ]
    )
    rig = make_worker()
    assert await rig.worker.run_once() == 3
    sent = {m.target: m.ttl_s for m in provider.sent if isinstance(m, PushMessage)}
    assert sent == {push(1).target: 600, push(2).target: 60}  # what is left; already shorter
    assert [target(m) for m in provider.sent if not isinstance(m, PushMessage)] == []
    stored = await rows(db)
    assert (stored["sms-3"]["status"], stored["sms-3"]["error_code"]) == ("failed", "EXPIRED")


# -- recovery and shutdown ---------------------------------------------------------------------


async def test_recover_requeues_push_and_reconciles_sms_with_the_provider(
    outbox: Outbox,
    db: Database,
    provider: FakeProvider,
    make_worker: MakeWorker,
    clock: ManualClock,
) -> None:
    await outbox.enqueue(
        [
            item(sms(1), "sms-1"),
            item(sms(2), "sms-2"),
            item(push(3), "push-3"),
            item(call(4), "call-4"),
            item(call(5), "call-5"),
        ]
    )
    # A worker claims everything, then its process dies before recording anything.
    crashed_at = clock.now()
    claimed = await outbox.claim([(("push",), 10), (("sms",), 10), (("voice",), 10)])
    assert len(claimed) == 5
    clock.advance(timedelta(minutes=3))
    provider.found = {sms(1).to: "SM-already-there", call(5).to: "CA-already-there"}

    rig = make_worker()
    report = await rig.worker.recover()
    assert (report.reconciled, report.requeued, report.unresolved) == (2, 3, 0)
    assert {(m.to, since) for m, since in provider.lookups} == {  # type: ignore[union-attr]  # sms/voice
        (sms(1).to, crashed_at),
        (sms(2).to, crashed_at),
        (call(4).to, crashed_at),
        (call(5).to, crashed_at),
    }
    stored = await rows(db)
    assert (stored["sms-1"]["status"], stored["sms-1"]["provider_id"]) == (
        "sent",
        "SM-already-there",
    )
    assert stored["call-5"]["provider_id"] == "CA-already-there"
    assert {stored[k]["status"] for k in ("sms-2", "push-3", "call-4")} == {"queued"}
    assert rig.sample("outbox_messages_total", channel="push", outcome="requeued") == 1
    assert rig.sample("outbox_messages_total", channel="sms", outcome="sent") == 1
    assert rig.health.components["outbox"].status == "ok"  # a restart is not a provider problem

    assert await rig.worker.run_once() == 3
    assert sorted(target(m) for m in provider.sent) == sorted(
        [sms(2).to, push(3).target, call(4).to]
    )
    resent = next(m for m in provider.sent if isinstance(m, PushMessage))
    assert resent.tag == "push-3"  # the phone replaces the first copy, if one arrived
    assert all(row["status"] == "sent" for row in (await rows(db)).values())


async def test_rows_stay_sending_until_the_provider_can_be_asked(
    outbox: Outbox, db: Database, provider: FakeProvider, make_worker: MakeWorker
) -> None:
    await outbox.enqueue([item(sms(1), "sms-1")])
    await outbox.claim([(("sms",), 10)])
    provider.lookup_error = ProviderUnavailable("twilio down", code="UNREACHABLE")
    rig = make_worker()
    report = await rig.worker.recover()
    assert report.unresolved == 1
    assert (await rows(db))["sms-1"]["status"] == "sending"
    assert rig.health.components["outbox"].status == "degraded"
    assert await rig.worker.run_once() == 0  # not sent blind

    provider.lookup_error = None
    report = await rig.worker.recover()
    assert (report.requeued, report.unresolved) == (1, 0)
    assert await rig.worker.run_once() == 1
    assert len(provider.sent) == 1


async def test_sends_the_journal_names_are_recorded_not_sent_again_after_a_crash(
    outbox: Outbox,
    db: Database,
    provider: FakeProvider,
    make_worker: MakeWorker,
    tmp_path: Path,
) -> None:
    await outbox.enqueue([item(push(1), "push-1"), item(push(2), "push-2"), item(sms(3), "sms-3")])
    # A worker claimed all three; two sends finished and were journaled, then it died before
    # recording them (the journal is appended the moment a send finishes; recording waits).
    claimed = {
        row.idempotency_key: row.id for row in await outbox.claim([(("push",), 10), (("sms",), 10)])
    }
    dead = SentJournal(tmp_path / "outbox-sent")
    dead.append(claimed["push-1"], "projects/p/messages/0:1")
    dead.append(claimed["sms-3"], "SM-journaled")
    dead.close()

    journal = SentJournal(tmp_path / "outbox-sent")
    rig = make_worker(journal=journal)
    report = await rig.worker.recover()
    assert (report.reconciled, report.journaled, report.requeued) == (2, 2, 1)
    assert provider.lookups == []  # the journal answered: Twilio was not asked
    stored = await rows(db)
    assert (stored["push-1"]["status"], stored["push-1"]["provider_id"]) == (
        "sent",
        "projects/p/messages/0:1",
    )
    assert (stored["sms-3"]["status"], stored["sms-3"]["provider_id"]) == ("sent", "SM-journaled")
    assert stored["push-2"]["status"] == "queued"

    assert await rig.worker.run_once() == 1
    assert [target(m) for m in provider.sent] == [push(2).target]  # only the unfinished one
    # Once recorded, sends leave the journal: a later crash has nothing stale to read.
    await outbox.enqueue([item(push(4), "push-4")])
    assert await rig.worker.run_once() == 1
    assert await rig.worker.run_once() == 0
    journal.close()
    assert SentJournal(tmp_path / "outbox-sent").entries() == {}


def test_the_journal_reads_back_what_was_appended_and_skips_a_torn_last_line(
    tmp_path: Path,
) -> None:
    journal = SentJournal(tmp_path / "j")
    journal.append(1, "a")
    old = journal.switch()
    journal.append(2, None)
    assert journal.entries() == {1: "a", 2: ""}
    journal.clear(old)
    assert journal.entries() == {2: ""}
    with journal.paths[journal.switch()].open("ab") as handle:
        handle.write(b"3\tcut-off-by-a-cra")  # a crash in the middle of a write
    assert journal.entries() == {2: ""}
    journal.clear()
    assert journal.entries() == {}
    journal.close()


async def test_recover_leaves_the_running_workers_own_rows_alone(
    outbox: Outbox, db: Database, provider: FakeProvider, make_worker: MakeWorker
) -> None:
    await outbox.enqueue([item(sms(1), "sms-1")])
    provider.gate = asyncio.Event()
    rig = make_worker()
    round_ = asyncio.create_task(rig.worker.run_once())
    await provider.started_enough.wait()
    report = await rig.worker.recover()
    assert report.requeued == report.reconciled == 0
    provider.gate.set()
    assert await round_ == 1
    assert len(provider.sent) == 1


async def test_the_worker_wakes_on_enqueue_without_waiting_for_the_poll(
    outbox: Outbox, db: Database, provider: FakeProvider, make_worker: MakeWorker
) -> None:
    rig = make_worker(poll_interval_s=3600.0)
    rig.worker.start()
    try:
        await outbox.enqueue([item(sms(1), "sms-1")])
        async with asyncio.timeout(5):
            await provider.started_enough.wait()

        async def recorded() -> bool:
            return (await rows(db))["sms-1"]["status"] == "sent"

        await eventually(recorded)
    finally:
        await rig.worker.stop()
    assert rig.health.components["outbox"].status == "stopped"


async def test_stop_lets_in_flight_sends_finish_and_records_them(
    outbox: Outbox, db: Database, provider: FakeProvider, make_worker: MakeWorker
) -> None:
    provider.gate = asyncio.Event()
    provider.wait_for = 3
    rig = make_worker()
    rig.worker.start()
    await outbox.enqueue([item(sms(n), f"sms-{n}") for n in range(3)])
    await provider.started_enough.wait()
    stopping = asyncio.create_task(rig.worker.stop())
    await asyncio.sleep(0)
    assert not stopping.done()
    provider.gate.set()
    await stopping
    assert {row["status"] for row in (await rows(db)).values()} == {"sent"}


async def test_stop_puts_unsent_rows_back_and_leaves_cut_off_sms_for_reconciliation(
    outbox: Outbox, db: Database, provider: FakeProvider, make_worker: MakeWorker
) -> None:
    provider.gate = asyncio.Event()  # never opened: sends hang like a dead network
    provider.wait_for = 3
    rig = make_worker(concurrency=3, shutdown_timeout_s=0.05)
    await outbox.enqueue([item(push(0), "push-0"), *(item(sms(n), f"sms-{n}") for n in range(4))])
    rig.worker.start()
    await provider.started_enough.wait()
    await rig.worker.stop()

    stored = await rows(db)
    in_flight = {target(m) for m in provider.sent}
    assert len(in_flight) == 3
    assert push(0).target in in_flight
    for key, row in stored.items():
        message = decode_message(row["channel"], row["payload"])
        if isinstance(message, SmsMessage) and message.to in in_flight:
            # Twilio may have it: the next start asks before sending again.
            assert row["status"] == "sending", key
        else:
            # Never started, or a push (its resend replaces the notification by tag).
            assert (row["status"], row["attempts"]) == ("queued", 0), key

    fresh = FakeProvider()
    rig = make_worker(fake=fresh)
    report = await rig.worker.recover()
    assert (report.requeued, report.reconciled) == (2, 0)
    assert await rig.worker.run_once() == 5
    assert {row["status"] for row in (await rows(db)).values()} == {"sent"}


async def test_a_crashed_loop_reports_failing_then_recovers(
    outbox: Outbox, db: Database, make_worker: MakeWorker
) -> None:
    rig = make_worker(poll_interval_s=0.01)
    await db.execute("ALTER TABLE outbox RENAME TO outbox_elsewhere")
    rig.worker.start()
    try:

        async def status_is(wanted: str) -> bool:
            state = rig.health.components.get("outbox")
            return state is not None and state.status == wanted

        await eventually(lambda: status_is("failing"))
        assert "no such table" in rig.health.components["outbox"].detail
        await db.execute("ALTER TABLE outbox_elsewhere RENAME TO outbox")
        await eventually(lambda: status_is("ok"))
    finally:
        await rig.worker.stop()


async def test_an_outcome_that_cannot_be_recorded_is_kept_and_recorded_later(
    outbox: Outbox, db: Database, provider: FakeProvider, make_worker: MakeWorker
) -> None:
    async def database_goes_away(message: Message) -> None:
        await db.execute("ALTER TABLE outbox RENAME TO outbox_elsewhere")

    provider.before_send = database_goes_away
    rig = make_worker(poll_interval_s=0.01)
    rig.worker.start()
    try:
        await outbox.enqueue([item(sms(1), "sms-1")])

        async def failing() -> bool:
            state = rig.health.components.get("outbox")
            return state is not None and state.status == "failing"

        await eventually(failing)
        provider.before_send = None
        await db.execute("ALTER TABLE outbox_elsewhere RENAME TO outbox")

        async def recorded() -> bool:
            return (await rows(db))["sms-1"]["status"] == "sent"

        await eventually(recorded)
    finally:
        await rig.worker.stop()
    assert len(provider.sent) == 1  # recorded late, not sent again


async def test_an_unreadable_payload_fails_the_row(
    outbox: Outbox, db: Database, provider: FakeProvider, make_worker: MakeWorker
) -> None:
    await outbox.enqueue([item(sms(1), "sms-1")])
    await db.execute("UPDATE outbox SET payload = '{\"to\": 1}'")
    rig = make_worker()
    assert await rig.worker.run_once() == 1
    row = (await rows(db))["sms-1"]
    assert (row["status"], row["error_code"]) == ("failed", "UNREADABLE_PAYLOAD")
    assert provider.sent == []


async def test_queue_depth_gauge_is_refreshed_from_the_database(
    outbox: Outbox, make_worker: MakeWorker
) -> None:
    await outbox.enqueue([item(sms(n), f"sms-{n}") for n in range(3)] + [item(push(1), "push-1")])
    rig = make_worker()
    await rig.worker.refresh_metrics()
    assert rig.sample("outbox_queue_depth", channel="sms", status="queued") == 3
    assert rig.sample("outbox_queue_depth", channel="push", status="queued") == 1
    await rig.worker.run_once()
    await rig.worker.refresh_metrics()
    assert rig.sample("outbox_queue_depth", channel="sms", status="queued") == 0
    assert rig.sample("outbox_messages_total", channel="sms", outcome="sent") == 3


# -- through the real app ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "unset", "message"),
    [
        ({"outbox": {"sms_per_second": 0.0}}, None, "outbox.sms_per_second: must be greater"),
        (
            {"telephony": {"provider": "twilio"}},
            "TWILIO_AUTH_TOKEN",
            "telephony.twilio.auth_token_env: environment variable TWILIO_AUTH_TOKEN is not set",
        ),
        (
            {"push": {"provider": "firebase", "firebase": {"project_id": "p"}}},
            "CANHBAO_FIREBASE_CREDENTIALS",
            "push.firebase.credentials_env: environment variable CANHBAO_FIREBASE_CREDENTIALS",
        ),
    ],
)
def test_a_provider_without_its_secrets_refuses_to_start(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    raw: dict[str, Any],
    unset: str | None,
    message: str,
) -> None:
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "0" * 32)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "token")
    if unset is not None:
        monkeypatch.delenv(unset, raising=False)
    with pytest.raises(ConfigError, match=message):
        create_app(make_config(tmp_path, raw))


async def test_the_app_sends_what_is_enqueued_through_the_local_providers(
    app_client: AppClient,
) -> None:
    client = await app_client()
    app = client.app
    db = app[keys.DB]
    added = await app[notify_keys.OUTBOX].enqueue(
        [item(sms(1), "sms-1", reference="A-1"), item(push(2), "push-2", reference="A-1")]
    )
    assert added == 2

    async def delivered() -> bool:
        counts = await app[notify_keys.OUTBOX].counts("A-1")
        return counts == {"sms": {"sent": 1}, "push": {"sent": 1}}

    await eventually(delivered)
    recorded = await db.fetch_all(
        "SELECT channel, target, provider_id FROM notify_local_messages ORDER BY channel"
    )
    assert [(r["channel"], r["target"]) for r in recorded] == [
        ("push", push(2).target),
        ("sms", sms(1).to),
    ]
    provider_ids = {r["provider_id"] for r in await db.fetch_all("SELECT provider_id FROM outbox")}
    assert provider_ids == {r["provider_id"] for r in recorded}

    response = await client.get("/metrics")
    text = await response.text()
    assert 'outbox_messages_total{channel="sms",outcome="sent"} 1.0' in text
    assert 'outbox_queue_depth{channel="sms",status="queued"} 0.0' in text
    health = await (await client.get("/healthz")).json()
    assert health["components"]["outbox"]["status"] == "ok"


async def test_rows_enqueued_in_the_writers_thread_wake_listeners_on_the_loop(
    db: Database, outbox: Outbox
) -> None:
    """A Database.transact body (the fan-out's batches) runs in the writer's thread; the
    listeners (the sender's kick, an asyncio.Event) must still be called from the loop."""
    loop_thread = threading.get_ident()
    woken: list[int] = []
    done = asyncio.Event()

    def listener() -> None:
        woken.append(threading.get_ident())
        done.set()

    outbox.on_enqueue(listener)
    await db.transact(lambda conn: outbox.enqueue_in(conn, [item(push(1), "in-thread")]))
    async with asyncio.timeout(10):
        await done.wait()
    assert woken == [loop_thread]
