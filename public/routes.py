"""The public pages' handlers: pick the language and the page, answer from the cache with a
strong ETag (304 when the phone has it), compressed as the browser asks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from public import models
from public.cache import Page, Rendered, compress
from public.keys import PAGES
from public.ports import Language

LANG_COOKIE = "lang"
LANG_COOKIE_AGE = 365 * 24 * 3600
# Identifiers, station ids and ward codes: longer is never one of ours.
MAX_NAME = 200


def language_of(request: web.Request) -> Language:
    return models.choose_language(
        request.query.get("lang"),
        request.cookies.get(LANG_COOKIE),
        request.headers.get("Accept-Language"),
    )


def _coding(request: web.Request) -> str:
    accepted = {
        part.split(";")[0].strip().lower()
        for part in request.headers.get("Accept-Encoding", "").split(",")
        if not part.replace(" ", "").endswith(";q=0")
    }
    if "br" in accepted:
        return "br"
    if "gzip" in accepted:
        return "gzip"
    return "identity"


def answer(request: web.Request, page: Page, language: Language) -> web.Response:
    coding = _coding(request)
    etag = page.etag(coding)
    headers = {
        "ETag": etag,
        "Vary": "Accept-Encoding, Accept-Language, Cookie",
        "Content-Language": language,
        "X-Content-Type-Options": "nosniff",
    }
    asked = request.query.get("lang")
    if asked in models.LANGUAGES:
        # A choice made with ?lang= is remembered; this answer is for that reader alone.
        headers["Cache-Control"] = "private, max-age=0"
    else:
        max_age = request.app[PAGES].settings.browser_max_age_s
        headers["Cache-Control"] = f"public, max-age={max_age}"
    if page.status == 200 and _matches(request.headers.get("If-None-Match"), page):
        response = web.Response(status=304, headers={**headers, "ETag": etag})
    else:
        if coding != "identity":
            headers["Content-Encoding"] = coding
        response = web.Response(
            status=page.status,
            body=page.body(coding),
            content_type=page.content_type,
            charset="utf-8",
            headers=headers,
        )
    if asked in models.LANGUAGES:
        response.set_cookie(
            LANG_COOKIE, asked, max_age=LANG_COOKIE_AGE, path="/", samesite="Lax", httponly=True
        )
    return response


def _matches(header: str | None, page: Page) -> bool:
    if not header:
        return False
    if header.strip() == "*":
        return True
    for tag in header.split(","):
        if tag.strip().removeprefix("W/") in page.etags.values():
            return True
    return False


async def _cached(
    request: web.Request, key: tuple[str, ...], build: Callable[[Language], Awaitable[Rendered]]
) -> web.Response:
    language = language_of(request)
    pages = request.app[PAGES]
    page = await pages.page((*key, language), lambda: build(language))
    return answer(request, page, language)


async def home(request: web.Request) -> web.Response:
    """GET /: warnings in force, the ward map, river levels, the hotline."""
    return await _cached(request, ("home",), request.app[PAGES].home)


async def warning(request: web.Request) -> web.Response:
    """GET /canh-bao/{identifier}: one warning, its chain, its CAP document."""
    identifier = request.match_info["identifier"]
    if len(identifier) > MAX_NAME:
        return await _not_found(request)
    pages = request.app[PAGES]
    return await _cached(
        request, ("warning", identifier), lambda lang: pages.warning(identifier, lang)
    )


async def station(request: web.Request) -> web.Response:
    """GET /tram/{station}: the level now, its band, the last 24 h as a chart."""
    station_id = request.match_info["station"]
    if len(station_id) > MAX_NAME:
        return await _not_found(request)
    pages = request.app[PAGES]
    return await _cached(
        request, ("station", station_id), lambda lang: pages.station(station_id, lang)
    )


async def station_csv(request: web.Request) -> web.Response:
    """GET /tram/{station}.csv: the chart's data."""
    station_id = request.match_info["station"]
    pages = request.app[PAGES]
    if len(station_id) > MAX_NAME or station_id not in {
        s.id for s in pages.ports.stations.stations()
    }:
        return await _not_found(request)

    async def build(language: Language) -> Rendered:
        found = await pages.station_csv(station_id)
        return found if found is not None else pages.not_found(language)

    response = await _cached(request, ("csv", station_id), build)
    if response.status == 200:
        response.headers["Content-Disposition"] = f'attachment; filename="{station_id}.csv"'
    return response


async def ward(request: web.Request) -> web.Response:
    """GET /phuong/{ward}: warnings covering the ward, the nearest stations and cameras."""
    code = request.match_info["ward"]
    if len(code) > MAX_NAME:
        return await _not_found(request)
    pages = request.app[PAGES]
    return await _cached(request, ("ward", code), lambda lang: pages.ward(code, lang))


async def cameras(request: web.Request) -> web.Response:
    """GET /camera: the latest still of every camera, thumbnails loaded lazily."""
    return await _cached(request, ("cameras",), request.app[PAGES].cameras)


async def search(request: web.Request) -> web.Response:
    """GET /tim?q=: wards by name, with or without diacritics; any q is answered, trimmed."""
    language = language_of(request)
    query = models.clean_query(request.query.get("q", ""))
    pages = request.app[PAGES]
    # Built each time (any text may be asked: the cache would fill with them), still
    # compressed and validated like the other pages.
    page = compress(pages.search(query, language), None, 0.0, quality=4)
    response = answer(request, page, language)
    if "private" not in response.headers["Cache-Control"]:
        response.headers["Cache-Control"] = "no-cache"
    return response


async def _not_found(request: web.Request) -> web.Response:
    return await _cached(request, ("not_found",), request.app[PAGES].missing)


def setup_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/", home)
    router.add_get("/canh-bao/{identifier}", warning)
    router.add_get(r"/tram/{station:[^/]+}.csv", station_csv)
    router.add_get("/tram/{station}", station)
    router.add_get("/phuong/{ward}", ward)
    router.add_get("/camera", cameras)
    router.add_get("/tim", search)
