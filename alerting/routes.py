"""Alerting HTTP: the staff workflow API, public CAP documents and Atom feed, the app's API."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

import pydantic
from aiohttp import web

from alerting import public_routes, store
from alerting.audience import AUDIENCE_ONLY, TestAudience, audience_plan
from alerting.delivery import ward_area
from alerting.errors import (
    AlertingError,
    AlertNotFound,
    AudienceMemberNotFound,
    AudienceRefused,
    ImportNotFound,
    InvalidAlert,
    InvalidArea,
    ReissueRefused,
    SelfApprovalRefused,
    StaleVersion,
    TransitionRefused,
    UnknownWards,
)
from alerting.evidence import attach
from alerting.imports import Importer, import_view
from alerting.json_form import alert_from_dict, alert_to_dict, unknown_fields
from alerting.keys import ALERTING, ALERTING_DELIVERY, ALERTING_EVIDENCE, ALERTING_IMPORTS
from alerting.models import LANGUAGE_VI, Alert, Area
from alerting.ports import Directory
from alerting.schemas import (
    AlertList,
    AlertPath,
    AlertView,
    DeliveryReport,
    DraftBody,
    ImportList,
    ImportPath,
    ImportSourceList,
    ImportsQuery,
    ImportView,
    PlanView,
    RejectBody,
    StatesQuery,
    TemplateBody,
    TestMemberBody,
    TestMemberList,
    TestMemberPath,
    TestMemberView,
    VersionQuery,
)
from alerting.store import StoredAlert
from alerting.templates import TEMPLATES, compose, unknown_values
from alerting.workflow import Workflow
from canhbao import keys
from canhbao.api import answer, endpoint, read_json, refuse
from canhbao.auth import Role, require_principal, require_roles
from canhbao.http import ApiError

STAFF = (Role.issuer, Role.approver)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _workflow(request: web.Request) -> Workflow:
    return request.app[ALERTING]


def _errors(handler: Handler) -> Handler:
    """Domain errors → JSON answers with stable codes."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except AlertNotFound as err:
            raise ApiError(404, "alert_not_found", f"no alert {err}") from None
        except AudienceMemberNotFound as err:
            raise ApiError(404, "not_found", f"no test audience member {err}") from None
        except AudienceRefused as err:
            raise ApiError(
                422, "invalid_member", "; ".join(err.problems), problems=list(err.problems)
            ) from None
        except SelfApprovalRefused as err:
            raise ApiError(403, "self_approval", str(err)) from None
        except ImportNotFound as err:
            raise ApiError(404, "import_not_found", f"no imported alert {err}") from None
        except StaleVersion as err:
            raise ApiError(409, "stale_version", str(err), version=err.current) from None
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
    workflow = _workflow(request)
    body = {
        **stored.summary(),
        "alert": alert_to_dict(stored.alert),
        "plan": stored.plan,
        "problems": workflow.readiness(stored.alert) if stored.state == "draft" else [],
    }
    # The version to send back with submit, approve or issue (If-Match, or body "version").
    return answer(AlertView, body, status=status, headers={"ETag": f'"{stored.version}"'})


def _seen_version(request: web.Request, body: Any) -> int:
    """The version of the alert the person acted on: body "version", else If-Match ("3")."""
    given: Any = body.get("version") if isinstance(body, dict) else None
    if given is None and "If-Match" in request.headers:
        given = request.headers["If-Match"].strip().removeprefix("W/").strip('"')
    if given is None:
        raise ApiError(
            428, "version_required",
            "send the version you saw (body \"version\" or If-Match): the alert may have changed",
        )  # fmt: skip
    try:
        if isinstance(given, bool | float):
            raise TypeError(given)
        version = int(given)
    except (TypeError, ValueError):
        raise ApiError(400, "invalid_request", "version: a whole number") from None
    if not 0 < version < 2**63:
        raise ApiError(400, "invalid_request", "version: a whole number from 1")
    return version


TEMPLATE_BODY = frozenset({"template", "ward_codes", "area_desc", "values", "status", "evidence"})


async def _draft_body(request: web.Request, workflow: Workflow, draft: DraftBody) -> Alert:
    """An alert from a staff body: CAP fields as in alert_to_dict, or a template with values
    and ward codes (then the areas come from the geofences outlines, and {area} names the
    wards). A key the body has no use for is refused, never dropped: the model refuses unknown
    fields, and a template's values must name its placeholders (422 unknown_keys)."""
    now = request.app[keys.CLOCK].now()
    try:
        if isinstance(draft, TemplateBody):
            template = TEMPLATES.get(draft.template)
            if template is None:
                raise ApiError(400, "unknown_template", f"templates: {', '.join(TEMPLATES)}")
            given = draft.values
            _refuse_unknown(unknown_values(template, given))
            area = _ward_area(request, draft.model_dump())
            names = ", ".join(_directory(request).ward_names([str(c) for c in draft.ward_codes]))
            values = {
                lang: {**_defaults(workflow, lang), **given.get(lang, {}), "area": names}
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
        body = draft.model_dump(mode="json", exclude_unset=True, exclude={"evidence"})
        _refuse_unknown(unknown_fields(body))
        return alert_from_dict(
            {**body, "status": draft.status or workflow.settings.status}, sent=now
        )
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise ApiError(400, "invalid_request", f"malformed alert: {err!r}") from None


def _refuse_unknown(found: list[str]) -> None:
    if found:
        raise ApiError(
            422, "unknown_keys", f"unknown keys in the body: {', '.join(found)}", keys=found
        )


def _refuse_draft(err: pydantic.ValidationError) -> ApiError:
    """A draft that does not fit: keys it has no use for are named as unknown_keys (a misspelt
    "headLine" must not read as a missing headline), anything else as the API answers it."""
    extra = [
        item["loc"]
        for item in err.errors(include_url=False, include_input=False)
        if item["type"] == "extra_forbidden"
    ]
    unknown = [_key_path(loc) for loc in sorted(extra, key=len)]  # shallowest first
    if unknown:
        return ApiError(
            422, "unknown_keys", f"unknown keys in the body: {', '.join(unknown)}", keys=unknown
        )
    return refuse(err, "invalid_body")


def _key_path(loc: tuple[int | str, ...]) -> str:
    # "info[0].headLine", as alert_to_dict's keys read; the union's tag "(cap)" is not a key.
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif not part.startswith("("):
            path += f".{part}" if path else part
    return path


def _defaults(workflow: Workflow, language: str) -> dict[str, str]:
    return {"contact": workflow.settings.contact}


def _directory(request: web.Request) -> Directory:
    return request.app[ALERTING_DELIVERY].directory


def _ward_area(request: web.Request, body: dict[str, Any]) -> Area:
    codes = body.get("ward_codes")
    if not isinstance(codes, list) or not codes:
        raise ApiError(400, "invalid_request", "ward_codes (a list of area codes) is required")
    try:
        return ward_area(
            _directory(request),
            [str(c) for c in codes],
            str(body.get("area_desc", "")),
            request.app[keys.CONFIG].geofences.outline_max_points,
        )
    except UnknownWards as err:
        raise ApiError(400, "unknown_area", f"unknown area codes: {', '.join(err.codes)}") from None


# -- staff ---------------------------------------------------------------------------------------


@require_roles(Role.issuer)
@_errors
@endpoint(refuse_body=_refuse_draft, responses={201: AlertView})
async def create_alert(request: web.Request, body: DraftBody) -> web.Response:
    """POST /api/v1/alerts: a new draft (CAP fields, or a template with values and wards)."""
    workflow = _workflow(request)
    alert = await _draft_body(request, workflow, body)
    alert = await attach(alert, body.evidence, request.app[ALERTING_EVIDENCE])
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
    return answer(
        AlertList,
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
        },
    )


@require_roles(*STAFF)
@_errors
@endpoint(responses={200: AlertView})
async def get_alert(request: web.Request, path: AlertPath) -> web.Response:
    """One alert: its state, CAP content, plan and what keeps a draft from being submitted."""
    return _staff_json(request, await _workflow(request).get(path.identifier))


@require_roles(Role.issuer)
@_errors
@endpoint(refuse_body=_refuse_draft, responses={200: AlertView})
async def edit_alert(
    request: web.Request, path: AlertPath, query: VersionQuery, body: DraftBody
) -> web.Response:
    """PUT /api/v1/alerts/{identifier}?version=N: replace a draft's content."""
    workflow = _workflow(request)
    alert = await _draft_body(request, workflow, body)
    alert = await attach(alert, body.evidence, request.app[ALERTING_EVIDENCE])
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
            body = await read_json(request) if request.can_read_body else None
            if isinstance(body, dict):
                _refuse_unknown(sorted(set(body) - {"version"}))
            version = _seen_version(request, body)
            stored = await getattr(workflow, name)(identifier, actor, version=version)
        return _staff_json(request, stored)

    handler.__name__ = f"{name}_alert"
    return handler


@require_roles(*STAFF)
@_errors
@endpoint(responses={200: PlanView})
async def plan_alert(request: web.Request, path: AlertPath) -> web.Response:
    """GET /api/v1/alerts/{identifier}/plan: who it would reach (frozen once issued)."""
    workflow = _workflow(request)
    stored = await workflow.get(path.identifier)
    if stored.plan is not None:
        return answer(PlanView, {"frozen": True, **stored.plan})
    if stored.alert.status in AUDIENCE_ONLY:
        # Whoever is in its area, a Test or Exercise alert reaches the test audience only.
        plan = audience_plan(await _audience(request).members())
        return answer(PlanView, {"frozen": False, **plan})
    if workflow.fanout is None:
        raise ApiError(503, "no_targeting", "targeting is not available")
    return answer(PlanView, {"frozen": False, **workflow.fanout.preview(stored.alert)})


@require_roles(*STAFF)
@_errors
@endpoint(responses={200: DeliveryReport})
async def delivery_counts(request: web.Request, path: AlertPath) -> web.Response:
    """GET /api/v1/alerts/{identifier}/delivery: targeted; fan-out progress; per channel and
    status; failures by error code; tokens removed as unregistered."""
    stored = await _workflow(request).get(path.identifier)
    plan = stored.plan or {}
    fanout = await store.get_fanout(request.app[keys.DB], stored.identifier)
    return answer(
        DeliveryReport,
        {
            "identifier": stored.identifier,
            "targeted": plan.get("totals", {}),
            "messages": plan.get("messages", {}),
            # How far enqueueing the frozen targets has got (large alerts go in batches).
            "fanout": fanout.progress() if fanout else None,
            # Per channel and status; push by route (ward-topic conditions, device tokens).
            **await request.app[ALERTING_DELIVERY].report(stored.identifier),
        },
    )


# -- imports -------------------------------------------------------------------------------------


def _importer(request: web.Request) -> Importer:
    return request.app[ALERTING_IMPORTS]


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
    return answer(
        ImportList,
        {
            "imports": [import_view(item) for item in found],
            "next_before": found[-1].id if len(found) == limit else None,
        },
    )


@require_roles(*STAFF)
@_errors
@endpoint(responses={200: ImportView})
async def get_import(request: web.Request, path: ImportPath) -> web.Response:
    """GET /api/v1/imports/{id}: one imported alert, its CAP fields and the document received."""
    found = await _importer(request).get(path.id)
    return answer(ImportView, import_view(found, with_document=True))


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
@endpoint(responses={200: ImportSourceList})
async def import_sources(request: web.Request) -> web.Response:
    """GET /api/v1/imports/sources: each enabled upstream's state.

    Status (idle, ok, failing), last success and error, consecutive failures, alerts imported
    and documents refused since start, and when it is next polled while backing off.
    """
    sources = _importer(request).sources.values()
    return answer(ImportSourceList, {"sources": [source.state.as_json() for source in sources]})


def _audience(request: web.Request) -> TestAudience:
    return TestAudience(request.app[keys.DB], request.app[keys.CLOCK])


@require_roles(Role.admin)
@endpoint(responses={200: TestMemberList})
async def list_test_audience(request: web.Request) -> web.Response:
    """GET /api/v1/alerting/test-audience: the devices and phones a Test alert reaches."""
    members = await _audience(request).members()
    return answer(TestMemberList, {"members": [m.as_json() for m in members]})


@require_roles(Role.admin)
@_errors
@endpoint(refuse_body=_refuse_draft, responses={201: TestMemberView})
async def enrol_test_member(request: web.Request, body: TestMemberBody) -> web.Response:
    """POST /api/v1/alerting/test-audience {kind: device|phone, address, language, label}:
    enrol a test device (its FCM token) or phone (E.164); audited."""
    member = await _audience(request).enrol(
        body.kind, body.address, require_principal(request).actor,
        language=body.language, label=body.label,
    )  # fmt: skip
    return answer(TestMemberView, member.as_json(), status=201)


@require_roles(Role.admin)
@_errors
@endpoint(responses={200: TestMemberView})
async def remove_test_member(request: web.Request, path: TestMemberPath) -> web.Response:
    """DELETE /api/v1/alerting/test-audience/{id}: remove a member; audited."""
    member = await _audience(request).remove(path.id, require_principal(request).actor)
    return answer(TestMemberView, member.as_json())


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
    public_routes.setup_routes(app)
    router.add_get("/api/v1/alerting/test-audience", list_test_audience)
    router.add_post("/api/v1/alerting/test-audience", enrol_test_member)
    router.add_delete(r"/api/v1/alerting/test-audience/{id:\d+}", remove_test_member)
