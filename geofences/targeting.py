"""plan_delivery: who gets a warning for an area, and by which route (topic, token, SMS).

Recipients are
- devices whose last location is fresh and inside the polygon grown by the bleed distance;
- devices subscribed to an area that shares interior with the polygon;
- phone-only contacts located inside the grown polygon, or registered to such an area.
Each device counts once. Areas lying wholly inside the polygon are reached through their FCM
topics (the outermost such area's topic: a city's instead of its 40 wards'), joined into
conditions of at most 5 topics; everyone else is sent to one token at a time.

Topic membership follows the same rules (a device's location area while its location is fresh,
its subscribed areas, and their enclosing areas), kept in step by the device registry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import numpy as np
import shapely

from geofences.errors import InvalidGeometry
from geofences.geometry import buffer_m, polygonal
from geofences.index import AreaCatalog, PointIndex
from geofences.models import AreaRoute, DeliveryPlan, IdArray, PlanOptions, conditions_for


@dataclass(frozen=True)
class Audience:
    """The in-memory state plan_delivery reads (owned and kept current by the registry)."""

    catalog: AreaCatalog
    devices: PointIndex
    # area id → ids of devices (with a token) subscribed to it
    subscribers: Mapping[int, set[int]]
    contacts: PointIndex
    # area id → ids of contacts registered to it without a location
    area_contacts: Mapping[int, set[int]]


def warning_polygon(geometry: Any) -> Any:
    """The polygonal part of a warning's area; InvalidGeometry when targeting cannot use it."""
    polygon = polygonal(geometry)
    if shapely.is_empty(polygon) or not shapely.is_valid(polygon):
        raise InvalidGeometry("a warning area must be a valid, non-empty polygon")
    return polygon


def plan_delivery(
    geometry: Any, options: PlanOptions, *, audience: Audience, now: datetime
) -> DeliveryPlan:
    """Resolve a warning's polygon (Polygon or MultiPolygon, WGS84) into a delivery plan."""
    polygon = warning_polygon(geometry)
    catalog = audience.catalog
    reach = buffer_m(polygon, options.bleed_m)
    since = (now - options.max_location_age).timestamp()

    located = audience.devices.query(reach, since)
    hits = catalog.hits(polygon)
    # The outermost covered areas carry the topics; everything beneath them is reached too.
    topic_areas = sorted(
        a for a in hits.covered if not any(p in hits.covered for p in catalog.ancestors[a])
    )
    under_topic = set(topic_areas)
    for area_id in topic_areas:
        under_topic.update(catalog.descendants(area_id))
    topic_of = {
        a: catalog.areas[t].topic for t in topic_areas for a in (t, *catalog.descendants(t))
    }

    subscribed_pairs = _pairs(audience.subscribers, hits.overlapping)
    topic_pairs = _pairs(audience.subscribers, sorted(under_topic))
    capacity = 1 + max(
        int(located.ids.max(initial=-1)),
        int(subscribed_pairs[:, 0].max(initial=-1)),
        int(topic_pairs[:, 0].max(initial=-1)),
    )
    # Boolean masks over the id space: set algebra in O(n), without sorting.
    everyone = np.zeros(capacity, dtype=bool)
    everyone[located.ids] = True
    everyone[subscribed_pairs[:, 0]] = True
    by_topic = np.zeros(capacity, dtype=bool)
    by_topic[located.ids[np.isin(located.areas, np.fromiter(under_topic, np.int64))]] = True
    by_topic[topic_pairs[:, 0]] = True
    everyone |= by_topic

    # Attribute each device to one area: where it is, else the first area it subscribed to.
    area_of = np.full(capacity, -1, np.int32)
    pairs = np.concatenate((subscribed_pairs, topic_pairs))
    # The first pair of each device (its lowest area id): a stable sort by device, then the
    # first row of each run.
    order = np.argsort(pairs[:, 0], kind="stable")
    by_device = pairs[order]
    first = np.ones(by_device.shape[0], dtype=bool)
    first[1:] = by_device[1:, 0] != by_device[:-1, 0]
    area_of[by_device[first, 0]] = by_device[first, 1]
    area_of[located.ids] = located.areas

    topic_ids = np.flatnonzero(by_topic)
    token_ids = np.flatnonzero(everyone & ~by_topic)

    if options.include_contacts:
        contact_ids, contact_areas = _contacts(audience, reach, hits.overlapping)
    else:
        contact_ids, contact_areas = np.empty(0, np.int64), np.empty(0, np.int64)

    routes: list[AreaRoute] = []
    unattributed: dict[Literal["topic", "token", "sms"], int] = {}
    counts = {
        "topic": _count(area_of[topic_ids]),
        "token": _count(area_of[token_ids]),
        "sms": _count(contact_areas),
    }
    overlapping = set(hits.overlapping)
    leaves = {a for a in overlapping if not catalog.children.get(a)}
    attributed = set().union(*(c.keys() for c in counts.values())) - {-1}
    for route in ("topic", "token", "sms"):
        if counts[route].get(-1):
            unattributed[route] = counts[route][-1]
    for area_id in sorted(leaves | attributed):
        area = catalog.areas[area_id]
        coverage: Literal["whole", "partial", "bleed"] = (
            "whole" if area_id in under_topic else "partial" if area_id in overlapping else "bleed"
        )
        routes.append(
            AreaRoute(
                code=area.code,
                name=area.name,
                coverage=coverage,
                topic=topic_of.get(area_id),
                by_topic=counts["topic"].get(area_id, 0),
                by_token=counts["token"].get(area_id, 0),
                by_sms=counts["sms"].get(area_id, 0),
            )
        )
    topics = tuple(catalog.areas[a].topic for a in topic_areas)
    return DeliveryPlan(
        computed_at=now,
        options=options,
        conditions=conditions_for(topics),
        topics=topics,
        topic_device_ids=_frozen(topic_ids),
        token_device_ids=_frozen(token_ids),
        contact_ids=_frozen(contact_ids),
        areas=tuple(routes),
        unattributed=unattributed,
    )


def _pairs(members: Mapping[int, set[int]], area_ids: Iterable[int]) -> Any:
    """(member id, area id) rows for the given areas, in area order."""
    chunks = [
        np.column_stack(
            (np.fromiter(members[a], np.int64, len(members[a])), np.full(len(members[a]), a))
        )
        for a in area_ids
        if members.get(a)
    ]
    return np.concatenate(chunks) if chunks else np.empty((0, 2), np.int64)


def _contacts(audience: Audience, reach: Any, overlapping: Iterable[int]) -> tuple[IdArray, Any]:
    """Contact ids (sorted, unique) and each one's area id."""
    located = audience.contacts.query(reach)
    by_area = _pairs(audience.area_contacts, overlapping)
    ids = np.concatenate((located.ids, by_area[:, 0]))
    areas = np.concatenate((located.areas.astype(np.int64), by_area[:, 1]))
    ids, first = np.unique(ids, return_index=True)
    return ids, areas[first]


def _count(area_ids: Any) -> dict[int, int]:
    """Recipients per area id (-1: in no area), by bincount: no sort."""
    counts = np.bincount(np.asarray(area_ids, dtype=np.int64) + 1)
    present = np.flatnonzero(counts)
    return dict(zip((present - 1).tolist(), counts[present].tolist(), strict=True))


def _frozen(values: Any) -> IdArray:
    array = np.asarray(values, dtype=np.int64)
    array.flags.writeable = False
    return array
