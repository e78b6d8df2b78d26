"""HTTP: the staff API under /api/v1/dispatch/ and the app's POST /api/v1/rescue-requests."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from canhbao.api import endpoint
from canhbao.auth import Role, current_principal, require_roles
from canhbao.http import ApiError
from dispatch.errors import (
    ClaimHeld,
    Conflict,
    DispatchError,
    InvalidInput,
    InvalidTransition,
    NotAuthorised,
    NotFound,
)
from dispatch.keys import DISPATCH_MERGER, DISPATCH_REQUESTS
from dispatch.models import NewRequest, RescueRequest
from dispatch.requests import Details
from dispatch.schemas import (
    DetailsBody,
    IdPath,
    OperatorRequestBody,
    PriorityBody,
    ProposalList,
    ProposalsQuery,
    ProposalView,
    ReleaseQuery,
    RequestList,
    RequestsQuery,
    RequestView,
    StateBody,
    Timeline,
)
from notify.errors import InvalidMessage
from notify.models import check_phone

STAFF = (Role.operator, Role.dispatcher)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _actor(request: web.Request) -> str:
    principal = current_principal(request)
    return principal.actor if principal else "unknown"


def api_error(err: DispatchError) -> ApiError:
    """The domain's errors as the API answers them."""
    if isinstance(err, NotFound):
        return ApiError(404, "not_found", str(err))
    if isinstance(err, InvalidTransition):
        return ApiError(409, "invalid_transition", str(err), allowed=list(err.allowed))
    if isinstance(err, ClaimHeld):
        return ApiError(409, "claimed", str(err), holder=err.holder, expires_at=err.expires_at)
    if isinstance(err, Conflict):
        return ApiError(409, "conflict", str(err))
    if isinstance(err, InvalidInput):
        field = {"field": err.field} if err.field else {}
        return ApiError(422, "invalid_body", str(err), **field)
    if isinstance(err, NotAuthorised):
        return ApiError(401, "device_refused", str(err))
    return ApiError(400, "invalid_request", str(err))


def domain_errors(handler: Handler) -> Any:
    # functools.wraps keeps the roles and the models the OpenAPI document reads from it.
    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except DispatchError as err:
            raise api_error(err) from None

    return wrapped


def view(request: web.Request, found: RescueRequest, status: int = 200) -> web.Response:
    now = request.app[DISPATCH_REQUESTS].clock.now()
    return web.json_response(found.to_json(now), status=status)


@require_roles(*STAFF)
@endpoint(responses={200: RequestList})
async def list_requests(request: web.Request, query: RequestsQuery) -> web.Response:
    """Rescue requests, newest first; ?state= filters, ?before_id= pages."""
    requests = request.app[DISPATCH_REQUESTS]
    found = await requests.listing(state=query.state, limit=query.limit, before_id=query.before_id)
    now = requests.clock.now()
    return web.json_response({"rescue_requests": [r.to_json(now) for r in found]})


@require_roles(*STAFF)
@endpoint(responses={200: RequestList})
async def open_requests(request: web.Request) -> web.Response:
    """Open requests by priority (emergency first), then the longest waiting."""
    requests = request.app[DISPATCH_REQUESTS]
    found = await requests.open_queue()
    now = requests.clock.now()
    return web.json_response({"rescue_requests": [r.to_json(now) for r in found]})


@require_roles(*STAFF)
@endpoint(responses={201: RequestView})
async def create_request(request: web.Request, body: OperatorRequestBody) -> web.Response:
    """An operator types a request in (audited; the caller is texted its number)."""
    if body.caller:
        try:
            check_phone(body.caller, "caller")
        except InvalidMessage as err:
            raise InvalidInput(f"caller: {err} (+84…)", "caller") from None
    draft = NewRequest(
        source="operator",
        caller=body.caller,
        call_sid=body.call_sid,
        lat=body.lat,
        lon=body.lon,
        accuracy_m=body.accuracy_m,
        location_source="operator" if body.lat is not None else None,
        address=body.address,
        people=body.people,
        vulnerabilities=tuple(body.vulnerabilities),
        water=body.water,
        notes=body.notes,
    )
    created = await request.app[DISPATCH_REQUESTS].create(draft, actor=_actor(request))
    return view(request, created, 201)


@require_roles(*STAFF)
@endpoint(responses={200: RequestView})
async def get_request(request: web.Request, path: IdPath) -> web.Response:
    """One rescue request."""
    return view(request, await request.app[DISPATCH_REQUESTS].get(path.id))


@require_roles(*STAFF)
@endpoint(responses={200: Timeline})
async def timeline(request: web.Request, path: IdPath) -> web.Response:
    """A request's timeline: every change, when and by whom, oldest first."""
    requests = request.app[DISPATCH_REQUESTS]
    found = await requests.get(path.id)
    entries = await requests.timeline(path.id)
    return web.json_response({"number": found.number, "history": [e.to_json() for e in entries]})


@require_roles(*STAFF)
@endpoint(responses={200: RequestView})
async def update_details(request: web.Request, path: IdPath, body: DetailsBody) -> web.Response:
    """Add or correct what the requester told us (audited)."""
    requests = request.app[DISPATCH_REQUESTS]
    actor = _actor(request)
    details = Details(
        people=body.people,
        vulnerabilities=tuple(body.vulnerabilities) if body.vulnerabilities is not None else None,
        water=body.water,
        more_address=body.more_address,
        notes=body.notes,
    )
    async with requests.db.transaction() as conn:
        changed = await requests.add_details_in(conn, path.id, details, actor=actor, claimant=actor)
    return view(request, changed)


@require_roles(*STAFF)
@endpoint(responses={200: RequestView})
async def change_state(request: web.Request, path: IdPath, body: StateBody) -> web.Response:
    """Move a request along the state machine: 409 naming the allowed states otherwise, or
    naming the dispatcher who holds its claim."""
    actor = _actor(request)
    detail = {"reason": body.reason} if body.reason else None
    changed = await request.app[DISPATCH_REQUESTS].transition(
        path.id, body.state, actor=actor, claimant=actor, detail=detail
    )
    return view(request, changed)


@require_roles(*STAFF)
@endpoint(responses={200: RequestView})
async def override_priority(request: web.Request, path: IdPath, body: PriorityBody) -> web.Response:
    """Set the priority by hand with a reason (null: back to the computed one)."""
    changed = await request.app[DISPATCH_REQUESTS].override_priority(
        path.id, body.priority, body.reason, actor=_actor(request)
    )
    return view(request, changed)


@require_roles(Role.dispatcher)
@endpoint(responses={200: RequestView})
async def claim(request: web.Request, path: IdPath) -> web.Response:
    """Take (or renew) the request's claim; 409 naming the holder if another has it."""
    changed = await request.app[DISPATCH_REQUESTS].claim(path.id, actor=_actor(request))
    return view(request, changed)


@require_roles(Role.dispatcher)
@endpoint(responses={200: RequestView})
async def release(request: web.Request, path: IdPath, query: ReleaseQuery) -> web.Response:
    """Let go of the claim; ?force=true (admins only) breaks another dispatcher's."""
    principal = current_principal(request)
    force = query.force
    if force and (principal is None or Role.admin not in principal.roles):
        raise ApiError(403, "forbidden", "only an admin can break another dispatcher's claim")
    changed = await request.app[DISPATCH_REQUESTS].release(
        path.id, actor=_actor(request), force=force
    )
    return view(request, changed)


@require_roles(*STAFF)
@endpoint(responses={200: ProposalList})
async def list_proposals(request: web.Request, query: ProposalsQuery) -> web.Response:
    """Duplicate proposals, newest first (?status=proposed by default)."""
    found = await request.app[DISPATCH_MERGER].listing(query.status, query.limit)
    return web.json_response({"proposals": [p.to_json() for p in found]})


@require_roles(Role.dispatcher)
@endpoint(responses={200: RequestView})
async def merge(request: web.Request, path: IdPath) -> web.Response:
    """Merge a proposal's two requests: the earlier is kept and answered."""
    kept = await request.app[DISPATCH_MERGER].merge(path.id, actor=_actor(request))
    return view(request, kept)


@require_roles(Role.dispatcher)
@endpoint(responses={200: ProposalView})
async def reject(request: web.Request, path: IdPath) -> web.Response:
    """Not the same emergency: both requests stay as they are."""
    decided = await request.app[DISPATCH_MERGER].reject(path.id, actor=_actor(request))
    return web.json_response(decided.to_json())


def setup_routes(app: web.Application) -> None:
    api = "/api/v1/dispatch"
    router = app.router
    router.add_get(f"{api}/requests", domain_errors(list_requests))
    router.add_post(f"{api}/requests", domain_errors(create_request))
    router.add_get(f"{api}/requests/open", domain_errors(open_requests))
    router.add_get(f"{api}/requests/{{id}}", domain_errors(get_request))
    router.add_patch(f"{api}/requests/{{id}}", domain_errors(update_details))
    router.add_get(f"{api}/requests/{{id}}/timeline", domain_errors(timeline))
    router.add_post(f"{api}/requests/{{id}}/state", domain_errors(change_state))
    router.add_post(f"{api}/requests/{{id}}/priority", domain_errors(override_priority))
    router.add_post(f"{api}/requests/{{id}}/claim", domain_errors(claim))
    router.add_delete(f"{api}/requests/{{id}}/claim", domain_errors(release))
    router.add_get(f"{api}/duplicates", domain_errors(list_proposals))
    router.add_post(f"{api}/duplicates/{{id}}/merge", domain_errors(merge))
    router.add_post(f"{api}/duplicates/{{id}}/reject", domain_errors(reject))
