"""HTTP handlers: the citizen device API (public, rate-limited) and staff areas and contacts.

The staff side also has the targeting preview: who a warning for a polygon would reach.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pydantic
import shapely
from aiohttp import web

from canhbao import keys
from canhbao.api import NO_CONTENT, answer, endpoint
from canhbao.auth import Role, require_principal, require_roles
from canhbao.csvfile import CsvRefused
from canhbao.http import ApiError, error_response
from geofences import store
from geofences.areas import ImportOptions
from geofences.contacts import parse_contacts_csv
from geofences.errors import (
    DeviceRefused,
    GeofenceError,
    ImportTooCostly,
    ImportTooLarge,
    InvalidContacts,
    InvalidDeviceRequest,
    InvalidGeometry,
    UnknownArea,
)
from geofences.keys import DEVICE_RATE_LIMITER, GEOFENCES
from geofences.models import (
    ContactDraft,
    Device,
    normalize_phone,
    parse_location,
    parse_plan_request,
    parse_registration,
    parse_update,
)
from geofences.schemas import (
    AreaDetail,
    AreaImport,
    AreaList,
    AreaPath,
    AreaQuery,
    AreasQuery,
    ContactBody,
    ContactList,
    ContactPath,
    ContactSaved,
    ContactsImport,
    ContactsImportQuery,
    ContactsQuery,
    DeviceChange,
    DevicePath,
    DeviceRegistration,
    DeviceView,
    ImportQuery,
    PlanBody,
    PlanPreview,
    RegisteredDevice,
)
from geofences.work import parse_geometry_off_loop, prepare_import_off_loop

SECRET_HEADER = "X-Device-Secret"  # noqa: S105  # a header name, not a secret
MAX_DEVICE_BODY = 16_384

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _citizen_error(err: GeofenceError) -> ApiError:
    """Device API errors: Vietnamese first (the app may show them), English after."""
    if isinstance(err, InvalidDeviceRequest):
        return ApiError(
            400,
            "invalid_field",
            f"Dữ liệu không hợp lệ ở trường {err.field} ({err.field}: {err.reason})",
            field=err.field,
        )
    if isinstance(err, UnknownArea):
        return ApiError(
            422,
            "unknown_area",
            f"Không có khu vực {', '.join(err.codes)} (unknown area codes)",
            codes=list(err.codes),
        )
    if isinstance(err, DeviceRefused):
        return ApiError(
            401,
            "device_refused",
            "Không tìm thấy thiết bị hoặc mã bí mật sai; hãy đăng ký lại"
            " (unknown device or wrong secret; register again)",
        )
    return ApiError(400, "invalid_request", str(err))


def citizen(handler: Handler) -> Handler:
    """Rate-limit per client address and translate domain errors for the citizen app."""

    @functools.wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        limiter = request.app[DEVICE_RATE_LIMITER]
        wait = limiter.acquire(request.remote or "unknown")
        if wait > 0:
            retry = limiter.retry_after(wait)
            response = error_response(
                429,
                "rate_limited",
                f"Quá nhiều yêu cầu, vui lòng thử lại sau {retry} giây"
                f" (too many requests; retry in {retry} s)",
                retry_after_s=int(retry),
            )
            response.headers["Retry-After"] = retry
            return response
        try:
            return await handler(request)
        except GeofenceError as err:
            raise _citizen_error(err) from None

    return guarded


def _refuse_device(err: pydantic.ValidationError) -> ApiError:
    """A device body that does not fit its model, answered as the citizen app expects."""
    first = err.errors(include_url=False, include_input=False)[0]
    name = ".".join(str(part) for part in first["loc"]) or "body"
    return _citizen_error(InvalidDeviceRequest(name, first["msg"]))


def _device_size(handler: Handler) -> Handler:
    """A device request is small: refuse a larger one before reading it."""

    @functools.wraps(handler)
    async def capped(request: web.Request) -> web.StreamResponse:
        if request.content_length is not None and request.content_length > MAX_DEVICE_BODY:
            raise ApiError(
                413, "body_too_large", f"a device request is at most {MAX_DEVICE_BODY} bytes"
            )
        return await handler(request)

    return capped


def _secret(request: web.Request) -> str:
    secret = request.headers.get(SECRET_HEADER, "")
    if not secret:
        raise DeviceRefused("no secret")
    return secret


def device_json(device: Device) -> dict[str, Any]:
    location = device.location
    return {
        "device_id": device.public_id,
        "platform": device.platform,
        "language": device.language,
        "has_token": device.has_token,
        "phone": device.phone,
        "location": None
        if location is None
        else {
            "lat": location.lat,
            "lon": location.lon,
            "accuracy_m": location.accuracy_m,
            "time": location.at.isoformat(),
        },
        "location_area": device.location_area,
        "area_codes": list(device.area_codes),
        "topics": list(device.topics),
    }


# -- devices (public) -----------------------------------------------------------------------------


@citizen
@_device_size
@endpoint(responses={201: RegisteredDevice}, refuse_body=_refuse_device)
async def register_device(request: web.Request, body: DeviceRegistration) -> web.Response:
    """Register a citizen device: FCM token, platform, language, optional phone, location and
    subscribed areas. Answers its id and a secret (shown once) that later calls send as
    X-Device-Secret."""
    registry = request.app[GEOFENCES]
    now = request.app[keys.CLOCK].now()
    registration = parse_registration(
        body.model_dump(exclude_unset=True), now, registry.settings.max_subscriptions
    )
    device, secret = await registry.register(registration)
    answer = {"device_id": device.public_id, "secret": secret, "device": device_json(device)}
    return web.json_response(answer, status=201)


@citizen
@endpoint(responses={200: DeviceView})
async def get_device(request: web.Request, path: DevicePath) -> web.Response:
    """The device as stored (needs X-Device-Secret)."""
    device = await request.app[GEOFENCES].device(path.device_id, _secret(request))
    return web.json_response(device_json(device))


@citizen
@_device_size
@endpoint(responses={200: DeviceView}, refuse_body=_refuse_device)
async def update_device(request: web.Request, path: DevicePath, body: DeviceChange) -> web.Response:
    """Change a device's location, token, subscriptions, language or phone (needs
    X-Device-Secret); its FCM topic subscriptions follow."""
    registry = request.app[GEOFENCES]
    secret = _secret(request)
    change = parse_update(
        body.model_dump(exclude_unset=True),
        request.app[keys.CLOCK].now(),
        registry.settings.max_subscriptions,
    )
    device = await registry.update(path.device_id, secret, change)
    return web.json_response(device_json(device))


@citizen
@endpoint(responses={204: NO_CONTENT})
async def unregister_device(request: web.Request, path: DevicePath) -> web.Response:
    """Forget a device and unsubscribe its token from every topic (needs X-Device-Secret)."""
    await request.app[GEOFENCES].unregister(path.device_id, _secret(request))
    return web.Response(status=204)


# -- areas ----------------------------------------------------------------------------------------


@citizen
@endpoint(responses={200: AreaList})
async def list_areas(request: web.Request, query: AreasQuery) -> web.Response:
    """Every area (code, name, parent, population, FCM topic); ?parent=CODE for its children."""
    catalog = request.app[GEOFENCES].catalog
    parent = query.parent
    areas = []
    for area in sorted(catalog.areas.values(), key=lambda a: a.code):
        parent_code = (
            catalog.areas[area.parent_id].code if area.parent_id in catalog.areas else None
        )
        if parent is not None and parent_code != (parent or None):
            continue
        areas.append(
            {
                "code": area.code,
                "name": area.name,
                "parent": parent_code,
                "population": area.population,
                "topic": area.topic,
            }
        )
    return web.json_response({"areas": areas})


@citizen
@endpoint(responses={200: AreaDetail})
async def get_area(request: web.Request, path: AreaPath, query: AreaQuery) -> web.Response:
    """One area with its CAP outline (GeoJSON, at most 250 points); ?geometry=true adds the
    imported geometry."""
    found = await store.area_outline(request.app[keys.DB], path.code)
    if found is None:
        raise UnknownArea([path.code])
    area, geometry, outline, repairs = found
    catalog = request.app[GEOFENCES].catalog
    body: dict[str, Any] = {
        "code": area.code,
        "name": area.name,
        "parent": catalog.areas[area.parent_id].code if area.parent_id in catalog.areas else None,
        "population": area.population,
        "topic": area.topic,
        "vertices": int(shapely.get_num_coordinates(geometry)),
        "outline_points": int(shapely.get_num_coordinates(outline)),
        "outline": json.loads(shapely.to_geojson(outline)),
        "repairs": json.loads(repairs),
    }
    if query.geometry:
        body["geometry"] = json.loads(shapely.to_geojson(geometry))
    return answer(AreaDetail, body)


async def _read_capped(request: web.Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes `limit` (the app-wide cap is smaller)."""
    if request.content_length is not None and request.content_length > limit:
        raise ImportTooLarge(
            f"the body is {request.content_length:,} bytes, over the {limit:,}-byte limit"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > limit:
            raise ImportTooLarge(f"the body is over the {limit:,}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _staff_error(err: GeofenceError) -> ApiError:
    if isinstance(err, ImportTooLarge):
        return ApiError(413, "import_too_large", err.reason)
    if isinstance(err, ImportTooCostly):
        return ApiError(422, "import_too_costly", err.reason, limit=err.limit)
    if isinstance(err, InvalidGeometry):
        return ApiError(
            422, "invalid_geometry", str(err), reason=err.reason, feature=err.feature, name=err.name
        )
    if isinstance(err, UnknownArea):
        return ApiError(422, "unknown_area", str(err), codes=list(err.codes))
    if isinstance(err, InvalidDeviceRequest):
        return ApiError(422, "invalid_field", str(err), field=err.field)
    if isinstance(err, InvalidContacts):
        rows = {str(row): list(reasons) for row, reasons in sorted(err.rows.items())}
        return ApiError(422, "invalid_contacts", str(err), rows=rows)
    return ApiError(400, "invalid_request", str(err))


def staff(*roles: Role) -> Callable[[Handler], Handler]:
    """require_roles, plus the translation of domain errors for staff."""

    def decorate(handler: Handler) -> Handler:
        @require_roles(*roles)
        @functools.wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request)
            except GeofenceError as err:
                raise _staff_error(err) from None

        return guarded

    return decorate


GEOJSON = {"type": "object", "description": "a GeoJSON FeatureCollection, Feature or geometry"}


@staff(Role.admin)
@endpoint(
    responses={200: AreaImport, 201: AreaImport},
    raw_bodies={"application/json": GEOJSON, "application/geo+json": GEOJSON},
)
async def import_areas(request: web.Request, query: ImportQuery) -> web.Response:
    """POST a GeoJSON FeatureCollection, Feature or geometry; properties chosen in the query."""
    registry = request.app[GEOFENCES]
    settings = request.app[keys.CONFIG].geofences
    options = ImportOptions(
        name_property=query.name_property,
        code_property=query.code_property,
        population_property=query.population_property,
        parent_property=query.parent_property,
        parent_code=query.parent,
        name=query.name,
        code=query.code,
        repair=query.repair,
        max_vertices=settings.max_import_vertices,
        outline_max_points=settings.outline_max_points,
        max_repair_crossings=settings.max_repair_crossings,
    )
    raw = await _read_capped(request, settings.max_import_bytes)
    pool = request.app[keys.OFFLOAD]
    # Parsed in a worker process too (geofences.areas.read_document): a deep document is
    # refused there as invalid_geometry.
    plan = await prepare_import_off_loop(pool, raw, settings.max_import_bytes, options)
    actor = require_principal(request).actor
    report = await registry.import_areas(plan, source=query.source, actor=actor)
    return answer(AreaImport, report, status=201 if report["added"] else 200)


@staff(Role.issuer, Role.approver)
@endpoint(responses={200: PlanPreview})
async def preview_plan(request: web.Request, body: PlanBody) -> web.Response:
    """Who a warning for this polygon would reach, per area and route, before anyone approves."""
    registry = request.app[GEOFENCES]
    settings = request.app[keys.CONFIG].geofences
    document, options = parse_plan_request(
        body.model_dump(exclude_unset=True), settings.bleed_m, settings.location_max_age_h
    )
    geometry = await parse_geometry_off_loop(
        request.app[keys.OFFLOAD], document, settings.max_warning_vertices
    )
    plan = registry.plan(geometry, options)
    return answer(PlanPreview, plan.summary())


@staff(Role.admin)
@endpoint(responses={200: ContactsImport}, raw_bodies={"text/csv": {"type": "string"}})
async def import_contacts(request: web.Request, query: ContactsImportQuery) -> web.Response:
    """POST a CSV of phone-only contacts; ?skip_invalid=true imports the good rows anyway."""
    registry = request.app[GEOFENCES]
    settings = request.app[keys.CONFIG].geofences
    raw = await _read_capped(request, settings.max_import_bytes)
    try:
        parsed = parse_contacts_csv(raw, settings.max_contact_rows)
    except CsvRefused as err:
        raise InvalidContacts({err.line or 1: (err.reason,)}, str(err)) from None
    errors = {row: list(reasons) for row, reasons in parsed.errors.items()}
    ready: list[tuple[ContactDraft, int | None]] = []
    for row in parsed.rows:
        try:
            area_id = registry.resolve_area(row.area) if row.area else None
        except UnknownArea as err:
            errors[row.row] = [str(err)]
            continue
        ready.append((row.contact, area_id))
    if errors and not query.skip_invalid:
        raise InvalidContacts(errors, f"{len(errors)} row(s) with errors; nothing was imported")
    added, updated = await registry.save_contacts(
        ready, actor=require_principal(request).actor, action="contacts.import"
    )
    return answer(
        ContactsImport,
        {
            "added": added,
            "updated": updated,
            "skipped": {str(row): reasons for row, reasons in sorted(errors.items())},
            "ignored_columns": list(parsed.ignored_columns),
        },
    )


@staff(Role.admin)
@endpoint(responses={200: ContactSaved, 201: ContactSaved})
async def add_contact(request: web.Request, body: ContactBody) -> web.Response:
    """Add (or update, by phone) one phone-only contact."""
    registry = request.app[GEOFENCES]
    try:
        location = (
            parse_location(body.location.model_dump(), request.app[keys.CLOCK].now())
            if body.location
            else None
        )
        contact = ContactDraft(
            name=body.name.strip(),
            phone=normalize_phone(body.phone),
            address=body.address,
            lon=location.lon if location else None,
            lat=location.lat if location else None,
            area_code=body.area,
            vulnerable=body.vulnerable,
            language=body.language,
        )
    except (ValueError, InvalidDeviceRequest) as err:
        raise ApiError(400, "invalid_request", str(err)) from None
    if not contact.name:
        raise ApiError(400, "invalid_request", "name is required")
    area_id = registry.resolve_area(contact.area_code) if contact.area_code else None
    if area_id is None and location is None:
        raise ApiError(400, "invalid_request", "a contact needs a location or an area")
    added, _ = await registry.save_contacts(
        [(contact, area_id)], actor=require_principal(request).actor, action="contacts.save"
    )
    return answer(ContactSaved, {"added": added}, status=201 if added else 200)


@staff(Role.admin, Role.operator)
@endpoint(responses={200: ContactList})
async def list_contacts(request: web.Request, query: ContactsQuery) -> web.Response:
    """Phone-only contacts, by id; ?area=CODE, ?after=ID and ?limit=N (at most 1000)."""
    registry = request.app[GEOFENCES]
    code = query.area
    area_id = registry.resolve_area(code) if code else None
    rows = await store.list_contacts(request.app[keys.DB], area_id, query.limit, query.after)
    catalog = registry.catalog
    contacts = [
        {
            "id": row["id"],
            "name": row["name"],
            "phone": row["phone"],
            "address": row["address"],
            "lat": row["lat"],
            "lon": row["lon"],
            "area": catalog.areas[row["area_id"]].code if row["area_id"] in catalog.areas else None,
            "vulnerable": bool(row["vulnerable"]),
            "language": row["language"],
        }
        for row in rows
    ]
    next_after = rows[-1]["id"] if rows else None
    return answer(ContactList, {"contacts": contacts, "next_after": next_after})


@staff(Role.admin)
@endpoint(responses={204: NO_CONTENT})
async def delete_contact(request: web.Request, path: ContactPath) -> web.Response:
    """Delete a phone-only contact."""
    deleted = await request.app[GEOFENCES].delete_contact(
        path.contact_id, actor=require_principal(request).actor
    )
    if not deleted:
        raise ApiError(404, "not_found", "no such contact")
    return web.Response(status=204)


def setup_routes(app: web.Application) -> None:
    router = app.router
    router.add_post("/api/v1/devices", register_device)
    router.add_get("/api/v1/devices/{device_id}", get_device)
    router.add_patch("/api/v1/devices/{device_id}", update_device)
    router.add_delete("/api/v1/devices/{device_id}", unregister_device)
    router.add_get("/api/v1/areas", list_areas)
    router.add_post("/api/v1/areas/import", import_areas)
    router.add_get("/api/v1/areas/{code}", get_area)
    router.add_post("/api/v1/targeting/preview", preview_plan)
    router.add_post("/api/v1/contacts/import", import_contacts)
    router.add_get("/api/v1/contacts", list_contacts)
    router.add_post("/api/v1/contacts", add_contact)
    router.add_delete("/api/v1/contacts/{contact_id}", delete_contact)
