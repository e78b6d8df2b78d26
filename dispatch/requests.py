"""Rescue requests: the audited operations every channel and every dispatcher goes through.

Each `..._in` method works inside the caller's open transaction (the hotline's webhook step, a
team's keyword, a dispatcher's request), so the change, its timeline line, its audit entry, its
durable event and the requester's SMS commit together or not at all. After a transaction that
created requests, call `committed()` so the event log's subscribers look at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import aiosqlite

from canhbao.audit import record_audit
from canhbao.clock import Clock
from canhbao.db import Database
from canhbao.eventlog import EventLog
from dispatch import duplicates, store, texts
from dispatch.errors import ClaimHeld, Conflict, InvalidInput, NotFound, SourceUnavailable
from dispatch.events import REQUEST_CREATED, RequestCreated
from dispatch.models import (
    ADDRESS_MAX_CHARS,
    NOTES_MAX_CHARS,
    REASON_MAX_CHARS,
    Claim,
    HistoryEntry,
    NewRequest,
    Priority,
    RescueRequest,
    State,
    Vulnerability,
    Water,
    check_people,
    check_transition,
    checked,
    clean_text,
    open_order,
)
from dispatch.ports import DispatchPorts, Ward
from notify.models import OutboxItem, PushMessage, SmsMessage

log = logging.getLogger(__name__)

ENTITY = "rescue_request"
DEFAULT_CLAIM = timedelta(minutes=10)
# What requesters are told goes out beside offers (80) and ahead of warnings' fan-out (0).
REQUESTER_PRIORITY = 50


@dataclass(frozen=True)
class Details:
    """What may be added to a request after it was created; None leaves a field as it is."""

    recording_url: str | None = None
    people: int | None = None
    vulnerabilities: tuple[Vulnerability, ...] | None = None
    water: Water | None = None
    more_address: str | None = None
    notes: str | None = None


class StateWatcher(Protocol):
    """Who else acts on a request's state change (dispatch.offers: a team's live offer ends when
    its request goes back to triaged or closes), inside the changing transaction; `committed`
    is told after every transaction that changed requests."""

    async def state_changed_in(
        self, conn: aiosqlite.Connection, before: RescueRequest, after: RescueRequest, actor: str
    ) -> None: ...

    def committed(self) -> None: ...


class Requests:
    """The rescue requests' operations, with the ports they read and the outbox they write."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        events: EventLog,
        ports: DispatchPorts,
        *,
        sms_sender: str,
        claim_for: timedelta = DEFAULT_CLAIM,
    ) -> None:
        self.db = db
        self.clock = clock
        self.events = events
        self.ports = ports
        self.sms_sender = sms_sender
        self.claim_for = claim_for
        self.watchers: list[StateWatcher] = []

    # -- creating ----------------------------------------------------------------------------

    async def create(self, draft: NewRequest, *, actor: str) -> RescueRequest:
        """Check and store a request in its own transaction."""
        async with self.db.transaction() as conn:
            request = await self.create_in(conn, draft, actor=actor)
        self.committed()
        return request

    async def create_in(
        self, conn: aiosqlite.Connection, draft: NewRequest, *, actor: str
    ) -> RescueRequest:
        """Check and store a request inside the caller's transaction: its ward and whether a
        severe warning covers it, its first timeline line, its audit entry, the durable
        RequestCreated event and the SMS telling the requester its number."""
        draft = checked(draft)
        now = self.clock.now()
        ward, severe = await self._place(draft)
        row_id = await store.insert_request(
            conn, draft, now, ward=(ward.code, ward.name) if ward else None, severe_warning=severe
        )
        request = await self.load(conn, row_id)
        await record_change_in(
            conn,
            row_id,
            now,
            actor,
            "created",
            states=(None, State.new),
            detail={"source": draft.source},
            audit=("create", None, request.to_json(now)),
        )
        await self.events.append(
            conn,
            REQUEST_CREATED,
            [
                RequestCreated(
                    request_id=request.id,
                    number=request.number,
                    source=request.source,
                    lat=request.lat,
                    lon=request.lon,
                    ward_code=request.ward_code,
                    priority=request.priority(now).value,
                )
            ],
        )
        await duplicates.propose_in(conn, request, now, "dispatch")
        # An SMS request is answered by the hotline's own reply to that SMS (its TwiML).
        if draft.source != "sms":
            body = texts.received(request.number, by_sms=bool(request.phones))
            await self.tell_in(conn, request, "received", body)
        log.info(
            "rescue request created",
            extra={"request": request.number, "source": request.source, "ward": request.ward_code},
        )
        return request

    def committed(self) -> None:
        """A transaction that created or changed requests is over: the event log's subscribers
        and the state watchers look now."""
        self.events.committed()
        for watcher in self.watchers:
            watcher.committed()

    async def _place(self, draft: NewRequest) -> tuple[Ward | None, bool]:
        if draft.lat is None or draft.lon is None:
            return None, False
        ward: Ward | None = None
        severe = False
        try:
            ward = await self.ports.wards.ward_at(draft.lon, draft.lat)
        except SourceUnavailable as err:
            log.warning("ward of a rescue request not known", extra={"error": str(err)})
        try:
            severe = await self.ports.warnings.severe_at(draft.lon, draft.lat)
        except SourceUnavailable as err:
            log.warning("warnings at a rescue request not known", extra={"error": str(err)})
        return ward, severe

    # -- telling the requester ---------------------------------------------------------------

    async def tell_in(
        self, conn: aiosqlite.Connection, request: RescueRequest, what: str, body: str
    ) -> int:
        """Queue one SMS per phone of the request and, when it came from the app, a push to
        that device (its token as it is now), inside the caller's transaction; each once: the
        key names the request, the news and the phone (or the push)."""
        reference = f"dispatch:{request.number}"
        items = [
            OutboxItem(
                channel="sms",
                message=SmsMessage(to=phone, body=body, sender=self.sms_sender),
                idempotency_key=f"dispatch:{request.id}:{what}:{phone}",
                reference=reference,
                priority=REQUESTER_PRIORITY,
            )
            for phone in request.phones
            if phone.startswith("+")
        ]
        token = (
            await self.ports.push_tokens.push_token(conn, request.device_id)
            if request.device_id
            else None
        )
        if token:
            items.append(
                OutboxItem(
                    channel="push",
                    message=PushMessage(
                        target_kind="token",
                        target=token,
                        title=texts.push_title(request.number),
                        body=body,
                        data={
                            "kind": "rescue_request",
                            "news": what.split(":", 1)[0],
                            "request_number": request.number,
                        },
                        tag=f"dispatch-{request.number}-{what}",
                    ),
                    idempotency_key=f"dispatch:{request.id}:{what}:push",
                    reference=reference,
                    priority=REQUESTER_PRIORITY,
                )
            )
        return await self.ports.messages.enqueue_in(conn, items) if items else 0

    # -- reading -----------------------------------------------------------------------------

    async def load(self, conn: aiosqlite.Connection | Database, request_id: int) -> RescueRequest:
        found = await store.get_request(conn, request_id)
        if found is None:
            raise NotFound(f"no rescue request {request_id}")
        return found

    async def get(self, request_id: int) -> RescueRequest:
        return await self.load(self.db, request_id)

    async def timeline(self, request_id: int) -> list[HistoryEntry]:
        await self.get(request_id)
        return await store.history(self.db, request_id)

    async def listing(
        self, *, state: State | None, limit: int, before_id: int | None
    ) -> list[RescueRequest]:
        return await store.list_requests(self.db, state=state, limit=limit, before_id=before_id)

    async def open_queue(self) -> list[RescueRequest]:
        """Open requests by priority (emergency first), then the longest waiting."""
        return open_order(await store.open_requests(self.db), self.clock.now())

    async def open_for(self, conn: aiosqlite.Connection, phone: str) -> RescueRequest | None:
        return await store.open_request_for(conn, phone) if phone else None

    async def for_phone(self, phone: str, limit: int = 3) -> list[RescueRequest]:
        return await store.requests_for(self.db, phone, limit) if phone else []

    # -- changing ----------------------------------------------------------------------------

    def check_claim(self, request: RescueRequest, claimant: str | None, now: datetime) -> None:
        claim = request.live_claim(now)
        if claimant is None or claim is None or claim.holder == claimant:
            return
        raise ClaimHeld(
            f"rescue request {request.number} is being worked by {claim.holder}",
            holder=claim.holder,
            expires_at=claim.to_json()["expires_at"],
        )

    async def add_details_in(
        self,
        conn: aiosqlite.Connection,
        request_id: int,
        details: Details,
        *,
        actor: str,
        claimant: str | None = None,
    ) -> RescueRequest:
        """Add what the requester told us later (recording, people, needs, water, more words
        about where they are: appended to the address, within its cap); audited."""
        now = self.clock.now()
        before = await self.load(conn, request_id)
        self.check_claim(before, claimant, now)
        check_people(details.people)
        columns: dict[str, Any] = {}
        if details.recording_url is not None:
            columns["recording_url"] = details.recording_url
        if details.people is not None:
            columns["people"] = details.people
        if details.vulnerabilities is not None:
            columns["vulnerabilities"] = ",".join(dict.fromkeys(details.vulnerabilities))
        if details.water is not None:
            columns["water"] = details.water.value
        if details.more_address:
            joined = (
                f"{before.address}; {details.more_address}"
                if before.address
                else details.more_address
            )
            columns["address"] = clean_text(joined, ADDRESS_MAX_CHARS)
        if details.notes is not None:
            columns["notes"] = clean_text(details.notes, NOTES_MAX_CHARS)
        if not columns:
            return before
        await store.update_request(conn, request_id, now, **columns)
        after = await self.load(conn, request_id)
        await record_change_in(
            conn,
            request_id,
            now,
            actor,
            "details",
            detail={"changed": sorted(columns)},
            audit=("update", before.to_json(now), after.to_json(now)),
        )
        return after

    async def transition_in(
        self,
        conn: aiosqlite.Connection,
        request_id: int,
        target: State,
        *,
        actor: str,
        claimant: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> RescueRequest:
        """Move a request to `target`: InvalidTransition (naming the allowed states) if the
        table forbids it, ClaimHeld if `claimant` is a dispatcher and another holds the claim.
        Timestamped, attributed, audited; a resolved request's phones are told by SMS."""
        now = self.clock.now()
        before = await self.load(conn, request_id)
        self.check_claim(before, claimant, now)
        check_transition(before.number, before.state, target)
        await store.set_state(conn, request_id, target, now)
        await record_change_in(
            conn,
            request_id,
            now,
            actor,
            "state",
            states=(before.state, target),
            detail=detail,
            audit=(
                "state",
                {"state": before.state.value},
                {"state": target.value, **(detail or {})},
            ),
        )
        after = await self.load(conn, request_id)
        for watcher in self.watchers:
            await watcher.state_changed_in(conn, before, after, actor)
        if target is State.resolved:
            await self.tell_in(conn, after, "resolved", texts.resolved(after.number))
        log.info(
            "rescue request state changed",
            extra={"request": after.number, "from": before.state.value, "to": target.value},
        )
        return after

    async def transition(
        self,
        request_id: int,
        target: State,
        *,
        actor: str,
        claimant: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> RescueRequest:
        async with self.db.transaction() as conn:
            changed = await self.transition_in(
                conn, request_id, target, actor=actor, claimant=claimant, detail=detail
            )
        self.committed()
        return changed

    async def override_priority(
        self, request_id: int, priority: Priority | None, reason: str, *, actor: str
    ) -> RescueRequest:
        """Staff set the priority (None: back to the computed one), always with a reason."""
        reason = clean_text(reason, REASON_MAX_CHARS)
        if not reason:
            raise InvalidInput("reason: is required", "reason")
        now = self.clock.now()
        async with self.db.transaction() as conn:
            before = await self.load(conn, request_id)
            self.check_claim(before, actor, now)
            await store.update_request(
                conn,
                request_id,
                now,
                priority_override=priority.value if priority else None,
                priority_reason=reason,
            )
            await record_change_in(
                conn,
                request_id,
                now,
                actor,
                "priority",
                detail={
                    "from": before.priority(now).value,
                    "override": priority.value if priority else None,
                    "reason": reason,
                },
                audit=(
                    "priority",
                    {
                        "priority_override": before.priority_override,
                        "priority_reason": before.priority_reason,
                    },
                    {"priority_override": priority, "priority_reason": reason},
                ),
            )
            return await self.load(conn, request_id)

    # -- the claim lock ----------------------------------------------------------------------

    async def claim(self, request_id: int, *, actor: str) -> RescueRequest:
        """Take (or renew) the claim: ClaimHeld naming the holder if another dispatcher has it.
        The check and the write share one write transaction, so of two racing dispatchers one
        wins."""
        now = self.clock.now()
        async with self.db.transaction() as conn:
            before = await self.load(conn, request_id)
            if not before.is_open:
                raise Conflict(f"rescue request {before.number} is {before.state.value}")
            self.check_claim(before, actor, now)
            claim = Claim(actor, now + self.claim_for)
            await store.set_claim(conn, request_id, claim, now)
            await self._claim_line(conn, before, now, actor, "claimed", claim)
            return await self.load(conn, request_id)

    async def release(self, request_id: int, *, actor: str, force: bool = False) -> RescueRequest:
        """Let go of the claim; `force` (an admin) breaks another dispatcher's."""
        now = self.clock.now()
        async with self.db.transaction() as conn:
            before = await self.load(conn, request_id)
            held = before.live_claim(now)
            if held is None:
                return before
            if not force:
                self.check_claim(before, actor, now)
            await store.set_claim(conn, request_id, None, now)
            what = "broken" if held.holder != actor else "released"
            await self._claim_line(conn, before, now, actor, what, held)
            return await self.load(conn, request_id)

    async def _claim_line(
        self,
        conn: aiosqlite.Connection,
        request: RescueRequest,
        now: datetime,
        actor: str,
        what: str,
        claim: Claim,
    ) -> None:
        detail = {"claim": what, **claim.to_json()}
        await record_change_in(
            conn,
            request.id,
            now,
            actor,
            "claim",
            detail=detail,
            audit=(f"claim_{what}", None, detail),
        )


async def record_change_in(
    conn: aiosqlite.Connection,
    request_id: int,
    now: datetime,
    actor: str,
    kind: str,
    *,
    detail: dict[str, Any] | None,
    audit: tuple[str, Any, Any],
    states: tuple[State | None, State] | None = None,
) -> None:
    """One change of a request, written twice in the caller's transaction: its timeline line
    (`kind`, `detail`, the states it went between) and its audit entry (`audit`: the action
    after "rescue_request.", what was before, what is after)."""
    await store.add_history(
        conn,
        request_id,
        now,
        actor,
        kind,
        from_state=states[0] if states else None,
        to_state=states[1] if states else None,
        detail=detail,
    )
    action, before, after = audit
    await record_audit(
        conn,
        at=now,
        actor=actor,
        action=f"rescue_request.{action}",
        entity=ENTITY,
        entity_id=str(request_id),
        before=before,
        after=after,
    )
