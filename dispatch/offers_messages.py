"""What an offer sends: a push to the team app, an SMS to each member, and (if configured) a
call reading the request in Vietnamese that takes a keypress (1 accept, 2 decline). Pure: the
items are enqueued by dispatch.offers in the offer's own transaction."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta

from twilio.twiml.voice_response import VoiceResponse

from dispatch import offers_texts as texts
from dispatch.models import RescueRequest, request_number
from dispatch.store.offers import Offer
from dispatch.teams import Team
from notify.models import OutboxItem, PushMessage, SmsMessage, VoiceCall
from notify.twiml import Speech, render

# Offers go out ahead of warnings' fan-out (priority 0) and beside requesters' SMS (50).
OFFER_PRIORITY = 80


@dataclass(frozen=True)
class OfferSettings:
    ack_timeout: timedelta
    max_failed_offers: int
    auto_offer: bool
    position_fresh_for: timedelta
    voice: bool
    sms_sender: str
    public_base_url: str
    voice_name: str


def offer_messages(
    settings: OfferSettings, speech: Speech, offer: Offer, request: RescueRequest, team: Team
) -> list[OutboxItem]:
    """The offer's push (to the team app), SMS (to each member) and, if configured, the call."""
    minutes = max(1, round(settings.ack_timeout.total_seconds() / 60))
    items = _to_team(
        settings,
        team,
        request,
        f"dispatch:offer:{offer.id}",
        push=PushMessage(
            target_kind="token",
            target=team.push_token or "",
            title=texts.offer_push_title(request),
            body=texts.offer_push_body(request, minutes),
            data={
                "kind": "dispatch_offer",
                "offer_id": str(offer.id),
                "request_number": request.number,
                "expires_at": offer.expires_at.isoformat(),
            },
            tag=f"dispatch-offer-{offer.id}",
            ttl_s=int(settings.ack_timeout.total_seconds()),
        ),
        sms=texts.offer_sms(request, minutes),
        sms_key=f"dispatch:offer:{offer.id}:sms",
        not_after=offer.expires_at,
    )
    if settings.voice and team.phones:
        items.append(
            OutboxItem(
                channel="voice",
                message=VoiceCall(
                    to=team.phones[0],
                    caller_id=settings.sms_sender,
                    twiml=offer_call(settings, speech, offer, request, team),
                    timeout_s=30,
                ),
                idempotency_key=f"dispatch:offer:{offer.id}:voice:{team.phones[0]}",
                reference=f"dispatch:{request.number}",
                priority=OFFER_PRIORITY,
                not_after=offer.expires_at,
            )
        )
    return items


def _to_team(
    settings: OfferSettings,
    team: Team,
    request: RescueRequest,
    key: str,
    *,
    push: PushMessage | None,
    sms: str,
    sms_key: str,
    not_after: datetime | None = None,
) -> list[OutboxItem]:
    """`push` to the team app (when the team has a token: its target is set here) and `sms`
    to every member; idempotency keys `key`:push and `sms_key`:phone."""
    reference = f"dispatch:{request.number}"
    items: list[OutboxItem] = []
    if push is not None and team.push_token:
        items.append(
            OutboxItem(
                channel="push",
                message=dataclasses.replace(push, target=team.push_token),
                idempotency_key=f"{key}:push",
                reference=reference,
                priority=OFFER_PRIORITY,
                not_after=not_after,
            )
        )
    items.extend(
        OutboxItem(
            channel="sms",
            message=SmsMessage(to=phone, body=sms, sender=settings.sms_sender),
            idempotency_key=f"{sms_key}:{phone}",
            reference=reference,
            priority=OFFER_PRIORITY,
            not_after=not_after,
        )
        for phone in team.phones
    )
    return items


def offer_call(
    settings: OfferSettings, speech: Speech, offer: Offer, request: RescueRequest, team: Team
) -> str:
    """The call's TwiML: the request read twice, keys 1 (accept) and 2 (decline)."""
    base = settings.public_base_url.rstrip("/")
    response = VoiceResponse()
    gather = response.gather(
        num_digits=1,
        timeout=8,
        action=f"{base}/twilio/dispatch/offers/{offer.id}/keypress",
        method="POST",
    )
    for _ in range(2):
        speech.say(gather, texts.offer_voice(team.name, request), texts.VOICE_KEYS)
    speech.say(response, texts.VOICE_NO_KEY)
    return render(response)


def confirm_messages(
    settings: OfferSettings, offer: Offer, request: RescueRequest, team: Team
) -> list[OutboxItem]:
    """The accepting team's members get the requester's phone and the map link by SMS."""
    return _to_team(
        settings,
        team,
        request,
        f"dispatch:offer:{offer.id}:accepted",
        push=None,
        sms=texts.accepted_for_team(request),
        sms_key=f"dispatch:offer:{offer.id}:accepted",
    )


def withdrawn_messages(
    settings: OfferSettings,
    offer: Offer,
    request: RescueRequest,
    team: Team,
    *,
    off_duty: bool = False,
) -> list[OutboxItem]:
    """The team told its offer (or job) is withdrawn: by push to the team app (the same tag as
    the offer, so it replaces the offer's notification) and by SMS to each member."""
    duplicate_of = request_number(request.duplicate_of) if request.duplicate_of else None
    body = texts.withdrawn_for_team(request.number, request.state, duplicate_of, off_duty=off_duty)
    return _to_team(
        settings,
        team,
        request,
        f"dispatch:offer:{offer.id}:withdrawn",
        push=PushMessage(
            target_kind="token",
            target="",
            title=texts.withdrawn_title(request.number),
            body=body,
            data={
                "kind": "dispatch_offer_withdrawn",
                "offer_id": str(offer.id),
                "request_number": request.number,
            },
            tag=f"dispatch-offer-{offer.id}",
        ),
        sms=body,
        sms_key=f"dispatch:offer:{offer.id}:withdrawn",
    )
