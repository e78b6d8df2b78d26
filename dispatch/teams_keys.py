"""The AppKeys of teams and offers (the requests' are in dispatch.keys)."""

from __future__ import annotations

from aiohttp import web

from dispatch.deadlines import DeadlineTimer
from dispatch.offers import Offers
from dispatch.offers_sms import TeamSms
from dispatch.ports import SignedForms
from dispatch.teams_service import Teams

DISPATCH_TEAMS = web.AppKey("dispatch_teams", Teams)
DISPATCH_OFFERS = web.AppKey("dispatch_offers", Offers)
DISPATCH_TEAM_SMS = web.AppKey("dispatch_team_sms", TeamSms)
KEYPRESS_FORMS = web.AppKey("dispatch_keypress_forms", SignedForms)
DISPATCH_DEADLINES = web.AppKey("dispatch_deadlines", DeadlineTimer)
