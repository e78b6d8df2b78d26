"""HTTP: Twilio's webhooks under /twilio/ (signed), and the staff API under /api/v1/hotline/."""

from __future__ import annotations

import functools
import logging
import re
import sqlite3
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import aiosqlite
from aiohttp import web

from canhbao import keys
from canhbao.api import NO_CONTENT, answer, endpoint
from canhbao.audit import record_audit
from canhbao.auth import Role, current_principal, require_roles
from canhbao.clock import LOCAL_TZ, parse_utc
from canhbao.http import ApiError
from hotline import reports, store
from hotline.errors import HotlineError, InvalidInput, InvalidTransition, NotFound
from hotline.flow import Form
from hotline.keys import HOTLINE, HOTLINE_SIGNATURES
from hotline.models import Operator, parse_shift_time
from hotline.schemas import (
    CallbackList,
    CallbacksQuery,
    CallbackView,
    CallDetail,
    CallFigures,
    CallList,
    CallNotes,
    CallPath,
    CallsQuery,
    CloseBody,
    FiguresQuery,
    HotlineIdPath,
    NotesBody,
    OperatorBody,
    OperatorList,
    OperatorView,
)
from hotline.service import Hotline
from notify.errors import InvalidMessage
from notify.models import check_phone

log = logging.getLogger(__name__)

WebhookHandler = Callable[[Hotline, Form, web.Request], Awaitable[str | None]]
STAFF = (Role.operator, Role.dispatcher)
TWIML = "text/xml"


def twilio_webhook(handler: WebhookHandler) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Check the request (hotline.signature) before anything else, then the ids it names;
    answer with the handler's TwiML (or an empty 204). A callback naming an unknown task,
    attempt or operator is a 404, not a broken foreign key."""

    async def wrapped(request: web.Request) -> web.Response:
        hotline = request.app[HOTLINE]
        form = await request.app[HOTLINE_SIGNATURES].verify(request)
        _check_ids(request.path, form)
        try:
            body = await handler(hotline, form, request)
        except HotlineError as err:
            status, code = _WEBHOOK_ERRORS.get(type(err), (400, "invalid_webhook"))
            log.warning(
                "Twilio webhook refused: %s",
                err,
                extra={"path": request.path, "status": status, "call_sid": form.get("CallSid")},
            )
            raise ApiError(status, code, str(err)) from None
        if body is None:
            return web.Response(status=204)
        return web.Response(text=body, content_type=TWIML)

    return wrapped


_WEBHOOK_ERRORS: dict[type[HotlineError], tuple[int, str]] = {
    NotFound: (404, "not_found"),
    InvalidTransition: (409, "invalid_transition"),
}
# Twilio's ids: two letters and 32 hexadecimal digits.
_SID = re.compile(r"[A-Z]{2}[0-9a-fA-F]{32}")
_SID_FIELDS = (
    "CallSid",
    "MessageSid",
    "SmsSid",
    "RecordingSid",
    "ParentCallSid",
    "DequeingCallSid",
    "AccountSid",
)
# Which id a route acts on: a call's (every voice route and status callback), a message's, or
# either (the fallback URL serves both; a recording's status names its call if it has one).
_MESSAGE_ROUTES = frozenset({"/twilio/sms"})
_EITHER_ROUTES = frozenset({"/twilio/fallback", "/twilio/recording"})


def _check_ids(path: str, form: Form) -> None:
    for name in _SID_FIELDS:
        value = form.get(name)
        if value and not _SID.fullmatch(value):
            raise ApiError(400, "invalid_webhook", f"{name} is not a Twilio id")
    has_call = bool(form.get("CallSid"))
    has_message = bool(form.get("MessageSid") or form.get("SmsSid"))
    if path in _MESSAGE_ROUTES:
        if not has_message:
            raise ApiError(400, "invalid_webhook", "MessageSid is required")
    elif path in _EITHER_ROUTES:
        if not (has_call or has_message):
            raise ApiError(400, "invalid_webhook", "neither CallSid nor MessageSid given")
    elif not has_call:
        raise ApiError(400, "invalid_webhook", "CallSid is required")


def _query(request: web.Request) -> dict[str, str]:
    return dict(request.query)


_WEBHOOKS: dict[str, WebhookHandler] = {
    "/twilio/voice": lambda h, f, r: h.menu.incoming(f),
    "/twilio/voice/menu": lambda h, f, r: h.menu.choose(f, _query(r)),
    "/twilio/voice/rescue": lambda h, f, r: h.intake.start(f),
    "/twilio/voice/rescue/location": lambda h, f, r: h.intake.location(f),
    "/twilio/voice/rescue/address": lambda h, f, r: h.intake.address(f),
    "/twilio/voice/rescue/recorded": lambda h, f, r: h.intake.recorded(f),
    "/twilio/voice/rescue/ask-people": lambda h, f, r: _now(h.intake.ask_people()),
    "/twilio/voice/rescue/people": lambda h, f, r: h.intake.people(f),
    "/twilio/voice/rescue/needs": lambda h, f, r: h.intake.needs(f),
    "/twilio/voice/flood": lambda h, f, r: h.menu.flood_info(f),
    "/twilio/voice/queue": lambda h, f, r: h.queue.enqueue(f, _query(r)),
    "/twilio/voice/queue/wait": lambda h, f, r: h.queue.wait(f),
    "/twilio/voice/queue/choice": lambda h, f, r: h.queue.choice(f, _query(r)),
    "/twilio/voice/queue/done": lambda h, f, r: h.queue.done(f),
    "/twilio/voice/queue/connect": lambda h, f, r: h.queue.connect(f),
    "/twilio/voice/voicemail": lambda h, f, r: h.voicemail.saved(f),
    "/twilio/voice/voicemail/none": lambda h, f, r: h.voicemail.nothing_recorded(f),
    "/twilio/voice/operator": lambda h, f, r: h.operators.answer(f, _query(r)),
    "/twilio/voice/operator/accept": lambda h, f, r: h.operators.accept(f, _query(r)),
    "/twilio/voice/operator/done": lambda h, f, r: _now(h.operators.done()),
    "/twilio/voice/callback": lambda h, f, r: h.callback_calls.answer(f, _query(r)),
    "/twilio/status": lambda h, f, r: _none(h.status.call_status(f, _query(r))),
    "/twilio/recording": lambda h, f, r: _none(h.voicemail.recording_status(f, _query(r))),
    "/twilio/sms": lambda h, f, r: h.sms.receive(f),
    "/twilio/fallback": lambda h, f, r: _now(h.menu.fallback(f)),
}


async def _now(value: str) -> str:
    return value


async def _none(work: Awaitable[None]) -> None:
    await work


# --- staff API --------------------------------------------------------------------------


def _actor(request: web.Request) -> str:
    principal = current_principal(request)
    return principal.actor if principal else "unknown"


def _date_query(raw: str | None, name: str) -> datetime | None:
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw)
        # A bare date or time without offset is Huế local time, as staff read it.
        if moment.tzinfo:
            return parse_utc(moment.isoformat())
        return moment.replace(tzinfo=LOCAL_TZ).astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: 0001-01-01 local is before year 1 UTC
        raise ApiError(400, "invalid_query", f"{name} must be an ISO date or time") from None


async def _filtered_calls(
    request: web.Request, query: CallsQuery, limit: int
) -> list[store.CallRow]:
    return await store.list_calls(
        request.app[keys.DB],
        since=_date_query(query.since, "since"),
        until=_date_query(query.until, "until"),
        kind=query.kind,
        status=query.status,
        number=query.number,
        limit=limit,
        before=query.before,
    )


@require_roles(*STAFF)
@endpoint(responses={200: CallList})
async def list_calls(request: web.Request, query: CallsQuery) -> web.Response:
    """GET /api/v1/hotline/calls?since&until&kind&status&number&limit&before: newest first."""
    limit = query.limit
    calls = await _filtered_calls(request, query, limit)
    next_before = calls[-1].to_json()["received_at"] if len(calls) == limit else None
    return answer(CallList, {"calls": [c.to_json() for c in calls], "next_before": next_before})


@require_roles(*STAFF)
@endpoint(response_types={200: "text/csv"})
async def calls_csv(request: web.Request, query: CallsQuery) -> web.Response:
    """GET /api/v1/hotline/calls.csv: the same filters, every matching call (up to 100,000)."""
    calls = await _filtered_calls(request, query, 100_000)
    response = web.Response(text=reports.calls_csv(calls), content_type="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="hotline-calls.csv"'
    return response


@require_roles(*STAFF)
@endpoint(responses={200: CallDetail})
async def get_call(request: web.Request, path: CallPath) -> web.Response:
    """One call with its recordings."""
    db = request.app[keys.DB]
    call = await store.get_call(db.reader, path.sid)
    if call is None:
        raise ApiError(404, "not_found", "no such call")
    body = call.to_json()
    body["recordings"] = await store.recordings_of(db, call.sid)
    return answer(CallDetail, body)


@require_roles(*STAFF)
@endpoint(responses={200: CallNotes})
async def annotate_call(request: web.Request, path: CallPath, body: NotesBody) -> web.Response:
    """PATCH /api/v1/hotline/calls/{sid} {"notes": "..."}: an operator's notes, audited."""
    notes = body.notes
    app = request.app
    now = app[keys.CLOCK].now()
    async with app[keys.DB].transaction() as conn:
        call = await store.get_call(conn, path.sid)
        if call is None:
            raise ApiError(404, "not_found", "no such call")
        await store.update_call(conn, call.sid, now, notes=notes)
        await record_audit(
            conn,
            at=now,
            actor=_actor(request),
            action="call.notes",
            entity="hotline_call",
            entity_id=call.sid,
            before={"notes": call.notes},
            after={"notes": notes},
        )
    return answer(CallNotes, {"sid": call.sid, "notes": notes})


@require_roles(*STAFF)
@endpoint(responses={200: CallFigures})
async def figures(request: web.Request, query: FiguresQuery) -> web.Response:
    """GET /api/v1/hotline/figures?days=7: per local day and in total."""
    days = query.days
    now = request.app[keys.CLOCK].now()
    since = now - timedelta(days=days)
    db = request.app[keys.DB]
    calls = [store.call_from_row(row) for row in await store.figures_rows(db, since, now)]
    attempts = await store.attempt_rows(db, since, now)
    return answer(CallFigures, reports.figures(calls, attempts))


@require_roles(*STAFF)
@endpoint(responses={200: CallbackList})
async def list_callbacks(request: web.Request, query: CallbacksQuery) -> web.Response:
    """Callback tasks with their attempts, newest first; ?status= filters."""
    db = request.app[keys.DB]
    tasks = await store.list_tasks(db, status=query.status, limit=query.limit)
    return answer(
        CallbackList,
        {
            "callbacks": [
                {**t.to_json(), "attempts_log": await store.attempts_of(db, t.id)} for t in tasks
            ]
        },
    )


@require_roles(*STAFF)
@endpoint(responses={200: CallbackView})
async def start_callback(request: web.Request, path: HotlineIdPath) -> web.Response:
    """An operator takes a callback task."""
    task = await request.app[HOTLINE].start_task(path.id, _actor(request))
    return answer(CallbackView, task.to_json())


@require_roles(*STAFF)
@endpoint(responses={200: CallbackView})
async def close_callback(
    request: web.Request, path: HotlineIdPath, body: CloseBody
) -> web.Response:
    """Close a callback task, saying why."""
    reason = body.reason.strip()
    if not reason:
        raise ApiError(422, "invalid_body", "reason: is required", field="reason")
    task = await request.app[HOTLINE].close_task(path.id, _actor(request), reason)
    return answer(CallbackView, task.to_json())


@require_roles(*STAFF)
@endpoint(responses={200: OperatorList})
async def list_operators(request: web.Request) -> web.Response:
    """Every operator, with their shift."""
    operators = await store.list_operators(request.app[keys.DB])
    return answer(OperatorList, {"operators": [store.operator_json(o) for o in operators]})


def _operator_body(body: OperatorBody) -> dict[str, Any]:
    name = body.name.strip()
    if not name:
        raise ApiError(422, "invalid_body", "name: is required", field="name")
    try:
        check_phone(body.phone, "phone")
        for key in ("shift_start", "shift_end"):
            parse_shift_time(getattr(body, key))
    except (InvalidMessage, InvalidInput, ValueError) as err:
        raise ApiError(400, "invalid_body", str(err)) from None
    return store.operator_values({**body.model_dump(), "name": name})


@require_roles(Role.admin)
@endpoint(responses={201: OperatorView})
async def create_operator(request: web.Request, body: OperatorBody) -> web.Response:
    """Add an operator (audited); 409 if their phone is another's."""
    values = _operator_body(body)
    app = request.app
    now = app[keys.CLOCK].now()
    try:
        async with app[keys.DB].transaction() as conn:
            operator_id = await store.insert_operator(conn, values, now)
            await record_audit(
                conn,
                at=now,
                actor=_actor(request),
                action="operator.create",
                entity="hotline_operator",
                entity_id=str(operator_id),
                before=None,
                after=values,
            )
            operator = await store.get_operator(conn, operator_id)
    except sqlite3.IntegrityError:
        raise ApiError(409, "conflict", "an operator with this phone exists") from None
    assert operator is not None  # noqa: S101  # just written
    return answer(OperatorView, store.operator_json(operator), status=201)


@require_roles(Role.admin)
@endpoint(responses={200: OperatorView})
async def update_operator(
    request: web.Request, path: HotlineIdPath, body: OperatorBody
) -> web.Response:
    """Replace an operator's details (audited)."""
    values = _operator_body(body)
    operator = await _change_operator(
        request,
        path.id,
        "operator.update",
        lambda conn, operator_id, now: store.update_operator(conn, operator_id, values, now),
        after=values,
    )
    return answer(OperatorView, store.operator_json(operator))


@require_roles(Role.admin)
@endpoint(responses={204: NO_CONTENT})
async def delete_operator(request: web.Request, path: HotlineIdPath) -> web.Response:
    """Operators are deactivated, not deleted: the call log keeps pointing at them."""
    await _change_operator(
        request, path.id, "operator.deactivate", store.deactivate_operator, after={"active": False}
    )
    return web.Response(status=204)


async def _change_operator(
    request: web.Request,
    operator_id: int,
    action: str,
    write: Callable[[aiosqlite.Connection, int, datetime], Awaitable[None]],
    *,
    after: Mapping[str, Any],
) -> Operator:
    """Change the operator named in the path in one audited transaction (404 if unknown,
    409 if the change would give two operators one phone)."""
    app = request.app
    now = app[keys.CLOCK].now()
    try:
        async with app[keys.DB].transaction() as conn:
            before = await store.get_operator(conn, operator_id)
            if before is None:
                raise ApiError(404, "not_found", "no such operator")
            await write(conn, operator_id, now)
            await record_audit(
                conn,
                at=now,
                actor=_actor(request),
                action=action,
                entity="hotline_operator",
                entity_id=str(operator_id),
                before=store.operator_json(before),
                after=after,
            )
            changed = await store.get_operator(conn, operator_id)
    except sqlite3.IntegrityError:
        raise ApiError(409, "conflict", "an operator with this phone exists") from None
    assert changed is not None  # noqa: S101  # just written
    return changed


def _staff(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> Any:
    # functools.wraps keeps the roles and the models the OpenAPI document reads from it.
    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except NotFound as err:
            raise ApiError(404, "not_found", str(err)) from None
        except InvalidTransition as err:
            raise ApiError(409, "invalid_transition", str(err)) from None
        except HotlineError as err:
            raise ApiError(400, "invalid_input", str(err)) from None

    return wrapped


def setup_routes(app: web.Application) -> None:
    for path, handler in _WEBHOOKS.items():
        app.router.add_post(path, twilio_webhook(handler))
    api = "/api/v1/hotline"
    app.router.add_get(f"{api}/calls", list_calls)
    app.router.add_get(f"{api}/calls.csv", calls_csv)
    app.router.add_get(f"{api}/calls/{{sid}}", get_call)
    app.router.add_patch(f"{api}/calls/{{sid}}", annotate_call)
    app.router.add_get(f"{api}/figures", figures)
    app.router.add_get(f"{api}/callbacks", list_callbacks)
    app.router.add_post(f"{api}/callbacks/{{id}}/start", _staff(start_callback))
    app.router.add_post(f"{api}/callbacks/{{id}}/close", _staff(close_callback))
    app.router.add_get(f"{api}/operators", list_operators)
    app.router.add_post(f"{api}/operators", create_operator)
    app.router.add_put(f"{api}/operators/{{id}}", update_operator)
    app.router.add_delete(f"{api}/operators/{{id}}", delete_operator)
