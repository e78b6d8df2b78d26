"""/console: the built console/dist, index.html for client routes, and /console/config.json.

The build is made by `make run` and `make test` (npm ci and vite build, via stamp files). When it
is missing, /console answers 503 in Vietnamese and English naming the command that builds it,
instead of a bare 404.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from aiohttp import web

from canhbao import keys

# console/dist beside the canhbao package (the checkout: the package is installed editable).
CONSOLE_DIST = Path(__file__).resolve().parents[2] / "console" / "dist"
DIST = web.AppKey("console_dist", Path)
IMMUTABLE = "public, max-age=31536000, immutable"
# index.html names the hashed assets of the current build: always revalidated.
NO_CACHE = "no-cache"
# The console's pages never need another origin: every script, style and image is ours. Tiles
# come from the configured basemap only (img-src allows https: for it; empty by default).
# Voicemail is played from where Twilio keeps it (the call log's recordings).
CSP = (
    "default-src 'self'; img-src 'self' data: blob: https:; style-src 'self' 'unsafe-inline';"
    " media-src 'self' https://api.twilio.com;"
    " connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
NOT_BUILT = (
    "Bảng điều khiển chưa được dựng: chạy `make run` (hoặc `make console`). | "
    "The console is not built: run `make run` (or `make console`).\n"
)


async def index(request: web.Request) -> web.StreamResponse:
    """The single page: the app's router reads the path after /console/."""
    page = request.app[DIST] / "index.html"
    if not page.is_file():
        return web.Response(status=503, text=NOT_BUILT, content_type="text/plain")
    response = web.FileResponse(page, headers={"Cache-Control": NO_CACHE})
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


async def asset(request: web.Request) -> web.StreamResponse:
    """A hashed file of the build (its name changes when its content does: cached for good)."""
    name = request.match_info["name"]
    assets = request.app[DIST] / "assets"
    path = (assets / name).resolve()
    if path.parent != assets.resolve() or not path.is_file():
        raise web.HTTPNotFound(text="no such asset", content_type="text/plain")
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    response = web.FileResponse(path, headers={"Cache-Control": IMMUTABLE})
    response.headers["Content-Type"] = kind
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


async def settings(request: web.Request) -> web.Response:
    """What the page needs before it logs in: the basemap's tile URL (empty: no basemap)."""
    config = request.app[keys.CONFIG].console
    body = {"tile_url": config.tile_url, "tile_attribution": config.tile_attribution}
    return web.json_response(body, headers={"Cache-Control": NO_CACHE})


async def to_index(request: web.Request) -> web.StreamResponse:
    raise web.HTTPMovedPermanently("/console/")


def setup(app: web.Application, dist: Path = CONSOLE_DIST) -> None:
    """Add the console's routes; `dist` is the folder vite builds into."""
    app[DIST] = dist
    app.router.add_get("/console", to_index)
    app.router.add_get("/console/config.json", settings)
    app.router.add_get("/console/assets/{name}", asset)
    app.router.add_get("/console/{path:.*}", index)
