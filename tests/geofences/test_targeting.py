"""plan_delivery: who is reached (bleed in metres, freshness, subscriptions, contacts) and how."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import Point

from geofences.geometry import METRES_PER_DEGREE, buffer_m
from geofences.index import AreaCatalog, PointIndex
from geofences.models import Area, PlanOptions, conditions_for
from geofences.targeting import Audience, plan_delivery
from tests.conftest import StaffFactory
from tests.geofences.conftest import PHU_XUAN, THUAN_AN, Client, Register, registry

NOW = datetime(2025, 11, 16, 3, 0, tzinfo=UTC)
LAT = 16.46
M_LON = METRES_PER_DEGREE * math.cos(math.radians(LAT))  # metres per degree of longitude here


def metres_east(lon: float, metres: float) -> float:
    return lon + metres / M_LON


def metres_north(lat: float, metres: float) -> float:
    return lat + metres / METRES_PER_DEGREE


class World:
    """A hand-built audience: a city of six square wards in a row, devices and contacts."""

    def __init__(self) -> None:
        wards = [shapely.box(107.0 + 0.1 * i, 16.4, 107.1 + 0.1 * i, 16.5) for i in range(6)]
        areas = [Area(1, "city", "City", None, None, "area-city")]
        areas += [Area(10 + i, f"city.w{i}", f"W{i}", 1, None, f"area-city.w{i}") for i in range(6)]
        self.catalog = AreaCatalog(areas, [shapely.union_all(wards), *wards])
        self.devices = PointIndex()
        self.contacts = PointIndex()
        self.subscribers: dict[int, set[int]] = {}
        self.area_contacts: dict[int, set[int]] = {}

    def device(
        self,
        device_id: int,
        at: tuple[float, float] | None,
        age_h: float = 1,
        subs: tuple[int, ...] = (),
    ) -> None:
        if at is not None:
            located = (NOW - timedelta(hours=age_h)).timestamp()
            area = self.catalog.locate(*at)
            self.devices.upsert(device_id, at[0], at[1], located, area)
        for area_id in subs:
            self.subscribers.setdefault(area_id, set()).add(device_id)

    def contact(
        self, contact_id: int, at: tuple[float, float] | None, area: int | None = None
    ) -> None:
        if at is not None:
            self.contacts.upsert(contact_id, at[0], at[1], 0.0, self.catalog.locate(*at))
        elif area is not None:
            self.area_contacts.setdefault(area, set()).add(contact_id)

    def plan(self, geometry: Any, **options: Any) -> Any:
        audience = Audience(
            self.catalog, self.devices, self.subscribers, self.contacts, self.area_contacts
        )
        return plan_delivery(geometry, PlanOptions(**options), audience=audience, now=NOW)


def ids(values: Any) -> list[int]:
    return sorted(int(v) for v in values)


def test_the_bleed_is_measured_in_metres_both_ways() -> None:
    world = World()
    square = shapely.box(107.02, 16.42, 107.08, 16.48)
    world.device(1, (metres_east(107.08, 150), 16.45))  # 150 m east of the east edge
    world.device(2, (metres_east(107.08, 172), 16.45))  # 172 m east
    world.device(3, (107.05, metres_north(16.48, 150)))  # 150 m north of the north edge
    world.device(4, (107.05, metres_north(16.48, 172)))  # 172 m north
    world.device(5, (107.05, 16.45))  # inside
    assert ids(world.plan(square).token_device_ids) == [1, 3, 5]
    assert ids(world.plan(square, bleed_m=0).token_device_ids) == [5]
    assert ids(world.plan(square, bleed_m=200).token_device_ids) == [1, 2, 3, 4, 5]


def test_buffer_in_metres_is_right_to_a_metre_at_hue() -> None:
    point = shapely.Point(107.58, 16.46)
    grown = buffer_m(point.buffer(0.01), 161.0)
    east = shapely.get_coordinates(grown)[:, 0].max() - 107.59
    north = shapely.get_coordinates(grown)[:, 1].max() - 16.47
    assert east * M_LON == pytest.approx(161.0, abs=1.0)
    assert north * METRES_PER_DEGREE == pytest.approx(161.0, abs=1.0)


def test_stale_locations_do_not_count() -> None:
    world = World()
    world.device(1, (107.05, 16.45), age_h=23.9)
    world.device(2, (107.05, 16.45), age_h=24.1)
    square = shapely.box(107.01, 16.41, 107.09, 16.49)
    assert ids(world.plan(square).token_device_ids) == [1]
    assert ids(world.plan(square, max_location_age=timedelta(hours=48)).token_device_ids) == [1, 2]


def test_subscribers_of_overlapping_areas_are_reached_wherever_they_are() -> None:
    world = World()
    world.device(1, (105.0, 21.0), subs=(10,))  # in Hà Nội, family in ward 0
    world.device(2, None, subs=(11,))  # no location at all, subscribed to ward 1
    world.device(3, None, subs=(12,))  # ward 2 only touches the polygon along an edge
    polygon = shapely.box(107.05, 16.42, 107.2, 16.48)  # overlaps wards 0 and 1, touches 2
    plan = world.plan(polygon, bleed_m=0)
    assert ids(plan.token_device_ids) == [1, 2]
    routes = {route.code: route for route in plan.areas}
    assert routes["city.w0"].by_token == 1
    assert routes["city.w1"].by_token == 1
    assert "city.w2" not in routes


def test_wholly_covered_areas_go_by_topic_and_each_device_counts_once() -> None:
    world = World()
    world.device(1, (107.05, 16.45))  # in ward 0, which the polygon covers
    world.device(2, (107.05, 16.45), subs=(10, 11))  # in ward 0 and subscribed to 0 and 1
    world.device(3, (107.15, 16.45))  # in ward 1, which is only partly inside
    world.device(4, None, subs=(10,))  # subscribed to ward 0
    polygon = shapely.box(106.99, 16.39, 107.15, 16.51)
    plan = world.plan(polygon, bleed_m=0)
    assert plan.topics == ("area-city.w0",)
    assert plan.conditions == ("'area-city.w0' in topics",)
    assert ids(plan.topic_device_ids) == [1, 2, 4]
    assert ids(plan.token_device_ids) == [3]
    assert plan.device_count == 4
    routes = {route.code: route for route in plan.areas}
    assert (routes["city.w0"].coverage, routes["city.w0"].by_topic) == ("whole", 3)
    assert (routes["city.w1"].coverage, routes["city.w1"].by_token) == ("partial", 1)
    assert routes["city.w0"].topic == "area-city.w0"
    assert routes["city.w1"].topic is None


def test_a_city_wide_warning_is_one_topic_not_one_per_ward() -> None:
    world = World()
    for i in range(6):
        world.device(i, (107.05 + 0.1 * i, 16.45))
    plan = world.plan(shapely.box(106.9, 16.3, 107.7, 16.6))
    assert plan.topics == ("area-city",)
    assert plan.conditions == ("'area-city' in topics",)
    assert ids(plan.topic_device_ids) == list(range(6))
    assert plan.token_device_ids.size == 0
    assert {route.topic for route in plan.areas} == {"area-city"}
    assert sum(route.by_topic for route in plan.areas) == 6


def test_conditions_join_at_most_five_topics() -> None:
    topics = [f"area-{i}" for i in range(12)]
    conditions = conditions_for(topics)
    assert len(conditions) == 3
    assert [c.count(" in topics") for c in conditions] == [5, 5, 2]
    assert conditions[0] == " || ".join(f"'{t}' in topics" for t in sorted(topics)[:5])


def test_contacts_are_found_by_location_or_by_their_ward() -> None:
    world = World()
    world.contact(1, (107.05, 16.45))  # inside, located
    world.contact(2, None, area=10)  # ward 0, no location
    world.contact(3, None, area=13)  # ward 3, far away
    world.contact(4, (107.35, 16.45))  # located far away
    plan = world.plan(shapely.box(107.01, 16.41, 107.09, 16.49))
    assert ids(plan.contact_ids) == [1, 2]
    assert {route.code: route.by_sms for route in plan.areas}["city.w0"] == 2
    no_sms = world.plan(shapely.box(107.01, 16.41, 107.09, 16.49), include_contacts=False)
    assert no_sms.contact_ids.size == 0


def test_devices_outside_every_area_are_counted_apart() -> None:
    world = World()
    world.device(1, (106.95, 16.45))  # west of the city, still in the polygon
    plan = world.plan(shapely.box(106.9, 16.4, 107.05, 16.5))
    assert ids(plan.token_device_ids) == [1]
    assert plan.unattributed == {"token": 1}


def test_the_plan_arrays_are_read_only() -> None:
    world = World()
    world.device(1, (107.05, 16.45))
    plan = world.plan(shapely.box(107.0, 16.4, 107.1, 16.5))
    with pytest.raises(ValueError, match="read-only"):
        plan.topic_device_ids[0] = 99


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), bleed=st.sampled_from([0.0, 161.0, 500.0]))
def test_recipients_equal_a_brute_force_reference(seed: int, bleed: float) -> None:
    rng = np.random.default_rng(seed)
    world = World()
    locations: dict[int, tuple[float, float, float]] = {}
    subscriptions: dict[int, tuple[int, ...]] = {}
    for device_id in range(400):
        at = None
        if rng.random() < 0.8:
            at = (float(rng.uniform(106.95, 107.65)), float(rng.uniform(16.35, 16.55)))
            # Some on ward edges exactly.
            if rng.random() < 0.1:
                at = (round(at[0], 1), at[1])
        age = float(rng.uniform(0, 48))
        subs = tuple(int(a) for a in rng.choice([10, 11, 12, 13, 14, 15], rng.integers(0, 3)))
        world.device(device_id, at, age_h=age, subs=subs)
        if at is not None:
            locations[device_id] = (*at, age)
        subscriptions[device_id] = subs
    centre = (float(rng.uniform(107.0, 107.6)), float(rng.uniform(16.4, 16.5)))
    radii = rng.uniform(0.01, 0.25, int(rng.integers(3, 40)))
    angles = np.linspace(0, 2 * math.pi, radii.size, endpoint=False)
    polygon = shapely.make_valid(
        shapely.Polygon(
            np.column_stack(
                (centre[0] + radii * np.cos(angles), centre[1] + radii * 0.5 * np.sin(angles))
            )
        )
    )
    plan = world.plan(polygon, bleed_m=bleed)

    reach = buffer_m(polygon, bleed)
    overlapping = {
        area_id
        for area_id, geometry in world.catalog.geometry.items()
        if geometry.intersects(polygon) and not geometry.touches(polygon)
    }
    expected = {
        device_id
        for device_id, (x, y, age) in locations.items()
        if age <= 24 and reach.covers(Point(x, y))
    }
    expected |= {d for d, subs in subscriptions.items() if overlapping & set(subs)}
    reached = set(ids(plan.topic_device_ids)) | set(ids(plan.token_device_ids))
    assert reached == expected
    assert not set(ids(plan.topic_device_ids)) & set(ids(plan.token_device_ids))


# -- the preview endpoint -------------------------------------------------------------------------


async def test_staff_preview_a_plan_per_ward(
    hue: Client, register: Register, staff: StaffFactory
) -> None:
    await register(hue, at=PHU_XUAN)
    await register(hue, at=PHU_XUAN)
    await register(hue, at=THUAN_AN, areas=["hue.vy-da"])
    issuer = await staff(hue, "lan", roles=["issuer"])
    operator = await staff(hue, "minh", roles=["operator"])
    phu_xuan = registry(hue).catalog.geometry[registry(hue).catalog.by_code["hue.phu-xuan"].id]
    flood = shapely.buffer(phu_xuan, 0.001)
    body = {"geometry": shapely.geometry.mapping(flood)}
    assert (await operator.post("/api/v1/targeting/preview", json=body)).status == 403
    response = await issuer.post("/api/v1/targeting/preview", json=body)
    assert response.status == 200, await response.text()
    summary = await response.json()
    assert summary["totals"]["by_topic"] == 2
    assert "'area-hue.phu-xuan' in topics" in summary["conditions"]
    ward = next(a for a in summary["areas"] if a["code"] == "hue.phu-xuan")
    assert (ward["coverage"], ward["by_topic"], ward["by_token"]) == ("whole", 2, 0)
    bad = await issuer.post(
        "/api/v1/targeting/preview",
        json={"geometry": {"type": "Polygon", "coordinates": [[[107, 16], [108, 17], [107, 16]]]}},
    )
    assert bad.status == 422
    assert "a ring needs at least 4" in (await bad.json())["error"]["message"]


async def test_the_token_route_resolves_to_tokens_and_languages(
    hue: Client, register: Register
) -> None:
    vi = await register(hue, at=PHU_XUAN)
    en = await register(hue, at=PHU_XUAN, language="en")
    catalog = registry(hue).catalog
    ward = catalog.geometry[catalog.by_code["hue.phu-xuan"].id]
    # A box over part of the ward: the ward is not wholly inside, so both go by token.
    minx, miny, maxx, maxy = ward.bounds
    box = shapely.box(minx, miny, (minx + maxx) / 2 + 0.01, maxy)
    plan = registry(hue).plan(box)
    assert plan.token_device_ids.size == 2
    targets = await registry(hue).push_targets(plan.token_device_ids)
    assert [(token, language) for _, token, language in targets] == [
        (vi["token"], "vi"),
        (en["token"], "en"),
    ]
