"""The outbox sender: claims due rows, sends them paced and bounded, records outcomes in batches.

Rows flow through three stages that overlap: a claim round marks due rows `sending` (one
transaction for every channel), each row is then sent in its own task (per-channel pacing first,
then the shared concurrency limit), and a recorder writes finished outcomes back in one
transaction per batch, so the database sees a handful of writes per batch, not per message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import Counter as Tally
from collections.abc import Sequence
from datetime import timedelta

from prometheus_client import CollectorRegistry, Counter, Gauge

from canhbao.clock import Clock
from canhbao.config import OutboxConfig
from canhbao.events import EventBus
from canhbao.health import HealthRegistry, Status
from notify.errors import DeliveryDeferred, DeliveryRejected, InvalidMessage
from notify.events import PushTokenRejected
from notify.journal import SentJournal
from notify.models import Channel, Message, PushMessage, SmsMessage, VoiceCall
from notify.outbox import CHANNELS, ClaimedRow, Outbox, Outcome
from notify.pacing import ChannelPacing
from notify.ports import PushSender, SmsSender, VoiceCaller
from notify.sending import (
    EXPIRED,
    FAILURE_PAUSE_MAX_S,
    INTERRUPTED,
    LANE_OF,
    LANES,
    LOOKAHEAD_S,
    RECOVERY_RETRY_S,
    TOKEN_REJECTION_CODES,
    TROUBLE_WINDOW,
    UNEXPECTED,
    UNREADABLE,
    Lane,
    RecoveryReport,
    lasting,
    metric_outcome,
)

log = logging.getLogger(__name__)


class OutboxWorker:
    """Sends what the outbox holds. `start()`/`stop()` run it in the background; tests drive
    `recover()` and `run_once()` directly."""

    def __init__(
        self,
        outbox: Outbox,
        push: PushSender,
        sms: SmsSender,
        voice: VoiceCaller,
        config: OutboxConfig,
        clock: Clock,
        bus: EventBus,
        health: HealthRegistry,
        metrics: CollectorRegistry,
        *,
        shutdown_timeout_s: float = 10.0,
        pacing: ChannelPacing | None = None,
        rng: random.Random | None = None,
        journal: SentJournal | None = None,
    ) -> None:
        self._outbox = outbox
        self._journal = journal
        # What the previous process journaled, read before this one's flushes empty the files.
        self._journaled_before = journal.entries() if journal is not None else {}
        self._push = push
        self._sms = sms
        self._voice = voice
        self._config = config
        self._clock = clock
        self._bus = bus
        self._health = health
        self._shutdown_timeout_s = shutdown_timeout_s
        self._pacing = pacing or ChannelPacing(config)
        # Jitter only spreads retries out; it guards nothing, so a non-cryptographic source fits.
        self._rng = rng or random.Random()  # noqa: S311  # see above
        self._semaphore = asyncio.Semaphore(config.concurrency)

        self._lane_limit: dict[Lane, int] = {
            lane: min(
                config.concurrency + config.batch_size,
                self._pacing.in_hand(channels[0], LOOKAHEAD_S),
            )
            for lane, channels in LANES.items()
        }
        self._lane_load: dict[Lane, int] = dict.fromkeys(LANES, 0)
        self._held: dict[int, ClaimedRow] = {}  # claimed, outcome not yet committed
        self._started: set[int] = set()  # held rows whose provider call has begun
        self._tasks: set[asyncio.Task[None]] = set()
        self._task_rows: dict[asyncio.Task[None], int] = {}  # each task's row
        self._outcomes: list[Outcome] = []
        self._events: list[PushTokenRejected] = []
        self._flush_lock = asyncio.Lock()
        self._kick = asyncio.Event()  # something to claim: new rows, or a lane has room again
        self._results = asyncio.Event()  # outcomes are waiting to be recorded

        self._run_task: asyncio.Task[None] | None = None
        self._stopping = False
        self._closing = asyncio.Event()  # the recorder's last round
        self._status: Status | None = None
        self._failure: str | None = None
        self._last_trouble = self._clock.now() - 2 * TROUBLE_WINDOW
        self._unresolved = 0
        self._recovery_pending = True
        self._unexpected_logged: set[tuple[Channel, str]] = set()

        self._messages = Counter(
            "outbox_messages",
            "Outbox rows settled, by channel and outcome: sent, deferred (to retry), requeued"
            " (after a crash), failed (refused) or dead (attempts exhausted).",
            ["channel", "outcome"],
            registry=metrics,
        )
        self._depth = Gauge(
            "outbox_queue_depth",
            "Outbox rows waiting (queued) or in flight (sending), by channel.",
            ["channel", "status"],
            registry=metrics,
        )
        outbox.on_enqueue(self._kick.set)

    # -- running in the background -------------------------------------------------------

    def kick(self) -> None:
        """Rows were enqueued by another process: look for due rows now, not at the next poll."""
        self._kick.set()

    def start(self) -> asyncio.Task[None]:
        if self._run_task is None:
            self._run_task = asyncio.create_task(self._run(), name="outbox-worker")
        return self._run_task

    async def stop(self) -> None:
        """Stop claiming; let in-flight sends finish (up to shutdown_timeout_s) and record them.

        Rows whose send never began go back to queued. A push cut off mid-request goes back to
        queued too (the resend carries the same tag, so the phone replaces it); an SMS or call cut
        off mid-request stays `sending`, so the next start asks Twilio before sending it again.
        """
        self._stopping = True
        self._kick.set()
        if self._run_task is not None:
            await self._run_task

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        self._report()
        await self._recover_logged()
        next_recovery = loop.time() + RECOVERY_RETRY_S
        recorder = asyncio.create_task(self._record_loop(), name="outbox-recorder")
        pause = self._config.poll_interval_s
        try:
            while not self._stopping:
                if self._recovery_pending and loop.time() >= next_recovery:
                    await self._recover_logged()
                    next_recovery = loop.time() + RECOVERY_RETRY_S
                self._kick.clear()
                try:
                    _, more = await self._claim(eager=False)
                except Exception as err:
                    self._fail("claim", err)
                    await self._wait(pause)
                    pause = min(pause * 2, FAILURE_PAUSE_MAX_S)
                    continue
                pause = self._config.poll_interval_s
                self._clear_failure("claim")
                if not more:
                    await self._wait(self._config.poll_interval_s)
        finally:
            await self._drain(recorder)

    async def _wait(self, seconds: float) -> None:
        """Until kicked (new rows, a lane has room, stop) or `seconds` pass (rows fall due)."""
        try:
            async with asyncio.timeout(seconds):
                await self._kick.wait()
        except TimeoutError:
            pass

    async def _record_loop(self) -> None:
        pause = self._config.poll_interval_s
        while not self._closing.is_set():
            await self._results.wait()
            self._results.clear()
            try:
                await self.flush()
            except Exception as err:
                self._fail("record", err)
                # Pause before retrying, but not past shutdown: _drain makes the last attempt.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(pause):
                        await self._closing.wait()
                pause = min(pause * 2, FAILURE_PAUSE_MAX_S)
                self._results.set()
                continue
            pause = self._config.poll_interval_s
            self._clear_failure("record")

    async def _drain(self, recorder: asyncio.Task[None]) -> None:
        # Rows still waiting for their pace or a free slot have not begun: they go back to
        # queued at once, rather than holding shutdown up until their turn would have come.
        for task, row_id in list(self._task_rows.items()):
            if row_id not in self._started:
                task.cancel()
        in_flight = set(self._tasks)
        if in_flight:
            _, unfinished = await asyncio.wait(in_flight, timeout=self._shutdown_timeout_s)
            for task in unfinished:
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
        self._closing.set()
        self._results.set()
        await recorder
        try:
            await self.flush()
            cut_off = {
                row_id
                for row_id in self._started
                if row_id in self._held and self._held[row_id].channel in ("sms", "voice")
            }
            released = await self._outbox.release(set(self._held) - cut_off)
        except Exception:
            log.exception("outbox could not record its last outcomes; the next start recovers")
            released, cut_off = 0, set(self._held)
        log.info(
            "outbox stopped",
            extra={"released": released, "left_for_reconciliation": len(cut_off)},
        )
        self._status = "stopped"
        self._health.report("outbox", "stopped", "shut down", at=self._clock.now())

    # -- one round, for the loop and for tests ----------------------------------------------

    async def run_once(self) -> int:
        """Claim one batch, send it, record every outcome; returns how many rows were processed."""
        before = set(self._tasks)
        rows, _ = await self._claim(eager=True)
        round_tasks = set(self._tasks) - before
        if round_tasks:
            await asyncio.gather(*round_tasks)
        await self.flush()
        return len(rows)

    async def _claim(self, *, eager: bool) -> tuple[list[ClaimedRow], bool]:
        """Claim what the lanes have room for and start sending it; the flag is True when a
        lane got all it asked for (so more may be due at once)."""
        requests: list[tuple[Sequence[Channel], int]] = []
        for lane, channels in LANES.items():
            room = self._lane_limit[lane] - self._lane_load[lane]
            # Outside tests, wait until a quarter of the lane is free: claiming one row per
            # finished send would cost a write transaction per message.
            threshold = 1 if eager else max(1, self._lane_limit[lane] // 4)
            if room >= threshold:
                requests.append((channels, min(room, self._config.batch_size)))
        if not requests:
            return [], False
        rows = await self._outbox.claim(requests)
        claimed = Tally(LANE_OF[row.channel] for row in rows)
        full = any(claimed[LANE_OF[channels[0]]] == limit for channels, limit in requests)
        for row in rows:
            self._held[row.id] = row
            self._lane_load[LANE_OF[row.channel]] += 1
            task = asyncio.create_task(self._deliver(row))
            self._tasks.add(task)
            self._task_rows[task] = row.id
            task.add_done_callback(self._forget_task)
        return rows, full

    def _forget_task(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._task_rows.pop(task, None)

    # -- sending one row --------------------------------------------------------------------

    async def _deliver(self, row: ClaimedRow) -> None:
        events: list[PushTokenRejected] = []
        try:
            message = row.message()
        except Exception as err:  # whatever is wrong with stored data, retrying cannot fix it
            outcome = self._failed(row, UNREADABLE, f"stored payload cannot be read: {err!r}")
        else:
            if row.not_after is not None and self._clock.now() >= row.not_after:
                outcome = self._failed(row, EXPIRED, "its time ran out before it could be sent")
                self._finish(row, outcome, events)
                return
            await self._pacing.acquire(row.channel)
            async with self._semaphore:
                self._started.add(row.id)
                outcome = await self._attempt(row, lasting(message, row, self._clock), events)
        self._finish(row, outcome, events)

    async def _attempt(
        self, row: ClaimedRow, message: Message, events: list[PushTokenRejected]
    ) -> Outcome:
        attempts = row.attempts + 1
        try:
            provider_id, note = await self._send(message, events)
        except (InvalidMessage, DeliveryRejected) as err:
            if (
                isinstance(message, PushMessage)
                and message.target_kind == "token"
                and err.code in TOKEN_REJECTION_CODES
            ):
                events.append(PushTokenRejected(message.target, err.code))
            return self._failed(row, err.code or type(err).__name__, str(err))
        except DeliveryDeferred as err:
            if err.retry_after:
                self._pacing.bucket(row.channel).hold(
                    min(err.retry_after, self._config.backoff_max_s)
                )
            code = err.code or type(err).__name__
            return self._retry(row, attempts, code, str(err), err.retry_after)
        except Exception as err:
            # A bug in an adapter, not a verdict on the message: retry it like a deferral, and
            # log the first such error per channel and type (then again after a success).
            kind = (row.channel, type(err).__name__)
            if kind not in self._unexpected_logged:
                self._unexpected_logged.add(kind)
                log.exception(
                    "unexpected error sending an outbox row",
                    extra={"outbox_id": row.id, "channel": row.channel},
                )
            return self._retry(row, attempts, UNEXPECTED, repr(err), None)
        if self._unexpected_logged:
            self._unexpected_logged = {k for k in self._unexpected_logged if k[0] != row.channel}
        return Outcome(row.id, row.channel, "sent", attempts, provider_id=provider_id, error=note)

    async def _send(
        self, message: Message, events: list[PushTokenRejected]
    ) -> tuple[str | None, str | None]:
        """Hand one message to its port; returns (provider id, a note worth keeping)."""
        if isinstance(message, PushMessage):
            return await self._push.send(message), None
        if isinstance(message, SmsMessage):
            return await self._sms.send_sms(message), None
        if isinstance(message, VoiceCall):
            return await self._voice.place_call(message), None
        result = await self._push.change_topic(message)
        if not result.failures:
            return None, None
        events.extend(
            PushTokenRejected(token, reason)
            for token, reason in result.failures.items()
            if reason in TOKEN_REJECTION_CODES
        )
        reasons = Tally(result.failures.values())
        summary = ", ".join(f"{reason}: {n}" for reason, n in sorted(reasons.items()))
        return None, f"{len(result.failures)} of {len(message.tokens)} tokens failed: {summary}"

    def _failed(self, row: ClaimedRow, code: str, error: str) -> Outcome:
        return Outcome(
            row.id, row.channel, "failed", row.attempts + 1, error_code=code, error=error
        )

    def _retry(
        self,
        row: ClaimedRow,
        attempts: int,
        code: str,
        error: str,
        retry_after: float | None,
    ) -> Outcome:
        if attempts >= self._config.max_attempts:
            return Outcome(row.id, row.channel, "dead", attempts, error_code=code, error=error)
        delay = self.backoff(attempts)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return Outcome(
            row.id,
            row.channel,
            "queued",
            attempts,
            next_attempt_at=self._clock.now() + timedelta(seconds=delay),
            error_code=code,
            error=error,
        )

    def backoff(self, attempts: int) -> float:
        """Seconds before retry number `attempts`: full jitter, uniform in [0, base·2^(n-1)],
        capped at backoff_max_s."""
        exponent = min(max(attempts - 1, 0), 62)  # beyond this the cap always wins anyway
        ceiling = min(self._config.backoff_max_s, self._config.backoff_base_s * 2.0**exponent)
        return self._rng.uniform(0.0, ceiling)

    def _finish(self, row: ClaimedRow, outcome: Outcome, events: list[PushTokenRejected]) -> None:
        if self._journal is not None and outcome.status == "sent":
            self._journal.append(row.id, outcome.provider_id)
        self._outcomes.append(outcome)
        self._events.extend(events)
        lane = LANE_OF[row.channel]
        self._lane_load[lane] -= 1
        self._results.set()
        if self._lane_limit[lane] - self._lane_load[lane] >= max(1, self._lane_limit[lane] // 4):
            self._kick.set()

    # -- recording --------------------------------------------------------------------------

    async def flush(self) -> int:
        """Record every finished outcome in one transaction, then publish their events."""
        async with self._flush_lock:
            if not self._outcomes:
                return 0
            outcomes, self._outcomes = self._outcomes, []
            events, self._events = self._events, []
            # Every outcome journaled so far is in `outcomes` (or recorded before).
            journaled = self._journal.switch() if self._journal is not None else None
            try:
                await self._outbox.record(outcomes, events)
            except BaseException:
                # Keep them: the next flush tries again, and they are never lost silently.
                self._outcomes[:0] = outcomes
                self._events[:0] = events
                raise
            if self._journal is not None and journaled is not None:
                self._journal.clear(journaled)
            tally: Tally[tuple[Channel, str]] = Tally()
            for outcome in outcomes:
                self._held.pop(outcome.row_id, None)
                self._started.discard(outcome.row_id)
                result = metric_outcome(outcome)
                tally[outcome.channel, result] += 1
                if outcome.status == "dead":
                    log.warning(
                        "outbox row is dead: attempts exhausted",
                        extra={
                            "outbox_id": outcome.row_id,
                            "channel": outcome.channel,
                            "attempts": outcome.attempts,
                            "error_code": outcome.error_code,
                        },
                    )
            for (channel, label), count in tally.items():
                self._messages.labels(channel, label).inc(count)
            if any(result in ("deferred", "dead") for _, result in tally):
                self._last_trouble = self._clock.now()
            self._report()
        for event in events:
            await self._bus.publish(event)
        return len(outcomes)

    # -- start-up recovery ------------------------------------------------------------------

    async def recover(self) -> RecoveryReport:
        """Settle rows a previous process left `sending` (it crashed mid-send).

        A row the sent journal names finished before the crash: it is marked sent with the
        provider's id. Otherwise an SMS or call is looked up at the provider: if it is there,
        the row is marked sent and not sent again. A push cannot be looked up (FCM has no such
        API), so it is queued again: only the sends in flight at the crash (at most
        `concurrency`) can go out twice, and their tag and collapse key make the phone replace,
        not repeat, the notification. A row whose lookup fails stays `sending` for the next try.
        """
        rows = await self._outbox.stale(exclude=self._held)
        if not rows:
            self._unresolved = 0
            return RecoveryReport()
        journaled, self._journaled_before = self._journaled_before, {}
        results = await asyncio.gather(*(self._reconcile(row, journaled) for row in rows))
        outcomes = [outcome for outcome in results if outcome is not None]
        self._outcomes.extend(outcomes)
        await self.flush()
        report = RecoveryReport(
            requeued=sum(1 for o in outcomes if o.status == "queued"),
            reconciled=sum(1 for o in outcomes if o.status == "sent"),
            unresolved=len(rows) - len(outcomes),
            journaled=sum(1 for row in rows if row.id in journaled),
        )
        self._unresolved = report.unresolved
        self._report()
        log.info(
            "outbox recovered rows left sending",
            extra={
                "requeued": report.requeued,
                "reconciled": report.reconciled,
                "unresolved": report.unresolved,
                "journaled": report.journaled,
                "settled_otherwise": len(outcomes) - report.requeued - report.reconciled,
            },
        )
        return report

    async def _recover_logged(self) -> None:
        try:
            report = await self.recover()
        except Exception as err:
            self._fail("recover", err)
            self._recovery_pending = True
            return
        self._clear_failure("recover")
        self._recovery_pending = report.unresolved > 0

    async def _reconcile(self, row: ClaimedRow, journaled: dict[int, str]) -> Outcome | None:
        attempts = row.attempts + 1  # the interrupted send counts as an attempt
        if row.id in journaled:
            # It finished before the crash; only its recording was lost.
            return Outcome(row.id, row.channel, "sent", attempts, provider_id=journaled[row.id])
        try:
            message = row.message()
        except Exception as err:  # as in _deliver
            return self._failed(row, UNREADABLE, f"stored payload cannot be read: {err!r}")
        if isinstance(message, SmsMessage | VoiceCall):
            # The adapter allows for the provider's clock differing a little from ours.
            since = row.claimed_at
            try:
                async with self._semaphore:
                    if isinstance(message, SmsMessage):
                        found = await self._sms.find_sms(message, since)
                    else:
                        found = await self._voice.find_call(message, since)
            except Exception as err:
                log.warning(
                    "outbox could not reconcile a row with the provider; will retry",
                    extra={"outbox_id": row.id, "channel": row.channel, "error": repr(err)},
                )
                return None
            if found:
                return Outcome(row.id, row.channel, "sent", attempts, provider_id=found)
        if attempts >= self._config.max_attempts:
            return Outcome(
                row.id,
                row.channel,
                "dead",
                attempts,
                error_code=INTERRUPTED,
                error="interrupted by a crash on the last allowed attempt",
            )
        return Outcome(
            row.id,
            row.channel,
            "queued",
            attempts,
            next_attempt_at=self._clock.now(),
            error_code=INTERRUPTED,
            error="the process stopped while this was being sent",
        )

    # -- health and metrics -----------------------------------------------------------------

    def _fail(self, stage: str, err: Exception) -> None:
        detail = f"{stage} failed: {err!r}"
        if self._failure is None:
            log.exception("outbox worker is failing", extra={"stage": stage})
        self._failure = detail
        self._report()

    def _clear_failure(self, stage: str) -> None:
        if self._failure is not None and self._failure.startswith(stage):
            self._failure = None
            self._report()

    def _report(self) -> None:
        now = self._clock.now()
        status: Status
        if self._failure is not None:
            status, detail = "failing", self._failure
        elif self._unresolved:
            status, detail = "degraded", f"{self._unresolved} rows await reconciliation"
        elif now - self._last_trouble < TROUBLE_WINDOW:
            status, detail = "degraded", "sends deferred or dead-lettered in the last minute"
        else:
            status, detail = "ok", ""
        if status != self._status:
            if self._status is not None:
                level = logging.INFO if status == "ok" else logging.WARNING
                log.log(level, "outbox is %s", status, extra={"status": status, "detail": detail})
            self._status = status
        self._health.report("outbox", status, detail, at=now)

    async def refresh_metrics(self) -> None:
        """Set outbox_queue_depth from the database (called before each /metrics scrape)."""
        depth = await self._outbox.depth()
        for channel in CHANNELS:
            for status in ("queued", "sending"):
                self._depth.labels(channel, status).set(depth.get((channel, status), 0))
