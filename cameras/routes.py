"""HTTP routes: cameras, their stills and images for everyone (cached, revalidated by ETag);
the registry and fetch records for staff."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

import shapely
from aiohttp import web

from cameras import store
from cameras.errors import CameraConflict, CameraInvalid, CameraNotFound
from cameras.evidence import evidence
from cameras.files import ImageFiles
from cameras.geometry import PlaceInvalid, distance_m, parse_point, parse_polygon
from cameras.keys import CAMERAS
from cameras.models import Camera, Still, Validator, build_camera
from cameras.schemas import (
    CameraBody,
    CameraChange,
    CameraList,
    CameraPath,
    CameraRecord,
    CamerasQuery,
    CameraView,
    CapResourceView,
    FetchesQuery,
    FetchList,
    ImagePath,
    Polled,
    Retired,
    StillPage,
    StillPath,
    StillsQuery,
)
from cameras.service import Cameras
from canhbao import keys
from canhbao.api import NO_CONTENT, endpoint
from canhbao.auth import Role, require_principal, require_roles
from canhbao.clock import parse_utc, utc_text
from canhbao.http import ApiError

IMMUTABLE = "public, max-age=31536000, immutable"
MAX_RADIUS_M = 50_000


# -- public ---------------------------------------------------------------------------------


@endpoint(responses={200: CameraList})
async def list_cameras(request: web.Request, query: CamerasQuery) -> web.Response:
    """Cameras with their latest still (URL, age), flags and whether a warning covers them.

    `near=lat,lon` (with `radius_m`, default 2000) lists those within that distance, nearest
    first; `within` (a CAP polygon: "lat,lon lat,lon ...", closed) those inside it.
    """
    service = request.app[CAMERAS]
    cameras = await store.load_cameras(service.deps.db)
    try:
        if query.within is not None:
            polygon = parse_polygon(query.within)
            cameras = [c for c in cameras if polygon.covers(_lonlat_point(c))]
        if query.near is not None:
            lat, lon = parse_point(query.near)
            radius = query.radius_m
            found = [(distance_m(lat, lon, c.lat, c.lon), c) for c in cameras]
            found = sorted((pair for pair in found if pair[0] <= radius), key=lambda p: p[0])
            return web.json_response(
                {
                    "cameras": [
                        {**_camera_json(request, service, c), "distance_m": round(d, 1)}
                        for d, c in found
                    ]
                }
            )
    except PlaceInvalid as err:
        raise ApiError(400, "invalid_place", str(err)) from None
    return web.json_response({"cameras": [_camera_json(request, service, c) for c in cameras]})


@endpoint(responses={200: CameraView})
async def get_camera(request: web.Request, path: CameraPath) -> web.Response:
    """One camera as in the camera list."""
    service = request.app[CAMERAS]
    camera = await _camera(request, path.camera_id)
    return web.json_response(_camera_json(request, service, camera))


@endpoint(responses={200: StillPage})
async def list_stills(request: web.Request, path: CameraPath, query: StillsQuery) -> web.Response:
    """A camera's stills, newest first, seen between `since` and `until` (ISO 8601 with a zone).

    Paged: `limit` (1-200, default 50) and `before_id` (the `next_before_id` of the last page).
    """
    camera = await _camera(request, path.camera_id)
    since, until = _time(query.since, "since"), _time(query.until, "until")
    if since is not None and until is not None and since >= until:
        raise ApiError(400, "invalid_range", "since must be before until")
    limit, before_id = query.limit, query.before_id
    stills = await store.stills_between(
        request.app[CAMERAS].deps.db, camera.id, since, until, before_id, limit
    )
    return web.json_response(
        {
            "camera_id": camera.id,
            "stills": [_still_json(request, still) for still in stills],
            "next_before_id": stills[-1].id if len(stills) == limit else None,
        }
    )


IMAGE_ANSWERS: dict[int, Any] = {200: None, 304: NO_CONTENT}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _revalidated_first(*, latest: bool, thumbnail: bool) -> Callable[[Handler], Handler]:
    """Answer a revalidation before anything else runs (a crowd of phones in a flood sends
    little else): the ETag of a camera's latest still comes from the in-memory index its
    poller keeps, with its headers built once per picture, and a stored image's ETag is its
    own address. The path is only looked up, never parsed, here; whatever does not match
    goes on to the typed endpoint, which validates it as before."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def revalidated(request: web.Request) -> web.StreamResponse:
            tags = request.headers.get("If-None-Match")
            if tags:
                if latest:
                    service = request.app[CAMERAS]
                    found = service.latest_validator(request.match_info["camera_id"], thumbnail)
                else:
                    found = _immutable_validator(request.match_info["sha256"], thumbnail)
                if found is not None and _matches(tags, found.etag):
                    return web.Response(status=304, headers=found.headers)
            return await handler(request)

        return revalidated

    return decorate


def _immutable_validator(sha256: str, thumbnail: bool) -> Validator | None:
    if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
        return None
    return Validator.of(sha256, thumbnail, IMMUTABLE)


@_revalidated_first(latest=True, thumbnail=False)
@endpoint(responses=IMAGE_ANSWERS, response_types={200: "image/jpeg"})
async def latest_still(request: web.Request, path: CameraPath) -> web.StreamResponse:
    """The camera's latest still (JPEG or PNG); revalidate with If-None-Match."""
    return await _latest(request, path.camera_id, thumbnail=False)


@_revalidated_first(latest=True, thumbnail=True)
@endpoint(responses=IMAGE_ANSWERS, response_types={200: "image/jpeg"})
async def latest_thumbnail(request: web.Request, path: CameraPath) -> web.StreamResponse:
    """The camera's latest still as a 320-px-wide JPEG; revalidate with If-None-Match."""
    return await _latest(request, path.camera_id, thumbnail=True)


async def _latest(request: web.Request, camera_id: str, *, thumbnail: bool) -> web.StreamResponse:
    service = request.app[CAMERAS]
    poller = service.pollers.get(camera_id)
    still = poller.state.latest if poller is not None else None
    if still is None:
        still = (await store.latest_stills(service.deps.db)).get(camera_id)
    if still is None:
        raise ApiError(404, "no_still", f"camera {camera_id!r} has no still yet")
    max_age = request.app[keys.CONFIG].cameras.image_cache_s
    cache = f"public, max-age={max_age}"
    return await _image(request, service, still.sha256, still.mime, thumbnail, cache)


@_revalidated_first(latest=False, thumbnail=False)
@endpoint(responses=IMAGE_ANSWERS, response_types={200: "image/jpeg"})
async def image(request: web.Request, path: ImagePath) -> web.StreamResponse:
    """A stored still by its SHA-256 (immutable: cached for a year)."""
    return await _stored(request, path.sha256, thumbnail=False)


@_revalidated_first(latest=False, thumbnail=True)
@endpoint(responses=IMAGE_ANSWERS, response_types={200: "image/jpeg"})
async def thumbnail(request: web.Request, path: ImagePath) -> web.StreamResponse:
    """A stored still's thumbnail by the still's SHA-256 (immutable: cached for a year)."""
    return await _stored(request, path.sha256, thumbnail=True)


async def _stored(request: web.Request, sha256: str, *, thumbnail: bool) -> web.StreamResponse:
    service = request.app[CAMERAS]
    if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
        raise ApiError(404, "no_image", "no such image")
    return await _image(request, service, sha256, None, thumbnail, IMMUTABLE)


async def _image(
    request: web.Request,
    service: Cameras,
    sha256: str,
    mime: str | None,
    thumbnail: bool,
    cache: str,
) -> web.StreamResponse:
    # The address is the content: the ETag is the hash, strong, and a match needs no I/O.
    validator = Validator.of(sha256, thumbnail, cache)
    if _matches(request.headers.get("If-None-Match", ""), validator.etag):
        return web.Response(status=304, headers=validator.headers)
    if mime is None:
        mime = await store.image_mime(service.deps.db, sha256)
        if mime is None:
            raise ApiError(404, "no_image", "no such image")
    files: ImageFiles = service.deps.files
    body = await asyncio.to_thread(files.read, sha256, thumbnail=thumbnail)
    if body is None:
        raise ApiError(404, "no_image", "no such image")
    content_type = "image/jpeg" if thumbnail else mime
    return web.Response(body=body, content_type=content_type, headers=validator.headers)


def _matches(header: str, etag: str) -> bool:
    """If-None-Match uses the weak comparison (RFC 9110 13.1.2): W/ is ignored."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in header.split(","))


# -- staff ----------------------------------------------------------------------------------


@require_roles(Role.admin)
@endpoint(responses={201: CameraRecord})
async def create_camera(request: web.Request, body: CameraBody) -> web.Response:
    """Add a camera to the registry (audited). Credentials: `username` and `password_env`,
    the environment variable holding the password."""
    camera = _build(body.model_dump(exclude_unset=True))
    saved = await _save(request, camera, creating=True)
    return web.json_response(saved, status=201)


@require_roles(Role.admin)
@endpoint(responses={200: CameraRecord})
async def update_camera(request: web.Request, path: CameraPath, body: CameraChange) -> web.Response:
    """Change a camera's fields (audited); config.toml's cameras are changed there."""
    current = await _camera(request, path.camera_id)
    changes = body.model_dump(exclude_unset=True)
    if changes.get("id", current.id) != current.id:
        raise ApiError(400, "invalid_camera", "id: cannot be changed", field="id")
    fields = {k: v for k, v in current.as_fields().items() if k not in ("origin", "ward")}
    camera = _build({**fields, **changes})
    return web.json_response(await _save(request, camera, creating=False))


@require_roles(Role.admin)
@endpoint(responses={200: Retired})
async def retire_camera(request: web.Request, path: CameraPath) -> web.Response:
    """Remove a camera from the registry (audited); its stills follow retention as before."""
    service = request.app[CAMERAS]
    try:
        await service.retire(path.camera_id, require_principal(request).actor)
    except CameraNotFound:
        raise ApiError(404, "camera_not_found", "no such camera") from None
    except CameraConflict as err:
        raise ApiError(409, "camera_conflict", str(err)) from None
    return web.json_response({"retired": path.camera_id})


@require_roles(Role.admin, Role.issuer)
@endpoint(responses={200: Polled})
async def poll_camera(request: web.Request, path: CameraPath) -> web.Response:
    """Fetch a still from the camera now; answers with the fetch's record."""
    service = request.app[CAMERAS]
    camera = await _camera(request, path.camera_id)
    try:
        await service.poll(camera.id)
    except CameraNotFound:
        raise ApiError(409, "camera_disabled", "the camera is not polled (disabled)") from None
    fetches = await store.recent_fetches(service.deps.db, camera.id, 1)
    return web.json_response(
        {
            "fetch": fetches[0].as_json() if fetches else None,
            "camera": _camera_json(request, service, camera),
        }
    )


@require_roles()
@endpoint(responses={200: CapResourceView})
async def still_cap_resource(request: web.Request, path: StillPath) -> web.Response:
    """A still as a CAP <resource>, to attach to a warning's info: resourceDesc, mimeType,
    size, uri (our public image) and digest (SHA-1 of the bytes at uri, as CAP 1.2 asks).
    The still is kept for good from then on (retention spares evidence)."""
    service = request.app[CAMERAS]
    base = request.app[keys.CONFIG].server.public_base_url
    resource = await evidence(service, path.still_id, base, "vi-VN")
    if resource is None:
        raise ApiError(404, "no_still", "no such still")
    return web.json_response(resource.as_json())


@require_roles()
@endpoint(responses={200: FetchList})
async def list_fetches(request: web.Request, path: CameraPath, query: FetchesQuery) -> web.Response:
    """The camera's latest fetches: time, HTTP status, bytes, duration, outcome and reason."""
    camera = await _camera(request, path.camera_id)
    limit = query.limit
    fetches = await store.recent_fetches(request.app[CAMERAS].deps.db, camera.id, limit)
    return web.json_response(
        {"camera_id": camera.id, "fetches": [fetch.as_json() for fetch in fetches]}
    )


async def _save(request: web.Request, camera: Camera, *, creating: bool) -> dict[str, Any]:
    service = request.app[CAMERAS]
    try:
        saved = await service.save(camera, require_principal(request).actor, creating=creating)
    except CameraInvalid as err:
        raise ApiError(400, "invalid_camera", str(err), field=err.field) from None
    except CameraConflict as err:
        raise ApiError(409, "camera_conflict", str(err)) from None
    except CameraNotFound:
        raise ApiError(404, "camera_not_found", "no such camera") from None
    return {**saved.as_fields(), **service.status(saved.id)}


def _build(body: Mapping[str, Any]) -> Camera:
    try:
        return build_camera(body, "api")
    except CameraInvalid as err:
        raise ApiError(400, "invalid_camera", str(err), field=err.field) from None


# -- shared ---------------------------------------------------------------------------------


async def _camera(request: web.Request, camera_id: str) -> Camera:
    try:
        return await request.app[CAMERAS].camera(camera_id)
    except CameraNotFound:
        raise ApiError(404, "camera_not_found", "no such camera") from None


def _camera_json(request: web.Request, service: Cameras, camera: Camera) -> dict[str, Any]:
    poller = service.pollers.get(camera.id)
    latest = poller.state.latest if poller is not None else None
    now = service.clock.now()
    base = request.app[keys.CONFIG].server.public_base_url.rstrip("/")
    return {
        "id": camera.id,
        "name": camera.name,
        "lat": camera.lat,
        "lon": camera.lon,
        "watches": camera.watches,
        "ward": {"code": camera.ward_code, "name": camera.ward_name} if camera.ward_code else None,
        "latest": None
        if latest is None
        else {
            **_still_json(request, latest),
            "age_s": round((now - latest.last_seen_at).total_seconds(), 1),
            "latest_url": f"{base}/api/v1/cameras/{camera.id}/still",
        },
        **service.status(camera.id),
    }


def _still_json(request: web.Request, still: Still) -> dict[str, Any]:
    base = request.app[keys.CONFIG].server.public_base_url.rstrip("/")
    return {
        "id": still.id,
        "fetched_at": utc_text(still.fetched_at),
        "last_seen_at": utc_text(still.last_seen_at),
        "sha256": still.sha256,
        "mime": still.mime,
        "width": still.width,
        "height": still.height,
        "bytes": still.bytes,
        "url": f"{base}/api/v1/camera-images/{still.sha256}",
        "thumbnail_url": f"{base}/api/v1/camera-images/{still.sha256}/thumbnail",
    }


def _lonlat_point(camera: Camera) -> Any:
    return shapely.Point(camera.lon, camera.lat)


def _time(raw: str | None, name: str) -> datetime | None:
    if not raw:
        return None
    try:
        return parse_utc(raw.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise ApiError(
            400, "invalid_time", f"{name}: an ISO 8601 time with a time zone, got {raw[:60]!r}"
        ) from None


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/cameras", list_cameras)
    app.router.add_post("/api/v1/cameras", create_camera)
    app.router.add_get("/api/v1/cameras/{camera_id}", get_camera)
    app.router.add_patch("/api/v1/cameras/{camera_id}", update_camera)
    app.router.add_delete("/api/v1/cameras/{camera_id}", retire_camera)
    app.router.add_get("/api/v1/cameras/{camera_id}/stills", list_stills)
    app.router.add_get("/api/v1/cameras/{camera_id}/still", latest_still)
    app.router.add_get("/api/v1/cameras/{camera_id}/thumbnail", latest_thumbnail)
    app.router.add_post("/api/v1/cameras/{camera_id}/poll", poll_camera)
    app.router.add_get("/api/v1/cameras/{camera_id}/fetches", list_fetches)
    app.router.add_get("/api/v1/camera-stills/{still_id}/cap-resource", still_cap_resource)
    app.router.add_get("/api/v1/camera-images/{sha256}", image)
    app.router.add_get("/api/v1/camera-images/{sha256}/thumbnail", thumbnail)
