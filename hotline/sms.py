"""SMS SOS: a text starting with an SOS keyword becomes a rescue request; anything else gets the
hotline's help text."""

from __future__ import annotations

import logging
from datetime import datetime

import aiosqlite

from hotline import rescue, texts
from hotline.flow import Context, Form, Step
from hotline.models import NewRescueRequest, parse_sos
from hotline.twiml import sms_reply

log = logging.getLogger(__name__)


class Sms:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def receive(self, form: Form) -> str:
        text = parse_sos(form.get("Body", ""))
        sender = form.get("From", "")
        sid = form.get("MessageSid") or form.get("SmsSid", "")
        if text is None:
            return sms_reply(texts.SMS_HELP)

        async def act(conn: aiosqlite.Connection, now: datetime) -> Step:
            draft = NewRescueRequest(source="sms", caller=sender, source_sid=sid, address=text)
            request = await rescue.create_request(conn, draft, at=now, actor=f"caller:{sender}")
            log.info(
                "rescue request created",
                extra={"message_sid": sid, "request": request.number, "source": "sms"},
            )
            return Step(
                sms_reply(texts.sms_request_created(request.number, bool(text))),
                events=[rescue.event_for(request)],
            )

        return await self.ctx.once(sid, "sms", act)
