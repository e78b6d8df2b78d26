"""HTTP for the province's reports: figures, and requests as CSV and GeoJSON."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from canhbao.api import endpoint
from canhbao.auth import require_roles
from dispatch import reports, store
from dispatch.keys import DISPATCH_REQUESTS
from dispatch.routes import STAFF, domain_errors
from dispatch.schemas import DaysQuery, FeatureCollection, Figures


@require_roles(*STAFF)
@endpoint(responses={200: Figures})
async def figures(request: web.Request, query: DaysQuery) -> web.Response:
    """GET /api/v1/dispatch/figures?days=7: time to accept, on scene, resolved (median, p90)
    per local day, per ward and in total, for requests received in the last `days` days."""
    requests = request.app[DISPATCH_REQUESTS]
    now = requests.clock.now()
    rows = await store.timing_rows(requests.db, now - timedelta(days=query.days), now)
    return web.json_response(reports.figures([dict(row) for row in rows]))


@require_roles(*STAFF)
@endpoint(response_types={200: "text/csv"})
async def requests_csv(request: web.Request, query: DaysQuery) -> web.Response:
    """Requests received in the last `days` days, oldest first (no phone numbers)."""
    requests = request.app[DISPATCH_REQUESTS]
    now = requests.clock.now()
    found = await store.requests_between(requests.db, now - timedelta(days=query.days), now)
    reached = await store.reached_at(requests.db, [r.id for r in found])
    response = web.Response(text=reports.requests_csv(found, reached, now), content_type="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="rescue-requests.csv"'
    return response


@require_roles(*STAFF)
@endpoint(responses={200: FeatureCollection})
async def requests_geojson(request: web.Request, query: DaysQuery) -> web.Response:
    """The same requests as a GeoJSON FeatureCollection (points, lon/lat), served as
    application/json so every JSON client and the OpenAPI document read it as JSON."""
    requests = request.app[DISPATCH_REQUESTS]
    now = requests.clock.now()
    found = await store.requests_between(requests.db, now - timedelta(days=query.days), now)
    reached = await store.reached_at(requests.db, [r.id for r in found])
    return web.json_response(reports.requests_geojson(found, reached, now))


def setup_routes(app: web.Application) -> None:
    api = "/api/v1/dispatch"
    app.router.add_get(f"{api}/figures", domain_errors(figures))
    app.router.add_get(f"{api}/requests.csv", domain_errors(requests_csv))
    app.router.add_get(f"{api}/requests.geojson", domain_errors(requests_geojson))
