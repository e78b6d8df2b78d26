"""Teams, offers and escalation: checked config, the services in their context (after the
requests' context), the deadline timer, the health and metrics refresher, the routes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta

from aiohttp import web

from canhbao.config import Config, require_positive
from canhbao.errors import ConfigError
from canhbao.keys import CLOCK, DB, EVENTS, HEALTH, METRIC_REFRESHERS, METRICS
from dispatch import team_routes
from dispatch.deadlines import DeadlineTimer
from dispatch.errors import InvalidInput
from dispatch.escalation import Escalations
from dispatch.keys import DISPATCH_REQUESTS
from dispatch.offers import Offers, OfferSettings
from dispatch.offers_sms import TeamSms
from dispatch.ports import SignedForms
from dispatch.teams import check_phone
from dispatch.teams_keys import (
    DISPATCH_DEADLINES,
    DISPATCH_OFFERS,
    DISPATCH_TEAM_SMS,
    DISPATCH_TEAMS,
    KEYPRESS_FORMS,
)
from dispatch.teams_service import Teams


def setup_teams(app: web.Application, config: Config, *, forms: Callable[[], SignedForms]) -> None:
    """After dispatch.setup: its context builds the requests' service these use. `forms`
    reads a signed Twilio webhook (the offer call's keypress); it runs when the context starts."""
    settings = config.dispatch.offers
    require_positive(
        settings, "dispatch.offers", "ack_timeout_s", "poll_interval_s", "position_fresh_min"
    )
    require_positive(settings, "dispatch.offers", "max_failed_offers", minimum=1)
    for phone in settings.duty_phones:
        try:
            check_phone(phone, "dispatch.offers.duty_phones")
        except InvalidInput as err:
            raise ConfigError(str(err)) from None

    async def teams_ctx(app: web.Application) -> AsyncIterator[None]:
        requests = app[DISPATCH_REQUESTS]
        escalations = Escalations(
            app[DB],
            app[CLOCK],
            app[EVENTS],
            requests.ports.messages,
            app[HEALTH],
            app[METRICS],
            duty_phones=settings.duty_phones,
            sms_sender=config.telephony.hotline_number,
        )
        offers = Offers(
            app[DB],
            app[CLOCK],
            requests,
            escalations,
            OfferSettings(
                ack_timeout=timedelta(seconds=settings.ack_timeout_s),
                max_failed_offers=settings.max_failed_offers,
                auto_offer=settings.auto_offer,
                position_fresh_for=timedelta(minutes=settings.position_fresh_min),
                voice=settings.voice,
                sms_sender=config.telephony.hotline_number,
                public_base_url=config.server.public_base_url,
                voice_name=config.hotline.voice,
            ),
        )
        app[DISPATCH_TEAMS] = Teams(app[DB], app[CLOCK], config.auth)
        app[DISPATCH_OFFERS] = offers
        app[DISPATCH_TEAM_SMS] = TeamSms(offers)
        app[KEYPRESS_FORMS] = forms()
        app[METRIC_REFRESHERS].append(escalations.refresh)
        # What fell due while no process ran is timed out before the app serves; the timer
        # then arms for the next deadline.
        await offers.expire_due()
        await escalations.refresh()
        timer = DeadlineTimer(
            app[DB],
            app[CLOCK],
            offers,
            escalations,
            look_every=timedelta(seconds=settings.poll_interval_s),
        )
        app[DISPATCH_DEADLINES] = timer
        timer.start()
        try:
            yield
        finally:
            await timer.stop()

    app.cleanup_ctx.append(teams_ctx)
    team_routes.setup_routes(app)
