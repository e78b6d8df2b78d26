"""Alerting HTTP: the staff workflow API, public CAP documents and Atom feed, the app's API."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Awaitable, Callable
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from aiohttp import web

from alerting import store
from alerting.cap import ATOM_CONTENT_TYPE, CAP_CONTENT_TYPE, FeedEntry, atom_feed
from alerting.delivery import PRIORITY_DIRECT, PRIORITY_TOPIC
from alerting.errors import (
    AlertingError,
    AlertNotFound,
    ImportNotFound,
    InvalidAlert,
    InvalidArea,
    ReissueRefused,
    SelfApprovalRefused,
    TransitionRefused,
)
from alerting.imports import Importer, import_view
from alerting.models import (
    LANGUAGE_VI,
    Alert,
    alert_from_dict,
    covers_point,
    in_force,
    public_view,
)
from alerting.schemas import (
    AlertList,
    AlertPath,
    AlertView,
    DraftBody,
    ImportList,
    ImportPath,
    ImportsQuery,
    LanguageQuery,
    PublicAlerts,
    PublicQuery,
    RejectBody,
    SourceList,
    StatesQuery,
    TemplateBody,
    VersionQuery,
)
from alerting.store import StoredAlert
from alerting.templates import TEMPLATES, compose
from alerting.workflow import Workflow
from canhbao import keys
from canhbao.api import endpoint
from canhbao.auth import Role, require_principal, require_roles
from canhbao.http import ApiError

STAFF = (Role.issuer, Role.approver)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _workflow(request: web.Request) -> Workflow:
    return request.app[keys.ALERTING]


def _errors(handler: Handler) -> Handler:
    """Domain errors → JSON answers with stable codes."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except AlertNotFound as err:
            raise ApiError(404, "alert_not_found", f"no alert {err}") from None
        except SelfApprovalRefused as err:
            raise ApiError(403, "self_approval", str(err)) from None
        except ImportNotFound as err:
            raise ApiError(404, "import_not_found", f"no imported alert {err}") from None
        except ReissueRefused as err:
            raise ApiError(409, "reissue_refused", str(err)) from None
        except TransitionRefused as err:
            raise ApiError(409, "transition_refused", str(err)) from None
        except InvalidArea as err:
            raise ApiError(
                422,
                "invalid_area",
                "the alert's area cannot be targeted: " + "; ".join(err.problems),
                problems=list(err.problems),
            ) from None
        except InvalidAlert as err:
            raise ApiError(
                422, "invalid_alert", "the alert is not ready", problems=list(err.problems)
            ) from None
        except AlertingError as err:
            raise ApiError(400, "alerting_error", str(err)) from None

    return wrapped


def _staff_json(request: web.Request, stored: StoredAlert, status: int = 200) -> web.Response:
    from alerting.models import alert_to_dict

    workflow = _workflow(request)
    body = {
        **stored.summary(),
        "alert": alert_to_dict(stored.alert),
        "plan": stored.plan,
        "problems": workflow.readiness(stored.alert) if stored.state == "draft" else [],
    }
    return web.json_response(body, status=status)


async def _draft_body(request: web.Request, workflow: Workflow, draft: DraftBody) -> Alert:
    """An alert from a staff body: CAP fields as in alert_to_dict, or a template with values
    and ward codes (then the areas come from the geofences outlines)."""
    now = request.app[keys.CLOCK].now()
    try:
        if isinstance(draft, TemplateBody):
            template = TEMPLATES.get(draft.template)
            if template is None:
                raise ApiError(400, "unknown_template", f"templates: {', '.join(TEMPLATES)}")
            area = _ward_area(request, draft.model_dump())
            values = {
                lang: {**_defaults(workflow, lang), **draft.values.get(lang, {})}
                for lang in template.texts
            }
            infos = compose(template, values, (area,))
            return Alert(
                identifier="",
                sender="",
                sent=now,
                status=draft.status or workflow.settings.status,
                msg_type="Alert",
                infos=infos,
            )
        body = draft.model_dump(mode="json", exclude_unset=True)
        return alert_from_dict(
            {**body, "status": draft.status or workflow.settings.status}, sent=now
        )
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise ApiError(400, "invalid_request", f"malformed alert: {err!r}") from None


def _defaults(workflow: Workflow, language: str) -> dict[str, str]:
    return {"contact": workflow.settings.contact}


def _ward_area(request: web.Request, body: dict[str, Any]) -> Any:
    from alerting.delivery import ward_area

    delivery = _workflow(request).fanout
    codes = body.get("ward_codes")
    if delivery is None or not isinstance(codes, list) or not codes:
        raise ApiError(400, "invalid_request", "ward_codes (a list of area codes) is required")
    try:
        return ward_area(
            delivery.directory,  # type: ignore[attr-defined]  # the Delivery FanOut has one
            [str(c) for c in codes],
            str(body.get("area_desc", "")),
            request.app[keys.CONFIG].geofences.outline_max_points,
        )
    except KeyError as err:
        raise ApiError(400, "unknown_area", f"unknown area codes: {err}") from None


# -- staff ---------------------------------------------------------------------------------------


@require_roles(Role.issuer)
@_errors
@endpoint(responses={201: AlertView})
async def create_alert(request: web.Request, body: DraftBody) -> web.Response:
    """POST /api/v1/alerts: a new draft (CAP fields, or a template with values and wards)."""
    workflow = _workflow(request)
    alert = await _draft_body(request, workflow, body)
    stored = await workflow.create(alert, require_principal(request).actor)
    return _staff_json(request, stored, 201)


@require_roles(*STAFF)
@_errors
@endpoint(responses={200: AlertList})
async def list_alerts(request: web.Request, query: StatesQuery) -> web.Response:
    """GET /api/v1/alerts?state=draft,submitted: newest first."""
    states = [s for s in (query.state or ",".join(store.STATES)).split(",") if s]
    unknown = set(states) - set(store.STATES)
    if unknown:
        raise ApiError(400, "invalid_query", f"state must be among {', '.join(store.STATES)}")
    alerts = await store.list_alerts(request.app[keys.DB], states)
    return web.json_response(
        {
            "alerts": [
                {
                    **a.summary(),
                    "headline": (a.alert.info(LANGUAGE_VI) or a.alert.infos[0]).headline
                    if a.alert.infos
                    else "",
                }
                for a in alerts
            ]
        }
    )


@require_roles(*STAFF)
@_errors
@endpoint(responses={200: AlertView})
async def get_alert(request: web.Request, path: AlertPath) -> web.Response:
    """One alert: its state, CAP content, plan and what keeps a draft from being submitted."""
    return _staff_json(request, await _workflow(request).get(path.identifier))


@require_roles(Role.issuer)
@_errors
@endpoint(responses={200: AlertView})
async def edit_alert(
    request: web.Request, path: AlertPath, query: VersionQuery, body: DraftBody
) -> web.Response:
    """PUT /api/v1/alerts/{identifier}?version=N: replace a draft's content."""
    workflow = _workflow(request)
    alert = await _draft_body(request, workflow, body)
    stored = await workflow.edit(
        path.identifier, alert, require_principal(request).actor, query.version
    )
    return _staff_json(request, stored)


def _transition(name: str, *roles: Role) -> Handler:
    if name == "reject":

        @require_roles(*roles)
        @_errors
        @endpoint(responses={200: AlertView})
        async def reject(
            request: web.Request, path: AlertPath, body: RejectBody | None
        ) -> web.Response:
            """Send a submitted draft back to its author, with a comment."""
            comment = body.comment if body is not None else ""
            actor = require_principal(request).actor
            stored = await _workflow(request).reject(path.identifier, actor, comment)
            return _staff_json(request, stored)

        reject.__name__ = "reject_alert"
        return reject

    @require_roles(*roles)
    @_errors
    @endpoint(responses={201: AlertView} if name in ("update", "cancel") else {200: AlertView})
    async def handler(request: web.Request, path: AlertPath) -> web.Response:
        workflow = _workflow(request)
        identifier = path.identifier
        actor = require_principal(request).actor
        if name in ("update", "cancel"):
            stored = await workflow.derive(identifier, name.capitalize(), actor)
            return _staff_json(request, stored, 201)
        else:
            stored = await getattr(workflow, name)(identifier, actor)
        return _staff_json(request, stored)

    handler.__name__ = f"{name}_alert"
    return handler


@require_roles(*STAFF)
@_errors
@endpoint()
async def plan_alert(request: web.Request, path: AlertPath) -> web.Response:
    """GET /api/v1/alerts/{identifier}/plan: who it would reach (frozen once issued)."""
    workflow = _workflow(request)
    stored = await workflow.get(path.identifier)
    if stored.plan is not None:
        return web.json_response({"frozen": True, **stored.plan})
    if workflow.fanout is None:
        raise ApiError(503, "no_targeting", "targeting is not available")
    return web.json_response({"frozen": False, **workflow.fanout.preview(stored.alert)})


@require_roles(*STAFF)
@_errors
@endpoint()
async def delivery_counts(request: web.Request, path: AlertPath) -> web.Response:
    """GET /api/v1/alerts/{identifier}/delivery: targeted; fan-out progress; per channel and
    status; failures by error code; tokens removed as unregistered."""
    stored = await _workflow(request).get(path.identifier)
    outbox = request.app[keys.OUTBOX]
    counts = await outbox.counts(stored.identifier)
    by_priority = await outbox.counts_by_priority(stored.identifier)
    failures = await outbox.failure_codes(stored.identifier)
    plan = stored.plan or {}
    fanout = await store.get_fanout(request.app[keys.DB], stored.identifier)
    return web.json_response(
        {
            "identifier": stored.identifier,
            "targeted": plan.get("totals", {}),
            "messages": plan.get("messages", {}),
            # How far enqueueing the frozen targets has got (large alerts go in batches).
            "fanout": fanout.progress() if fanout else None,
            "channels": counts,
            # Push by route: ward topics (FCM conditions) and devices one by one.
            "routes": {
                "condition": by_priority.get(("push", PRIORITY_TOPIC), {}),
                "token": by_priority.get(("push", PRIORITY_DIRECT), {}),
            },
            "failures": failures,
            # Tokens FCM no longer knows: the device registry drops them (PushTokenRejected).
            "removed": failures.get("push", {}).get("UNREGISTERED", 0),
        }
    )


# -- imports -------------------------------------------------------------------------------------


def _importer(request: web.Request) -> Importer:
    return request.app[keys.ALERTING_IMPORTS]


@require_roles(*STAFF)
@_errors
@endpoint(responses={200: ImportList})
async def list_imports(request: web.Request, query: ImportsQuery) -> web.Response:
    """GET /api/v1/imports?state=active,updated&limit=100&before=ID: imported CAP alerts.

    Newest first, each with its CAP key (sender, identifier, sent), state (active, updated,
    cancelled or expired), the gist of its text and, once re-issued, our draft's identifier.
    `next_before` pages on.
    """
    states = [s for s in (query.state or ",".join(store.IMPORT_STATES)).split(",") if s]
    if set(states) - set(store.IMPORT_STATES):
        raise ApiError(
            400, "invalid_query", f"state must be among {', '.join(store.IMPORT_STATES)}"
        )
    limit, before = query.limit, query.before
    found = await store.list_imports(request.app[keys.DB], states, limit, before)
    return web.json_response(
        {
            "imports": [import_view(item) for item in found],
            "next_before": found[-1].id if len(found) == limit else None,
        }
    )


@require_roles(*STAFF)
@_errors
@endpoint()
async def get_import(request: web.Request, path: ImportPath) -> web.Response:
    """GET /api/v1/imports/{id}: one imported alert, its CAP fields and the document received."""
    found = await _importer(request).get(path.id)
    return web.json_response(import_view(found, with_document=True))


@require_roles(Role.issuer)
@_errors
@endpoint(responses={201: AlertView})
async def reissue_import(request: web.Request, path: ImportPath) -> web.Response:
    """POST /api/v1/imports/{id}/reissue: a draft of ours, for our audience, referencing it.

    The draft (origin "import") carries our sender and identifier and names the imported
    message in `references`; an import that updates a message we re-issued becomes an Update
    of ours. Without Vietnamese in the import, the vi-VN texts are placeholders to write before
    it can be submitted; then the usual two-person approval applies. Audited.
    """
    actor = require_principal(request).actor
    stored = await _importer(request).reissue(path.id, actor)
    return _staff_json(request, stored, 201)


@require_roles(*STAFF)
@endpoint(responses={200: SourceList})
async def import_sources(request: web.Request) -> web.Response:
    """GET /api/v1/imports/sources: each enabled upstream's state.

    Status (idle, ok, failing), last success and error, consecutive failures, alerts imported
    and documents refused since start, and when it is next polled while backing off.
    """
    sources = _importer(request).sources.values()
    return web.json_response({"sources": [source.state.as_json() for source in sources]})


# -- public --------------------------------------------------------------------------------------


def _cacheable(
    request: web.Request, body: bytes, modified: datetime, content_type: str
) -> web.Response:
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    modified = modified.replace(microsecond=0)
    headers = {
        "ETag": etag,
        "Last-Modified": format_datetime(modified, usegmt=True),
        "Cache-Control": "public, max-age=30",
    }
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)
    since = request.headers.get("If-Modified-Since")
    if since and "If-None-Match" not in request.headers:
        try:
            if parsedate_to_datetime(since) >= modified:
                return web.Response(status=304, headers=headers)
        except (TypeError, ValueError):
            pass
    return web.Response(body=body, content_type=content_type, charset="utf-8", headers=headers)


async def cap_document(request: web.Request) -> web.Response:
    """GET /cap/alerts/{identifier}.xml: every message we issued, as published."""
    name = request.match_info["name"]
    if not name.endswith(".xml"):
        raise web.HTTPNotFound()
    found = await store.published(request.app[keys.DB], name.removesuffix(".xml"))
    if found is None:
        raise ApiError(404, "alert_not_found", "no issued alert with that identifier")
    document, sent = found
    return _cacheable(request, document, sent, CAP_CONTENT_TYPE)


async def cap_feed(request: web.Request) -> web.Response:
    """GET /cap/alerts.atom: the alerts in force, each linking to its CAP document."""
    app = request.app
    config = app[keys.CONFIG]
    base = config.server.public_base_url.rstrip("/")
    now = app[keys.CLOCK].now()
    alerts = [
        a
        for a in await store.issued(app[keys.DB], config.alerting.feed_max_entries)
        if in_force(a.alert, now)
    ]
    entries = [
        FeedEntry(
            identifier=a.identifier,
            title=(a.alert.info(LANGUAGE_VI) or a.alert.infos[0]).headline or a.identifier,
            updated=a.alert.sent,
            url=f"{base}/cap/alerts/{a.identifier}.xml",
        )
        for a in alerts
    ]
    updated = await store.feed_updated(app[keys.DB]) or now
    document = atom_feed(
        entries,
        feed_id=f"{base}/cap/alerts.atom",
        title=f"{config.alerting.sender_name}: cảnh báo đang có hiệu lực",
        author=config.alerting.sender_name,
        self_url=f"{base}/cap/alerts.atom",
        updated=updated,
    )
    return _cacheable(request, document, updated, ATOM_CONTENT_TYPE)


def _language(request: web.Request, lang: str | None) -> str:
    lang = lang or request.headers.get("Accept-Language") or "vi"
    return "en-US" if lang.lower().startswith("en") else LANGUAGE_VI


@endpoint(responses={200: PublicAlerts})
async def public_alerts(request: web.Request, query: PublicQuery) -> web.Response:
    """GET /api/v1/public/alerts?lat=&lon= or ?area=CODE: alerts in force there."""
    app = request.app
    now = app[keys.CLOCK].now()
    language = _language(request, query.lang)
    if query.area is not None:
        found = await store.issued_in_ward(app[keys.DB], query.area)
    elif query.lat is not None and query.lon is not None:
        lat, lon = query.lat, query.lon
        issued = await store.issued(app[keys.DB], app[keys.CONFIG].alerting.feed_max_entries)
        found = [a for a in issued if covers_point(a.alert, lon, lat)]
    else:
        raise ApiError(400, "invalid_query", "give lat and lon, or area")
    return web.json_response(
        {"alerts": [public_view(a.alert, language) for a in found if in_force(a.alert, now)]}
    )


@endpoint()
async def public_alert(request: web.Request, path: AlertPath, query: LanguageQuery) -> web.Response:
    """GET /api/v1/public/alerts/{identifier}: one issued message, in the device's language."""
    found = await store.get_alert(request.app[keys.DB].reader, path.identifier)
    if found is None or found.state in ("draft", "submitted", "approved"):
        raise ApiError(404, "alert_not_found", "no issued alert with that identifier")
    view = public_view(found.alert, _language(request, query.lang))
    view["state"] = found.state
    return web.json_response(view)


def setup_routes(app: web.Application) -> None:
    router = app.router
    router.add_post("/api/v1/alerts", create_alert)
    router.add_get("/api/v1/alerts", list_alerts)
    router.add_get("/api/v1/alerts/{identifier}", get_alert)
    router.add_put("/api/v1/alerts/{identifier}", edit_alert)
    router.add_get("/api/v1/alerts/{identifier}/plan", plan_alert)
    router.add_get("/api/v1/alerts/{identifier}/delivery", delivery_counts)
    for name, roles in (
        ("submit", (Role.issuer,)),
        ("approve", (Role.approver,)),
        ("reject", (Role.approver,)),
        ("issue", (Role.approver,)),
        ("update", (Role.issuer,)),
        ("cancel", (Role.issuer,)),
    ):
        router.add_post(f"/api/v1/alerts/{{identifier}}/{name}", _transition(name, *roles))
    router.add_get("/api/v1/imports", list_imports)
    router.add_get("/api/v1/imports/sources", import_sources)
    router.add_get(r"/api/v1/imports/{id:\d+}", get_import)
    router.add_post(r"/api/v1/imports/{id:\d+}/reissue", reissue_import)
    router.add_get("/cap/alerts.atom", cap_feed)
    router.add_get("/cap/alerts/{name}", cap_document)
    router.add_get("/api/v1/public/alerts", public_alerts)
    router.add_get("/api/v1/public/alerts/{identifier}", public_alert)
