"""A team's SMS answer (`NHAN 1023`, `KHONG 1023`, `DEN 1023`, `XONG 1023`): who sent it, which
offer it answers, and the Vietnamese reply. The hotline's SMS webhook hands texts here first
(through its TeamReplies port) and treats them as a citizen's only when this says None."""

from __future__ import annotations

import logging

from dispatch import offers_texts as texts
from dispatch.errors import Conflict, DispatchError, InvalidTransition
from dispatch.keywords import TeamAction, TeamReply, parse_team_reply
from dispatch.models import request_id_of
from dispatch.offers import Offers
from dispatch.store import offers as store
from dispatch.store import teams as team_store
from dispatch.store.offers import Offer
from dispatch.teams import Team

log = logging.getLogger(__name__)

_WAITING_FOR: dict[TeamAction, tuple[str, ...]] = {
    "accept": ("pending",),
    "decline": ("pending",),
    "on_scene": ("accepted",),
    "done": ("accepted",),
}


class TeamSms:
    def __init__(self, offers: Offers) -> None:
        self.offers = offers
        self.db = offers.db

    async def reply(self, phone: str, body: str, message_sid: str = "") -> str | None:
        """The reply to a team's answer, or None when the text is not one (a citizen's)."""
        answer = parse_team_reply(body)
        if answer is None:
            return None
        teams = await team_store.teams_for_phone(self.db, phone) if phone else []
        if not teams:
            if answer.number is None:
                return None  # "ok" from a citizen: the hotline answers it
            log.warning(
                "team keyword from a number in no team",
                extra={"message_sid": message_sid, "action": answer.action},
            )
            return texts.UNKNOWN_PHONE
        found = await self._offer(teams, answer)
        if isinstance(found, str):
            log.warning(
                "team answer refused",
                extra={
                    "message_sid": message_sid,
                    "action": answer.action,
                    "number": answer.number,
                },
            )
            return found
        offer, team = found
        actor = f"team:{team.id}:{phone}"
        try:
            _, request = await self.offers.answer(
                offer.id,
                answer.action,
                via="sms",
                actor=actor,
                team_id=team.id,
                replied_from=phone,
            )
        except (Conflict, InvalidTransition) as err:
            log.warning("team answer refused: %s", err, extra={"message_sid": message_sid})
            number = answer.number or ""
            return (
                texts.not_offered(number)
                if answer.action in ("accept", "decline")
                else (texts.cannot_now(number, str(err)))
            )
        except DispatchError as err:
            log.warning("team answer refused: %s", err, extra={"message_sid": message_sid})
            return texts.not_offered(answer.number or "")
        number = request.number
        if answer.action == "accept":
            return texts.accepted_for_team(request)
        if answer.action == "decline":
            return texts.declined_for_team(number)
        if answer.action == "on_scene":
            return texts.on_scene_for_team(number)
        return texts.done_for_team(number)

    async def _offer(self, teams: list[Team], answer: TeamReply) -> tuple[Offer, Team] | str:
        """The offer the answer is for, or the reply saying why there is none."""
        by_id = {team.id: team for team in teams}
        wanted = _WAITING_FOR[answer.action]
        if answer.number is None:
            candidates = [
                (offer, by_id[offer.team_id])
                for team in teams
                for offer in await store.offers_of_team(self.db, team.id, ("pending", "accepted"))
                if offer.status in wanted
            ]
            if len(candidates) == 1:
                return candidates[0]
            numbers = [str(1000 + offer.request_id) for offer, _ in candidates]
            return texts.which_request(numbers)
        request_id = request_id_of(answer.number)
        if request_id is None:
            return texts.unknown_request(answer.number)
        offer = await store.live_offer(self.db, request_id)
        if offer is None:
            latest = await store.offers_for(self.db, request_id)
            mine = [o for o in latest if o.team_id in by_id]
            if mine and (answer.action, mine[-1].status) in (
                ("accept", "accepted"),
                ("decline", "declined"),
                ("done", "done"),
            ):
                return mine[-1], by_id[mine[-1].team_id]  # the same answer again
            if not latest and not await self._exists(request_id):
                return texts.unknown_request(answer.number)
            return texts.not_offered(answer.number)
        if offer.team_id not in by_id:
            return texts.not_offered(answer.number)
        return offer, by_id[offer.team_id]

    async def _exists(self, request_id: int) -> bool:
        try:
            await self.offers.requests.get(request_id)
        except DispatchError:
            return False
        return True
