"""Escalation: a request no team took (too many failed offers, or no team fits) raises an alarm
until a team accepts it or a dispatcher acts. In the escalating transaction: the mark, a durable
`dispatch.request_escalated` event for the console, and an SMS to each duty dispatcher; then
/healthz shows `dispatch.escalations` degraded and /metrics `dispatch_escalated_requests`."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import aiosqlite
from prometheus_client import CollectorRegistry, Counter, Gauge

from canhbao.audit import record_audit
from canhbao.clock import Clock, utc_text
from canhbao.db import Database
from canhbao.eventlog import EventLog
from canhbao.health import HealthRegistry
from dispatch import offers_texts as texts
from dispatch.events import REQUEST_ESCALATED, RequestEscalated
from dispatch.models import RescueRequest
from dispatch.ports import MessageQueue
from dispatch.store import offers as store
from notify.models import OutboxItem, SmsMessage

log = logging.getLogger(__name__)

HEALTH_NAME = "dispatch.escalations"
# Escalation SMS go before anything else in the outbox.
ESCALATION_PRIORITY = 90


class Escalations:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        events: EventLog,
        messages: MessageQueue,
        health: HealthRegistry,
        registry: CollectorRegistry,
        *,
        duty_phones: Sequence[str],
        sms_sender: str,
    ) -> None:
        self.db = db
        self.clock = clock
        self.events = events
        self.messages = messages
        self.health = health
        self.duty_phones = tuple(duty_phones)
        self.sms_sender = sms_sender
        self.open_gauge = Gauge(
            "dispatch_escalated_requests",
            "Rescue requests escalated (no team took them) and not yet handled",
            registry=registry,
        )
        self.total = Counter(
            "dispatch_escalations",
            "Rescue requests escalated since the process started",
            registry=registry,
        )

    async def escalate_in(
        self, conn: aiosqlite.Connection, request: RescueRequest, failed: int, reason: str
    ) -> bool:
        """Escalate inside the caller's transaction; False when the request already is."""
        now = self.clock.now()
        if not await store.escalate(conn, request.id, now, failed, reason):
            return False
        event = RequestEscalated(request.id, request.number, failed, reason, utc_text(now))
        await self.events.append(conn, REQUEST_ESCALATED, [event])
        body = texts.escalation_sms(request.number, failed, reason)
        await self.messages.enqueue_in(
            conn,
            [
                OutboxItem(
                    channel="sms",
                    message=SmsMessage(to=phone, body=body, sender=self.sms_sender),
                    idempotency_key=f"dispatch:escalation:{request.id}:{utc_text(now)}:{phone}",
                    reference=f"dispatch:{request.number}",
                    priority=ESCALATION_PRIORITY,
                )
                for phone in self.duty_phones
            ],
        )
        await record_audit(
            conn,
            at=now,
            actor="system:dispatch",
            action="rescue_request.escalate",
            entity="rescue_request",
            entity_id=str(request.id),
            before=None,
            after={"failed_offers": failed, "reason": reason},
        )
        self.total.inc()
        log.warning(
            "rescue request escalated: no team took it",
            extra={"request": request.number, "failed_offers": failed, "reason": reason},
        )
        return True

    async def clear_in(self, conn: aiosqlite.Connection, request_id: int, *, actor: str) -> None:
        if await store.clear_escalation(conn, request_id, self.clock.now(), actor):
            log.info("escalation cleared", extra={"request_id": request_id, "by": actor})

    async def changed(self) -> None:
        """After a transaction that may have raised or cleared an alarm: the console's event
        goes out, /healthz and /metrics say so at once."""
        self.events.committed()
        await self.refresh()

    async def refresh(self) -> None:
        """Health and the gauge from the database (the truth): escalations still open, those
        of requests that closed meanwhile dropped."""
        found = await store.open_escalations(self.db)
        if found:
            numbers = ", ".join(str(e.request_id) for e in found[:5])
            self.health.report(
                HEALTH_NAME,
                "degraded",
                f"{len(found)} rescue request(s) no team took (ids {numbers}): dispatch by hand",
                at=self.clock.now(),
                critical=False,
            )
        else:
            self.health.report(HEALTH_NAME, "ok", at=self.clock.now(), critical=False)
        self.open_gauge.set(len(found))

    async def list(self) -> list[dict[str, object]]:
        """Open escalations, oldest first, as the API shows them."""
        return [
            {
                "request_id": e.request_id,
                "escalated_at": utc_text(e.escalated_at),
                "failed_offers": e.failed_offers,
                "reason": e.reason,
            }
            for e in await store.open_escalations(self.db)
        ]
