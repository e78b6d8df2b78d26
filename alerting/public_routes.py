"""Alerting's public HTTP: CAP documents and the Atom feed, and the citizen app's alert API.

Issued alerts only, never a Test or Exercise one (those reach their test audience alone).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime

from aiohttp import web

from alerting import store
from alerting.audience import is_public
from alerting.cap import ATOM_CONTENT_TYPE, CAP_CONTENT_TYPE, FeedEntry, atom_feed
from alerting.json_form import public_view
from alerting.models import LANGUAGE_VI, covers_point, in_force
from alerting.schemas import (
    AlertPath,
    LanguageQuery,
    PublicAlert,
    PublicAlerts,
    PublicQuery,
)
from canhbao import keys
from canhbao.api import answer, endpoint
from canhbao.http import ApiError


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
    return answer(
        PublicAlerts,
        {"alerts": [public_view(a.alert, language) for a in found if in_force(a.alert, now)]},
    )


@endpoint(responses={200: PublicAlert})
async def public_alert(request: web.Request, path: AlertPath, query: LanguageQuery) -> web.Response:
    """GET /api/v1/public/alerts/{identifier}: one issued message, in the device's language."""
    found = await store.get_alert(request.app[keys.DB].reader, path.identifier)
    if found is None or not is_public(found):
        raise ApiError(404, "alert_not_found", "no issued alert with that identifier")
    view = public_view(found.alert, _language(request, query.lang))
    view["state"] = found.state
    return answer(PublicAlert, view)


# -- the test audience ---------------------------------------------------------------------------


def setup_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/cap/alerts.atom", cap_feed)
    router.add_get("/cap/alerts/{name}", cap_document)
    router.add_get("/api/v1/public/alerts", public_alerts)
    router.add_get("/api/v1/public/alerts/{identifier}", public_alert)
