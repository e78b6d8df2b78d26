"""HTTP for the citizen app: the SOS (POST /api/v1/rescue-requests), its state, its photos;
every call carries the device's secret in X-Device-Secret. And the photos for staff."""

from __future__ import annotations

from aiohttp import web

from canhbao.api import endpoint
from canhbao.auth import require_roles
from canhbao.http import ApiError
from dispatch.keys import DISPATCH_APP, DISPATCH_REQUESTS
from dispatch.models import NewRequest, RescueRequest
from dispatch.routes import STAFF, domain_errors
from dispatch.schemas import (
    AppReceipt,
    AppRequestBody,
    DeviceQuery,
    NumberPath,
    PhotoPath,
    PhotoQuery,
    PhotoReceipt,
)

SECRET_HEADER = "X-Device-Secret"  # noqa: S105  # a header name, not a secret
PHOTO_TYPES = ("image/jpeg", "image/png")


def _secret(request: web.Request) -> str:
    secret = request.headers.get(SECRET_HEADER, "")
    if not secret:
        raise ApiError(401, "device_refused", f"{SECRET_HEADER} is required")
    return secret


def _receipt(request: web.Request, found: RescueRequest, status: int = 200) -> web.Response:
    now = request.app[DISPATCH_REQUESTS].clock.now()
    body = {
        "number": found.number,
        "state": found.state.value,
        "priority": found.priority(now).value,
        "photos": len(found.photos),
    }
    return web.json_response(body, status=status)


@endpoint(responses={201: AppReceipt})
async def app_create(request: web.Request, body: AppRequestBody) -> web.Response:
    """The app's SOS from a registered device; answers the request's number."""
    draft = NewRequest(
        source="app",
        lat=body.lat,
        lon=body.lon,
        accuracy_m=body.accuracy_m,
        address=body.address,
        people=body.people,
        vulnerabilities=body.vulnerabilities,
        water=body.water,
        notes=body.notes,
    )
    created = await request.app[DISPATCH_APP].create(body.device_id, _secret(request), draft)
    return _receipt(request, created, 201)


@endpoint(responses={200: AppReceipt})
async def app_status(request: web.Request, path: NumberPath, query: DeviceQuery) -> web.Response:
    """The state of a request this device sent (404 for any other)."""
    found = await request.app[DISPATCH_APP].status(query.device_id, _secret(request), path.number)
    return _receipt(request, found)


@endpoint(
    responses={201: PhotoReceipt},
    raw_bodies={kind: {"type": "string", "format": "binary"} for kind in PHOTO_TYPES},
)
async def app_photo(request: web.Request, path: NumberPath, query: DeviceQuery) -> web.Response:
    """A JPEG or PNG photo of the scene, as the raw body (capped in bytes and pixels)."""
    intake = request.app[DISPATCH_APP]
    secret = _secret(request)
    body = await request.read()
    changed, photo = await intake.add_photo(query.device_id, secret, path.number, body)
    answer = {"number": changed.number, "sha256": photo.sha256, "photos": len(changed.photos)}
    return web.json_response(answer, status=201)


@require_roles(*STAFF)
@endpoint(response_types={200: "image/jpeg"})
async def staff_photo(request: web.Request, path: PhotoPath, query: PhotoQuery) -> web.Response:
    """A request's photo (or its JPEG thumbnail), for staff."""
    found = await request.app[DISPATCH_REQUESTS].get(path.id)
    if path.sha256 not in found.photos:
        raise ApiError(404, "not_found", "no such photo on this request")
    intake = request.app[DISPATCH_APP]
    data = intake.photo_bytes(path.sha256, thumbnail=query.thumbnail)
    if data is None:
        raise ApiError(404, "not_found", "the photo's file is missing")
    mime = "image/jpeg" if query.thumbnail or data.startswith(b"\xff\xd8") else "image/png"
    return web.Response(body=data, content_type=mime)


def setup_routes(app: web.Application) -> None:
    router = app.router
    router.add_post("/api/v1/rescue-requests", domain_errors(app_create))
    router.add_get("/api/v1/rescue-requests/{number}", domain_errors(app_status))
    router.add_post("/api/v1/rescue-requests/{number}/photos", domain_errors(app_photo))
    router.add_get("/api/v1/dispatch/requests/{id}/photos/{sha256}", domain_errors(staff_photo))
