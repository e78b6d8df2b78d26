"""HTTP for teams and offers: the staff registry and dispatch under /api/v1/dispatch/, the team
app's own routes under /api/v1/dispatch/team/ (its bearer token, role `team`), and the offer
call's keypress webhook under /twilio/dispatch/."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiohttp import web
from twilio.twiml.voice_response import VoiceResponse

from canhbao.api import endpoint
from canhbao.auth import Role, current_principal, require_principal, require_roles
from canhbao.clock import utc_text
from canhbao.http import ApiError
from dispatch import offers_texts as texts
from dispatch.errors import DispatchError, NotAuthorised, NotFound
from dispatch.keys import DISPATCH_REQUESTS
from dispatch.models import request_number
from dispatch.recommend import Recommendation
from dispatch.routes import domain_errors
from dispatch.schemas import RequestView
from dispatch.store.offers import Offer
from dispatch.teams import (
    Team,
    TeamDraft,
    check_capabilities,
    check_capacity,
    check_coverage,
    check_members,
    check_name,
    check_point,
    check_push_token,
)
from dispatch.teams_import import read_roster
from dispatch.teams_keys import DISPATCH_OFFERS, DISPATCH_TEAMS, KEYPRESS_FORMS
from dispatch.teams_schemas import (
    AnswerBody,
    DutyBody,
    EscalationList,
    OfferBody,
    OfferIdPath,
    OfferList,
    OfferView,
    PositionBody,
    PushTokenBody,
    ReassignBody,
    RecommendationList,
    RecommendationView,
    RosterImportView,
    TeamBody,
    TeamIdPath,
    TeamList,
    TeamToken,
    TeamView,
)
from notify.twiml import Speech, render

log = logging.getLogger(__name__)

STAFF = (Role.operator, Role.dispatcher)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _actor(request: web.Request) -> str:
    principal = current_principal(request)
    return principal.actor if principal else "unknown"


def team_view(team: Team, now: datetime) -> dict[str, Any]:
    age = team.position_age_s(now)
    return {
        "id": team.id,
        "name": team.name,
        "base": {"lat": team.base_lat, "lon": team.base_lon},
        "capabilities": sorted(team.capabilities),
        "capacity": team.capacity,
        "active_jobs": team.active_jobs,
        "coverage": team.coverage.to_json(),
        "on_duty": team.on_duty,
        "members": [member.to_json() for member in team.members],
        "push_token_set": team.push_token is not None,
        "token_issued": team.token_id is not None,
        "last_position": None
        if team.last_seen_at is None or team.last_lat is None or team.last_lon is None
        else {
            "lat": team.last_lat,
            "lon": team.last_lon,
            "seen_at": utc_text(team.last_seen_at),
            "age_s": round(age or 0.0, 1),
        },
    }


def offer_view(offer: Offer) -> dict[str, Any]:
    return {**offer.to_json(), "request_number": request_number(offer.request_id)}


def _draft(body: TeamBody) -> TeamDraft:
    lat, lon = check_point(body.base_lat, body.base_lon, "base")
    return TeamDraft(
        name=check_name(body.name),
        base_lat=lat,
        base_lon=lon,
        capabilities=check_capabilities(body.capabilities),
        capacity=check_capacity(body.capacity),
        coverage=check_coverage(body.coverage.ward_codes, body.coverage.polygon),
        on_duty=body.on_duty,
        members=check_members([(m.name, m.phone) for m in body.members]),
        push_token=check_push_token(body.push_token),
    )


def _now(request: web.Request) -> datetime:
    return request.app[DISPATCH_REQUESTS].clock.now()


def _json(value: Any, status: int = 200) -> web.Response:
    return web.json_response(value, status=status)


# -- the registry (staff) ---------------------------------------------------------------------


@require_roles(*STAFF)
@endpoint(responses={200: TeamList})
async def list_teams(request: web.Request) -> web.Response:
    teams = await request.app[DISPATCH_TEAMS].list()
    now = _now(request)
    return _json({"teams": [team_view(team, now) for team in teams]})


@require_roles(Role.dispatcher)
@endpoint(responses={201: TeamView})
async def create_team(request: web.Request, body: TeamBody) -> web.Response:
    team = await request.app[DISPATCH_TEAMS].create(_draft(body), actor=_actor(request))
    return _json(team_view(team, _now(request)), 201)


@require_roles(*STAFF)
@endpoint(responses={200: TeamView})
async def get_team(request: web.Request, path: TeamIdPath) -> web.Response:
    team = await request.app[DISPATCH_TEAMS].get(path.id)
    return _json(team_view(team, _now(request)))


@require_roles(Role.dispatcher)
@endpoint(responses={200: TeamView})
async def replace_team(request: web.Request, path: TeamIdPath, body: TeamBody) -> web.Response:
    team = await request.app[DISPATCH_TEAMS].replace(path.id, _draft(body), actor=_actor(request))
    await request.app[DISPATCH_OFFERS].withdraw_off_duty(actor=_actor(request))
    return _json(team_view(team, _now(request)))


@require_roles(Role.dispatcher)
@endpoint(responses={200: TeamView})
async def set_duty(request: web.Request, path: TeamIdPath, body: DutyBody) -> web.Response:
    teams = request.app[DISPATCH_TEAMS]
    team = await teams.set_duty(path.id, body.on_duty, actor=_actor(request))
    await request.app[DISPATCH_OFFERS].withdraw_off_duty(actor=_actor(request))
    return _json(team_view(team, _now(request)))


@require_roles(Role.dispatcher)
@endpoint(responses={201: TeamToken})
async def issue_token(request: web.Request, path: TeamIdPath) -> web.Response:
    team, secret = await request.app[DISPATCH_TEAMS].issue_token(path.id, actor=_actor(request))
    return _json({"team": team_view(team, _now(request)), "token": secret}, 201)


ROSTER_TYPES = {
    "text/csv": {"type": "string", "description": "a CSV roster (see README)"},
    "application/geo+json": {"type": "object", "description": "a GeoJSON roster"},
}


@require_roles(Role.dispatcher)
@endpoint(responses={200: RosterImportView}, raw_bodies=ROSTER_TYPES)
async def import_teams(request: web.Request) -> web.Response:
    limit = 20 * 1024 * 1024
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "too_large", "a roster is at most 20 MB")
    roster = read_roster(await request.read())
    result = await request.app[DISPATCH_TEAMS].import_roster(roster, actor=_actor(request))
    await request.app[DISPATCH_OFFERS].withdraw_off_duty(actor=_actor(request))
    return _json({"created": list(result.created), "updated": list(result.updated)})


# -- recommendations and offers (staff) -------------------------------------------------------


def _recommendation(number: str, priority: str, found: Recommendation) -> dict[str, Any]:
    return {**found.to_json(), "request_number": number, "priority": priority}


@require_roles(*STAFF)
@endpoint(responses={200: RecommendationList})
async def recommendations(request: web.Request) -> web.Response:
    now = _now(request)
    found = await request.app[DISPATCH_OFFERS].recommendations()
    return _json(
        {
            "recommendations": [
                _recommendation(r.number, r.priority(now).value, choice) for r, choice in found
            ]
        }
    )


@require_roles(*STAFF)
@endpoint(responses={200: RecommendationView})
async def recommendation(request: web.Request, path: TeamIdPath) -> web.Response:
    offers = request.app[DISPATCH_OFFERS]
    rescue = await offers.requests.get(path.id)
    found = await offers.recommendation(path.id)
    return _json(_recommendation(rescue.number, rescue.priority(_now(request)).value, found))


@require_roles(*STAFF)
@endpoint(responses={200: OfferList})
async def request_offers(request: web.Request, path: TeamIdPath) -> web.Response:
    found = await request.app[DISPATCH_OFFERS].offers_for(path.id)
    return _json({"offers": [offer_view(offer) for offer in found]})


@require_roles(Role.dispatcher)
@endpoint(responses={201: OfferView})
async def make_offer(
    request: web.Request, path: TeamIdPath, body: OfferBody | None
) -> web.Response:
    actor = _actor(request)
    team_id = None if body is None else body.team_id
    offer = await request.app[DISPATCH_OFFERS].offer(path.id, team_id, actor=actor, claimant=actor)
    return _json(offer_view(offer), 201)


@require_roles(Role.dispatcher)
@endpoint(responses={201: OfferView})
async def reassign(request: web.Request, path: TeamIdPath, body: ReassignBody) -> web.Response:
    actor = _actor(request)
    offers = request.app[DISPATCH_OFFERS]
    offer = await offers.reassign(path.id, body.team_id, actor=actor, claimant=actor)
    return _json(offer_view(offer), 201)


@require_roles(Role.dispatcher)
@endpoint(responses={200: RequestView})
async def release(request: web.Request, path: TeamIdPath) -> web.Response:
    actor = _actor(request)
    found = await request.app[DISPATCH_OFFERS].release(path.id, actor=actor, claimant=actor)
    return _json(found.to_json(_now(request)))


@require_roles(*STAFF)
@endpoint(responses={200: OfferView})
async def record_answer(request: web.Request, path: OfferIdPath, body: AnswerBody) -> web.Response:
    """An operator records a team's answer given by phone or radio."""
    actor = _actor(request)
    offer, _ = await request.app[DISPATCH_OFFERS].answer(
        path.id, body.action, via="operator", actor=actor
    )
    return _json(offer_view(offer))


@require_roles(*STAFF)
@endpoint(responses={200: EscalationList})
async def escalations(request: web.Request) -> web.Response:
    found = await request.app[DISPATCH_OFFERS].escalations.list()
    return _json({"escalations": found})


# -- the team app (its own bearer token) ------------------------------------------------------


async def _own_team(request: web.Request) -> Team:
    principal = require_principal(request)
    if principal.kind != "token":
        raise ApiError(403, "forbidden", "the team API takes a team's own token, not a login")
    try:
        return await request.app[DISPATCH_TEAMS].team_for_token(principal.id)
    except NotFound as err:
        raise ApiError(403, "forbidden", str(err)) from None


@require_roles(Role.team)
@endpoint(responses={200: TeamView})
async def my_team(request: web.Request) -> web.Response:
    team = await _own_team(request)
    return _json(team_view(team, _now(request)))


@require_roles(Role.team)
@endpoint(responses={200: TeamView})
async def report_position(request: web.Request, body: PositionBody) -> web.Response:
    team = await _own_team(request)
    at = None if body.at is None else datetime.fromisoformat(body.at)
    after = await request.app[DISPATCH_TEAMS].report_position(team, body.lat, body.lon, at)
    return _json(team_view(after, _now(request)))


@require_roles(Role.team)
@endpoint(responses={200: TeamView})
async def set_push_token(request: web.Request, body: PushTokenBody) -> web.Response:
    team = await _own_team(request)
    after = await request.app[DISPATCH_TEAMS].set_push_token(
        team, body.token, actor=_actor(request)
    )
    return _json(team_view(after, _now(request)))


@require_roles(Role.team)
@endpoint(responses={200: OfferList})
async def my_offers(request: web.Request) -> web.Response:
    team = await _own_team(request)
    found = await request.app[DISPATCH_OFFERS].jobs_of(team.id)
    return _json({"offers": [offer_view(offer) for offer in found]})


@require_roles(Role.team)
@endpoint(responses={200: OfferView})
async def answer_offer(request: web.Request, path: OfferIdPath, body: AnswerBody) -> web.Response:
    team = await _own_team(request)
    try:
        offer, _ = await request.app[DISPATCH_OFFERS].answer(
            path.id, body.action, via="api", actor=_actor(request), team_id=team.id
        )
    except NotAuthorised as err:
        raise ApiError(403, "not_offered", str(err)) from None
    return _json(offer_view(offer))


# -- the offer call's keypress (Twilio) -------------------------------------------------------


async def keypress(request: web.Request) -> web.Response:
    """Key 1 accepts, 2 declines; the callee must be a member of the team offered."""
    form = await request.app[KEYPRESS_FORMS].verify(request)
    offers = request.app[DISPATCH_OFFERS]
    speech = offers.speech
    offer_id = request.match_info["id"]
    if not offer_id.isascii() or not offer_id.isdigit() or len(offer_id) > 18:
        raise ApiError(404, "not_found", "no such offer")
    digit = form.get("Digits", "").strip()[:1]
    callee = form.get("To", "")
    try:
        offer = await offers.get(int(offer_id))
        team = await request.app[DISPATCH_TEAMS].get(offer.team_id)
    except NotFound:
        raise ApiError(404, "not_found", "no such offer") from None
    if callee not in team.phones:
        log.warning(
            "keypress refused: the call was not to a member of the team offered",
            extra={"offer_id": offer.id, "call_sid": form.get("CallSid")},
        )
        return _twiml(speech, texts.VOICE_GONE)
    action = {"1": "accept", "2": "decline"}.get(digit)
    if action is None:
        return _twiml(speech, texts.VOICE_NO_KEY)
    try:
        await offers.answer(
            offer.id,
            "accept" if action == "accept" else "decline",
            via="voice",
            actor=f"team:{team.id}:{callee}",
            team_id=team.id,
        )
    except DispatchError as err:  # the offer moved on meanwhile (timed out, answered by SMS)
        log.warning("keypress refused: %s", err, extra={"offer_id": offer.id})
        return _twiml(speech, texts.VOICE_GONE)
    return _twiml(speech, texts.VOICE_ACCEPTED if action == "accept" else texts.VOICE_DECLINED)


def _twiml(speech: Speech, text: str) -> web.Response:
    response = VoiceResponse()
    speech.say(response, text)
    return web.Response(text=render(response), content_type="text/xml")


def setup_routes(app: web.Application) -> None:
    api = "/api/v1/dispatch"
    router = app.router
    router.add_get(f"{api}/teams", domain_errors(list_teams))
    router.add_post(f"{api}/teams", domain_errors(create_team))
    router.add_post(f"{api}/teams/import", domain_errors(import_teams))
    router.add_get(f"{api}/teams/{{id}}", domain_errors(get_team))
    router.add_put(f"{api}/teams/{{id}}", domain_errors(replace_team))
    router.add_post(f"{api}/teams/{{id}}/duty", domain_errors(set_duty))
    router.add_post(f"{api}/teams/{{id}}/token", domain_errors(issue_token))
    router.add_get(f"{api}/recommendations", domain_errors(recommendations))
    router.add_get(f"{api}/escalations", domain_errors(escalations))
    router.add_get(f"{api}/requests/{{id}}/recommendation", domain_errors(recommendation))
    router.add_get(f"{api}/requests/{{id}}/offers", domain_errors(request_offers))
    router.add_post(f"{api}/requests/{{id}}/offers", domain_errors(make_offer))
    router.add_post(f"{api}/requests/{{id}}/reassign", domain_errors(reassign))
    router.add_post(f"{api}/requests/{{id}}/release", domain_errors(release))
    router.add_post(f"{api}/offers/{{id}}/answer", domain_errors(record_answer))
    router.add_get(f"{api}/team", domain_errors(my_team))
    router.add_post(f"{api}/team/position", domain_errors(report_position))
    router.add_put(f"{api}/team/push-token", domain_errors(set_push_token))
    router.add_get(f"{api}/team/offers", domain_errors(my_offers))
    router.add_post(f"{api}/team/offers/{{id}}/answer", domain_errors(answer_offer))
    router.add_post("/twilio/dispatch/offers/{id}/keypress", keypress)
