"""A dispatcher decides a duplicate proposal: merge (the earlier request is kept and absorbs the
later one: both timelines, the earliest time, the highest priority, every phone, every photo,
the most urgent water, the union of the flags; the later one becomes `duplicate`, pointing at
the kept one, and is not deleted) or reject (both stay as they are)."""

from __future__ import annotations

from datetime import datetime

import aiosqlite

from canhbao.audit import record_audit
from canhbao.clock import utc_text
from dispatch import store, texts
from dispatch.errors import Conflict, NotFound
from dispatch.models import (
    ADDRESS_MAX_CHARS,
    NOTES_MAX_CHARS,
    PRIORITY_RANK,
    RescueRequest,
    State,
    clean_text,
    most_urgent_water,
)
from dispatch.requests import ENTITY, Requests
from dispatch.store import duplicates as proposals
from dispatch.store.duplicates import Proposal


class Merger:
    def __init__(self, requests: Requests) -> None:
        self.requests = requests

    async def listing(self, status: str | None, limit: int) -> list[Proposal]:
        return await proposals.list_proposals(self.requests.db, status, limit)

    async def _open_proposal(self, conn: aiosqlite.Connection, proposal_id: int) -> Proposal:
        found = await proposals.get_proposal(conn, proposal_id)
        if found is None:
            raise NotFound(f"no duplicate proposal {proposal_id}")
        if found.status != "proposed":
            raise Conflict(f"duplicate proposal {proposal_id} is {found.status} already")
        return found

    async def reject(self, proposal_id: int, *, actor: str) -> Proposal:
        now = self.requests.clock.now()
        async with self.requests.db.transaction() as conn:
            proposal = await self._open_proposal(conn, proposal_id)
            await proposals.decide_proposal(conn, proposal_id, "rejected", actor, now)
            for request_id in (proposal.request_id, proposal.candidate_id):
                await store.add_history(
                    conn,
                    request_id,
                    now,
                    actor,
                    "duplicate",
                    detail={"rejected": proposal_id},
                )
            await self._audit(conn, now, actor, proposal, "rescue_request.duplicate_rejected")
            decided = await proposals.get_proposal(conn, proposal_id)
        assert decided is not None  # noqa: S101  # just written
        return decided

    async def merge(self, proposal_id: int, *, actor: str) -> RescueRequest:
        """Merge the two requests of a proposal; returns the kept one."""
        requests = self.requests
        now = requests.clock.now()
        async with requests.db.transaction() as conn:
            proposal = await self._open_proposal(conn, proposal_id)
            first = await requests.load(conn, proposal.request_id)
            second = await requests.load(conn, proposal.candidate_id)
            kept, absorbed = sorted((first, second), key=lambda r: (r.created_at, r.id))
            if not kept.is_open:
                raise Conflict(f"rescue request {kept.number} is {kept.state.value}")
            # The absorbed one must be allowed to become a duplicate (InvalidTransition names
            # what it may become otherwise), and neither may be another dispatcher's. It points
            # at the kept one first: a team whose offer it withdraws is told which.
            await store.update_request(conn, absorbed.id, now, duplicate_of=kept.id)
            await requests.transition_in(
                conn,
                absorbed.id,
                State.duplicate,
                actor=actor,
                claimant=actor,
                detail={"duplicate_of": kept.number, "proposal": proposal_id},
            )
            requests.check_claim(kept, actor, now)
            await self._absorb(conn, kept, absorbed, now, actor)
            await proposals.decide_proposal(conn, proposal_id, "merged", actor, now)
            await proposals.close_proposals_of(conn, absorbed.id, actor, now)
            await self._audit(conn, now, actor, proposal, "rescue_request.merge")
            merged = await requests.load(conn, kept.id)
            await requests.tell_in(
                conn, absorbed, f"merged:{kept.id}", texts.merged(absorbed.number, kept.number)
            )
        requests.committed()
        return merged

    async def _absorb(
        self,
        conn: aiosqlite.Connection,
        kept: RescueRequest,
        absorbed: RescueRequest,
        now: datetime,
        actor: str,
    ) -> None:
        columns: dict[str, object] = {
            "created_at": utc_text(min(kept.created_at, absorbed.created_at)),
            "vulnerabilities": ",".join(
                dict.fromkeys((*kept.vulnerabilities, *absorbed.vulnerabilities))
            ),
            "water": most_urgent_water(kept.water, absorbed.water).value,
            "severe_warning": int(kept.severe_warning or absorbed.severe_warning),
            "duplicate_of": None,
        }
        people = [p for p in (kept.people, absorbed.people) if p is not None]
        if people:
            columns["people"] = max(people)
        if absorbed.address and absorbed.address not in kept.address:
            joined = f"{kept.address}; {absorbed.address}" if kept.address else absorbed.address
            columns["address"] = clean_text(joined, ADDRESS_MAX_CHARS)
        if absorbed.notes:
            joined = f"{kept.notes}\n{absorbed.notes}" if kept.notes else absorbed.notes
            columns["notes"] = clean_text(joined, NOTES_MAX_CHARS)
        if kept.lat is None and absorbed.lat is not None:
            columns.update(
                lat=absorbed.lat,
                lon=absorbed.lon,
                accuracy_m=absorbed.accuracy_m,
                location_source=absorbed.location_source,
                ward_code=absorbed.ward_code,
                ward_name=absorbed.ward_name,
            )
        # The highest priority of the two stays, with the reason saying where it came from.
        theirs, ours = absorbed.priority(now), kept.priority(now)
        if PRIORITY_RANK[theirs] < PRIORITY_RANK[ours]:
            columns["priority_override"] = theirs.value
            columns["priority_reason"] = f"gộp từ yêu cầu {absorbed.number}"
        await store.update_request(conn, kept.id, now, **columns)
        await store.add_phones(conn, kept.id, absorbed.phones)
        await store.copy_photos(conn, absorbed.id, kept.id)
        await store.copy_history(conn, absorbed.id, kept.id)
        await store.add_history(
            conn, kept.id, now, actor, "merge", detail={"absorbed": absorbed.number}
        )

    async def _audit(
        self,
        conn: aiosqlite.Connection,
        now: datetime,
        actor: str,
        proposal: Proposal,
        action: str,
    ) -> None:
        await record_audit(
            conn,
            at=now,
            actor=actor,
            action=action,
            entity=ENTITY,
            entity_id=str(proposal.candidate_id),
            before=proposal.to_json(),
            after={"request_id": proposal.request_id, "action": action},
        )
