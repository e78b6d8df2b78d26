"""Offers: a request offered to one team at a time, by push, SMS and (if configured) a voice
call, each offer and its messages committed in one transaction; the team's answer (SMS, the
team API, a keypress, or an operator recording it); the acknowledgement timeout that moves to
the next team; escalation after too many failed offers (dispatch.escalation).

    new/triaged ──offer──► offered ──accept──► accepted ──► en_route ──► on_scene ──► resolved
                              │ decline / no answer in time
                              ▼
                           triaged ──► the next team (recommend, skipping teams offered before)
                                       or, after `max_failed_offers` or with no team left,
                                       escalated (alarm, console event, SMS to duty dispatchers)

Deadlines are stored with the offer: a restarted process times out what fell due meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Literal

import aiosqlite

from canhbao.audit import record_audit
from canhbao.clock import Clock
from canhbao.db import Database
from dispatch import offers_texts as texts
from dispatch.errors import Conflict, NotAuthorised, NotFound
from dispatch.escalation import Escalations
from dispatch.events import RequestCreated
from dispatch.models import RescueRequest, State
from dispatch.offers_messages import (
    OfferSettings,
    confirm_messages,
    offer_messages,
    withdrawn_messages,
)
from dispatch.recommend import Recommendation, TeamTable, open_request, recommend
from dispatch.requests import Requests
from dispatch.store import offers as store
from dispatch.store import teams as team_store
from dispatch.store.offers import Offer, OfferStatus
from dispatch.teams import Team
from notify.twiml import Speech

log = logging.getLogger(__name__)

Action = Literal["accept", "decline", "en_route", "on_scene", "done"]
Via = Literal["sms", "api", "voice", "operator", "timeout"]
SYSTEM = "system:dispatch"
# Requests waiting for a team: what the recommendation is for.
WAITING = (State.new, State.triaged)


class Offers:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        requests: Requests,
        escalations: Escalations,
        settings: OfferSettings,
    ) -> None:
        self.db = db
        self.clock = clock
        self.requests = requests
        self.escalations = escalations
        self.settings = settings
        self.speech = Speech(settings.voice_name)
        # Set after every transaction that changed requests or offers: the deadline timer
        # (dispatch.deadlines) looks again, its next deadline may have moved.
        self.changed = asyncio.Event()
        requests.watchers.append(self)

    # -- recommending ------------------------------------------------------------------------

    async def recommendations(self) -> list[tuple[RescueRequest, Recommendation]]:
        """Every open request waiting for a team, in queue order, with its recommendation."""
        queue = [r for r in await self.requests.open_queue() if r.state in WAITING]
        teams = await team_store.list_teams(self.db)
        offered = await store.offered_teams_all(self.db)
        table = TeamTable(teams, self.clock.now(), self.settings.position_fresh_for)
        found = recommend([open_request(r, offered.get(r.id, set())) for r in queue], table)
        return [(r, found[r.id]) for r in queue]

    async def recommendation(self, request_id: int) -> Recommendation:
        request = await self.requests.get(request_id)
        return await self._recommend_in(self.db, request)

    async def _recommend_in(
        self, reader: aiosqlite.Connection | Database, request: RescueRequest
    ) -> Recommendation:
        teams = await team_store.list_teams(reader)
        offered = await store.offered_teams(reader, request.id)
        table = TeamTable(teams, self.clock.now(), self.settings.position_fresh_for)
        return recommend([open_request(request, set(offered))], table)[request.id]

    # -- offering ----------------------------------------------------------------------------

    async def offer(
        self,
        request_id: int,
        team_id: int | None,
        *,
        actor: str,
        claimant: str | None = None,
    ) -> Offer:
        """Offer the request to `team_id` (None: the recommended team); a dispatcher's own
        offer respects the claim lock (`claimant`)."""
        async with self.db.transaction() as conn:
            request = await self.requests.load(conn, request_id)
            if team_id is None:
                choice = await self._recommend_in(conn, request)
                if choice.team is None:
                    raise Conflict(f"no team to offer request {request.number} to: {choice.reason}")
                team, reason = choice.team, choice.reason
            else:
                team = await _team(conn, team_id)
                reason = f"chọn bằng tay bởi {actor}"
            offer = await self._offer_in(
                conn, request, team, actor=actor, claimant=claimant, reason=reason
            )
        self.requests.committed()
        return offer

    async def _offer_in(
        self,
        conn: aiosqlite.Connection,
        request: RescueRequest,
        team: Team,
        *,
        actor: str,
        claimant: str | None,
        reason: str,
    ) -> Offer:
        now = self.clock.now()
        if not team.on_duty:
            raise Conflict(f"team {team.name} is off duty")
        live = await store.live_offer(conn, request.id)
        if live is not None:
            raise Conflict(
                f"request {request.number} is already {live.status} by team {live.team_name}"
                " (release it first, or reassign)"
            )
        offer_id = await store.insert_offer(
            conn,
            request.id,
            team.id,
            at=now,
            expires_at=now + self.settings.ack_timeout,
            actor=actor,
            reason=reason,
        )
        request = await self.requests.transition_in(
            conn,
            request.id,
            State.offered,
            actor=actor,
            claimant=claimant,
            detail={"offer_id": offer_id, "team_id": team.id, "team": team.name},
        )
        offer = await store.get_offer(conn, offer_id)
        assert offer is not None  # noqa: S101  # just written
        await self.requests.ports.messages.enqueue_in(
            conn, offer_messages(self.settings, self.speech, offer, request, team)
        )
        await _audit(conn, now, actor, "dispatch_offer.create", offer, reason=reason)
        log.info(
            "rescue request offered",
            extra={"request": request.number, "team_id": team.id, "offer_id": offer_id},
        )
        return offer

    # -- answers -----------------------------------------------------------------------------

    async def answer(
        self,
        offer_id: int,
        action: Action,
        *,
        via: Via,
        actor: str,
        team_id: int | None = None,
        claimant: str | None = None,
        replied_from: str | None = None,
    ) -> tuple[Offer, RescueRequest]:
        """Apply a team's answer to its offer. `team_id` is the team answering (None: an
        operator recording it); an answer for an offer made to another team is refused
        (NotAuthorised) and logged. `replied_from`: the member's phone an SMS answer came
        from (its reply carries the details, so it is not texted them again)."""
        async with self.db.transaction() as conn:
            offer = await store.get_offer(conn, offer_id)
            if offer is None:
                raise NotFound(f"no offer {offer_id}")
            if team_id is not None and offer.team_id != team_id:
                log.warning(
                    "team answer refused: the request was not offered to this team",
                    extra={"offer_id": offer_id, "team_id": team_id, "via": via},
                )
                raise NotAuthorised(f"offer {offer_id} was not made to this team")
            result = await self._answer_in(
                conn,
                offer,
                action,
                via=via,
                actor=actor,
                claimant=claimant,
                replied_from=replied_from,
            )
        self.requests.committed()
        await self.escalations.changed()
        return result

    async def _answer_in(
        self,
        conn: aiosqlite.Connection,
        offer: Offer,
        action: Action,
        *,
        via: Via,
        actor: str,
        claimant: str | None = None,
        replied_from: str | None = None,
    ) -> tuple[Offer, RescueRequest]:
        now = self.clock.now()
        request = await self.requests.load(conn, offer.request_id)
        if action in ("accept", "decline"):
            if offer.status != "pending":
                if (action, offer.status) in (("accept", "accepted"), ("decline", "declined")):
                    return offer, request  # the same answer again (a retried webhook)
                raise Conflict(
                    f"offer {offer.id} is {offer.status}: it no longer waits for an answer"
                )
            if not request.is_open:
                await self._end_in(conn, offer, "withdrawn", now=now, actor=SYSTEM)
                raise Conflict(f"request {request.number} is {request.state.value}")
            status: OfferStatus = "accepted" if action == "accept" else "declined"
            await store.set_status(
                conn, offer.id, status, at=now, via=via, by=actor, expect=("pending",)
            )
            detail = {"offer_id": offer.id, "team": offer.team_name, "via": via}
            if action == "accept":
                request = await self.requests.transition_in(
                    conn, request.id, State.accepted, actor=actor, claimant=claimant, detail=detail
                )
                await self.requests.tell_in(
                    conn,
                    request,
                    f"on_the_way:{offer.id}",
                    texts.team_on_the_way(request.number, offer.team_name),
                )
                await self._confirm_in(conn, offer, request, skip=replied_from)
                await self.escalations.clear_in(conn, request.id, actor=actor)
            else:
                request = await self.requests.transition_in(
                    conn, request.id, State.triaged, actor=actor, claimant=claimant, detail=detail
                )
                request = await self._next_in(conn, request)
        else:
            if offer.status != "accepted":
                if action == "done" and offer.status == "done":
                    return offer, request
                raise Conflict(
                    f"offer {offer.id} is {offer.status}: the team does not hold the job"
                )
            if action == "done":
                # Ended before the request is resolved: the team's own answer, not a closing
                # by a dispatcher (which would tell the team its job was withdrawn).
                await store.set_status(conn, offer.id, "done", at=now, expect=("accepted",))
            targets = {
                "en_route": (State.en_route,),
                "on_scene": (State.on_scene,),
                "done": (State.on_scene, State.resolved),
            }[action]
            for target in targets:
                if request.state is target:
                    continue
                request = await self.requests.transition_in(
                    conn,
                    request.id,
                    target,
                    actor=actor,
                    claimant=claimant,
                    detail={"offer_id": offer.id, "team": offer.team_name, "via": via},
                )
        after = await store.get_offer(conn, offer.id)
        assert after is not None  # noqa: S101  # read in this transaction
        await _audit(conn, now, actor, f"dispatch_offer.{action}", after, via=via)
        log.info(
            "team answered an offer",
            extra={"offer_id": offer.id, "request": request.number, "action": action, "via": via},
        )
        return after, request

    async def _confirm_in(
        self,
        conn: aiosqlite.Connection,
        offer: Offer,
        request: RescueRequest,
        *,
        skip: str | None,
    ) -> None:
        team = await _team(conn, offer.team_id)
        items = confirm_messages(self.settings, offer, request, team)
        await self.requests.ports.messages.enqueue_in(
            conn, [item for item in items if getattr(item.message, "to", None) != skip]
        )

    async def _end_in(
        self,
        conn: aiosqlite.Connection,
        offer: Offer,
        status: OfferStatus,
        *,
        now: datetime,
        actor: str,
    ) -> None:
        await store.set_status(
            conn, offer.id, status, at=now, by=actor, expect=("pending", "accepted")
        )

    async def _next_in(self, conn: aiosqlite.Connection, request: RescueRequest) -> RescueRequest:
        """After a failed offer: escalate after too many, else offer the next team (when
        automatic offers are on), else escalate when no team is left."""
        failed = await store.count_failed(conn, request.id)
        if failed >= self.settings.max_failed_offers:
            await self.escalations.escalate_in(
                conn, request, failed, "các đội được mời đều từ chối hoặc không trả lời kịp"
            )
            return request
        if not self.settings.auto_offer:
            return request
        choice = await self._recommend_in(conn, request)
        if choice.team is None:
            await self.escalations.escalate_in(conn, request, failed, choice.reason)
            return request
        await self._offer_in(
            conn, request, choice.team, actor=SYSTEM, claimant=None, reason=choice.reason
        )
        return await self.requests.load(conn, request.id)

    # -- a request changed by other hands ----------------------------------------------------

    async def state_changed_in(
        self, conn: aiosqlite.Connection, before: RescueRequest, after: RescueRequest, actor: str
    ) -> None:
        """A request that goes back to waiting for a team or closes (cancelled, unfounded,
        merged as a duplicate, resolved by a dispatcher) ends its team's live offer: withdrawn
        (done when resolved), the team told, its place freed, its deadline dropped. The offer
        flow's own changes (a decline, a timeout, the team's done) end their offer first."""
        if after.is_open and after.state is not State.triaged:
            return
        offer = await store.live_offer(conn, after.id)
        if offer is not None:
            await self._withdraw_in(conn, offer, after, actor=actor)

    def committed(self) -> None:
        self.changed.set()

    async def _withdraw_in(
        self,
        conn: aiosqlite.Connection,
        offer: Offer,
        request: RescueRequest,
        *,
        actor: str,
        off_duty: bool = False,
    ) -> None:
        now = self.clock.now()
        status: OfferStatus = "done" if request.state is State.resolved else "withdrawn"
        await self._end_in(conn, offer, status, now=now, actor=actor)
        team = await _team(conn, offer.team_id)
        await self.requests.ports.messages.enqueue_in(
            conn, withdrawn_messages(self.settings, offer, request, team, off_duty=off_duty)
        )
        ended = await store.get_offer(conn, offer.id)
        assert ended is not None  # noqa: S101  # read in this transaction
        why = {"reason": "team_off_duty"} if off_duty else {}
        await _audit(
            conn, now, actor, "dispatch_offer.withdraw", ended, **why, state=request.state.value
        )
        log.info(
            "offer withdrawn",
            extra={
                "offer_id": offer.id,
                "request": request.number,
                "team_id": offer.team_id,
                "state": request.state.value,
            },
        )

    # -- by hand -----------------------------------------------------------------------------

    async def release(self, request_id: int, *, actor: str, claimant: str | None) -> RescueRequest:
        """Take the request back from its team (offered or holding it): it waits for a team
        again; the team is not offered it again automatically."""
        async with self.db.transaction() as conn:
            request = await self._release_in(conn, request_id, actor=actor, claimant=claimant)
        self.requests.committed()
        return request

    async def _release_in(
        self, conn: aiosqlite.Connection, request_id: int, *, actor: str, claimant: str | None
    ) -> RescueRequest:
        now = self.clock.now()
        request = await self.requests.load(conn, request_id)
        offer = await store.live_offer(conn, request_id)
        if offer is None:
            raise Conflict(f"request {request.number} is not offered to any team")
        if request.state in (State.offered, State.accepted, State.en_route):
            # The change withdraws the offer and tells the team (state_changed_in).
            request = await self.requests.transition_in(
                conn,
                request_id,
                State.triaged,
                actor=actor,
                claimant=claimant,
                detail={"offer_id": offer.id, "team": offer.team_name, "released": True},
            )
        else:
            self.requests.check_claim(request, claimant, now)
            await self._withdraw_in(conn, offer, request, actor=actor)
        ended = await store.get_offer(conn, offer.id)
        assert ended is not None  # noqa: S101  # read in this transaction
        await _audit(conn, now, actor, "dispatch_offer.release", ended)
        return request

    async def reassign(
        self, request_id: int, team_id: int, *, actor: str, claimant: str | None
    ) -> Offer:
        """Release the request from its team and offer it to `team_id`, in one transaction."""
        async with self.db.transaction() as conn:
            team = await _team(conn, team_id)
            if await store.live_offer(conn, request_id) is not None:
                await self._release_in(conn, request_id, actor=actor, claimant=claimant)
            request = await self.requests.load(conn, request_id)
            offer = await self._offer_in(
                conn, request, team, actor=actor, claimant=claimant, reason=f"giao lại bởi {actor}"
            )
            await self.escalations.clear_in(conn, request_id, actor=actor)
        self.requests.committed()
        await self.escalations.changed()
        return offer

    # -- time --------------------------------------------------------------------------------

    async def expire_due(self) -> int:
        """Time out every pending offer past its deadline (each in its own transaction, with
        what follows it: the next offer or the escalation); returns how many."""
        expired = 0
        for due in await store.due_offers(self.db, self.clock.now()):
            async with self.db.transaction() as conn:
                offer = await store.get_offer(conn, due.id)
                now = self.clock.now()
                if offer is None or offer.status != "pending" or offer.expires_at > now:
                    continue  # answered meanwhile
                await store.set_status(
                    conn,
                    offer.id,
                    "timed_out",
                    at=now,
                    via="timeout",
                    by=SYSTEM,
                    expect=("pending",),
                )
                request = await self.requests.load(conn, offer.request_id)
                await _audit(conn, now, SYSTEM, "dispatch_offer.timeout", offer)
                if request.state is State.offered:
                    request = await self.requests.transition_in(
                        conn,
                        request.id,
                        State.triaged,
                        actor=SYSTEM,
                        detail={"offer_id": offer.id, "team": offer.team_name, "timed_out": True},
                    )
                    await self._next_in(conn, request)
                log.info(
                    "offer timed out",
                    extra={
                        "offer_id": offer.id,
                        "request": request.number,
                        "team_id": offer.team_id,
                    },
                )
                expired += 1
        if expired:
            self.requests.committed()
            await self.escalations.changed()
        return expired

    async def withdraw_off_duty(self, *, actor: str = SYSTEM) -> int:
        """Withdraw, at once, every offer waiting for a team gone off duty (the team told why),
        each request offered to the next team; accepted jobs stay. Run after team changes and by
        the deadline timer's rounds (a roster from the command line); returns how many."""
        withdrawn = 0
        for due in await store.pending_of_off_duty(self.db):
            async with self.db.transaction() as conn:
                offer = await store.get_offer(conn, due.id)
                if offer is None or offer.status != "pending":
                    continue  # answered meanwhile
                team = await _team(conn, offer.team_id)
                if team.on_duty:
                    continue  # back on duty meanwhile
                request = await self.requests.load(conn, offer.request_id)
                # First, with its own words: the change below then finds no live offer.
                await self._withdraw_in(conn, offer, request, actor=actor, off_duty=True)
                if request.state is State.offered:
                    request = await self.requests.transition_in(
                        conn,
                        request.id,
                        State.triaged,
                        actor=actor,
                        detail={"offer_id": offer.id, "team": offer.team_name, "off_duty": True},
                    )
                    await self._next_in(conn, request)
                withdrawn += 1
        if withdrawn:
            self.requests.committed()
            await self.escalations.changed()
        return withdrawn

    async def on_created(self, event: RequestCreated) -> None:
        """The durable `dispatch.request_created` event's handler (at least once)."""
        await self.on_request_created(event.request_id)

    async def on_request_created(self, request_id: int) -> None:
        """A new request with a location is offered to the recommended team at once (when
        automatic offers are on); idempotent: a request offered before is left alone."""
        if not self.settings.auto_offer:
            return
        async with self.db.transaction() as conn:
            request = await self.requests.load(conn, request_id)
            if request.state not in WAITING or request.lat is None:
                return
            if await store.offers_for(conn, request.id):
                return
            choice = await self._recommend_in(conn, request)
            if choice.team is None:
                await self.escalations.escalate_in(conn, request, 0, choice.reason)
            else:
                await self._offer_in(
                    conn, request, choice.team, actor=SYSTEM, claimant=None, reason=choice.reason
                )
        self.requests.committed()
        await self.escalations.changed()

    # -- reading -----------------------------------------------------------------------------

    async def offers_for(self, request_id: int) -> list[Offer]:
        await self.requests.get(request_id)
        return await store.offers_for(self.db, request_id)

    async def get(self, offer_id: int) -> Offer:
        offer = await store.get_offer(self.db, offer_id)
        if offer is None:
            raise NotFound(f"no offer {offer_id}")
        return offer

    async def jobs_of(self, team_id: int) -> list[Offer]:
        return await store.offers_of_team(self.db, team_id, ("pending", "accepted"))


async def _team(reader: aiosqlite.Connection | Database, team_id: int) -> Team:
    team = await team_store.get_team(reader, team_id)
    if team is None:
        raise NotFound(f"no team {team_id}")
    return team


async def _audit(
    conn: aiosqlite.Connection,
    at: datetime,
    actor: str,
    action: str,
    offer: Offer,
    **extra: str,
) -> None:
    await record_audit(
        conn,
        at=at,
        actor=actor,
        action=action,
        entity="dispatch_offer",
        entity_id=str(offer.id),
        before=None,
        after={**offer.to_json(), **extra},
    )


__all__: Sequence[str] = ("Offer", "OfferSettings", "Offers")
