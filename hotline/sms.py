"""SMS SOS: a text opening with an SOS keyword becomes a rescue request; any text from a number
whose request is still open adds to that request; anything else gets the help text."""

from __future__ import annotations

import logging
from datetime import datetime

import aiosqlite

from hotline import texts
from hotline.flow import Context, Form, Step
from hotline.models import (
    NewRescueRequest,
    RescueAddition,
    RescueRequestCreated,
    parse_sms_people,
    parse_sos,
    parse_status_query,
)
from hotline.twiml import sms_reply

log = logging.getLogger(__name__)


class Sms:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def receive(self, form: Form) -> str:
        body = form.get("Body", "")
        text = parse_sos(body)
        sender = form.get("From", "")
        sid = form.get("MessageSid") or form.get("SmsSid", "")
        actor = f"caller:{sender}"
        teams = self.ctx.ports.teams
        if teams is not None:
            # A team's answer to an offer (NHAN 1023 …) is dispatch's; anything else is ours.
            # Not run once per MessageSid: a retried answer is answered again, unchanged.
            team_reply = await teams.reply(sender, body, sid)
            if team_reply is not None:
                return sms_reply(texts.Text(team_reply, team_reply))  # Vietnamese only

        desk = self.ctx.ports.rescue
        asks_status, number = parse_status_query(body)
        if asks_status and sender:
            # Read only: no step to record. Only the request's own phones hear its state.
            return sms_reply(await self._status(sender, number))

        async def act(conn: aiosqlite.Connection, now: datetime) -> Step:
            open_request = await desk.open_for(conn, sender) if sender else None
            if open_request is not None:
                words = body.strip() if text is None else text
                addition = RescueAddition(people=parse_sms_people(words), more_address=words)
                request = await desk.add(conn, open_request.id, addition, actor=actor)
                log.info(
                    "rescue request added to by SMS",
                    extra={"message_sid": sid, "request": request.number},
                )
                return Step(sms_reply(texts.sms_request_updated(request.number)), rescue=True)
            if text is None:
                return Step(sms_reply(texts.SMS_HELP))
            draft = NewRescueRequest(
                source="sms",
                caller=sender,
                source_sid=sid,
                address=text,
                people=parse_sms_people(text),
            )
            request = await desk.create(conn, draft, actor=actor)
            log.info(
                "rescue request created",
                extra={"message_sid": sid, "request": request.number, "source": "sms"},
            )
            return Step(
                sms_reply(texts.sms_request_created(request.number, bool(text))),
                events=[RescueRequestCreated.of(request.id, request.number, draft)],
                rescue=True,
            )

        return await self.ctx.once(sid, "sms", act)

    async def _status(self, sender: str, number: str | None) -> texts.Text:
        tickets = await self.ctx.ports.rescue.tickets_for(sender, number)
        if not tickets:
            return texts.sms_no_request(number)
        ticket = tickets[0]
        log.info("rescue request state asked by SMS", extra={"request": ticket.number})
        return texts.sms_request_status(ticket.number, ticket.state_words, ticket.state_words_en)
