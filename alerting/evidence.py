"""Camera stills as a warning's evidence: the cameras inside a draft's area are offered, and the
stills staff choose (`evidence`: still ids in a draft's body) become CAP <resource>s of every
info block, described in its language."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import shapely
from aiohttp import web

from alerting.errors import AlertNotFound
from alerting.keys import ALERTING, ALERTING_EVIDENCE
from alerting.models import LANGUAGE_VI, Alert, Resource
from alerting.ports import EvidenceSource, Geometry
from alerting.schemas import AlertPath, EvidenceList
from canhbao.api import endpoint
from canhbao.auth import Role, require_roles
from canhbao.clock import utc_text
from canhbao.http import ApiError

MAX_STILLS = 20  # CAP sets no limit; a phone shows a handful


def alert_area(alert: Alert) -> Geometry | None:
    """The union of the Vietnamese info's polygons (lon/lat), or None without one."""
    info = alert.info(LANGUAGE_VI)
    polygons = [
        shapely.Polygon([(lon, lat) for lat, lon in polygon])
        for area in (info.areas if info else ())
        for polygon in area.polygons
    ]
    return shapely.union_all(polygons) if polygons else None


async def attach(alert: Alert, still_ids: Sequence[int], source: EvidenceSource) -> Alert:
    """The alert with these stills added to each info block's resources (a still it already
    carries, by uri, is not added twice). An unknown still is refused 422 naming it."""
    if not still_ids:
        return alert
    wanted = list(dict.fromkeys(still_ids))
    infos = []
    for info in alert.infos:
        found: list[Resource] = []
        for still_id in wanted:
            resource = await source.resource(still_id, info.language)
            if resource is None:
                raise ApiError(
                    422, "unknown_still", f"evidence: no camera still {still_id}", still_id=still_id
                )
            found.append(resource)
        uris = {r.uri for r in info.resources}
        added = tuple(r for r in found if r.uri not in uris)
        infos.append(dataclasses.replace(info, resources=info.resources + added))
    return dataclasses.replace(alert, infos=tuple(infos))


@require_roles(Role.issuer, Role.approver)
@endpoint(responses={200: EvidenceList})
async def offer_evidence(request: web.Request, path: AlertPath) -> web.Response:
    """The cameras inside the alert's area with their latest stills, to attach as evidence
    (send their `still_id`s as the draft's `evidence`), and the stills it already carries."""
    try:
        stored = await request.app[ALERTING].get(path.identifier)
    except AlertNotFound:
        raise ApiError(404, "alert_not_found", "no such alert") from None
    info = stored.alert.info(LANGUAGE_VI)
    attached = {r.uri for r in info.resources} if info else set()
    area = alert_area(stored.alert)
    offered = [] if area is None else await request.app[ALERTING_EVIDENCE].offer(area)
    return web.json_response(
        {
            "identifier": stored.identifier,
            "offered": [
                {
                    "still_id": still.still_id,
                    "camera_id": still.camera_id,
                    "camera_name": still.camera_name,
                    "watches": still.watches,
                    "taken_at": utc_text(still.taken_at),
                    "url": still.url,
                    "thumbnail_url": still.thumbnail_url,
                    "flags": list(still.flags),
                    "attached": still.url in attached,
                }
                for still in offered
            ],
            "attached": [
                {
                    "resourceDesc": r.description,
                    "mimeType": r.mime_type,
                    "uri": r.uri,
                    "size": r.size,
                    "digest": r.digest,
                }
                for r in (info.resources if info else ())
            ],
        }
    )


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/alerts/{identifier}/evidence", offer_evidence)
