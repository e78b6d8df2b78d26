"""The simulated population and hotline traffic: seeded (two runs meet the same people and the
same calls), spread by ward population with every point inside its ward, and calls that rise
with the river as the real hotline's did."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st

from canhbao.adapters.exercises import scenario_context
from exercises.models import Scenario
from exercises.population import allocate, spread
from exercises.scenario import ScenarioContext, load_scenario
from exercises.traffic import share_at, traffic, water_share
from tests.conftest import make_config

SHIPPED = Path(__file__).resolve().parents[2] / "scenarios" / "hue-2025-11.toml"


@pytest.fixture(scope="module")
def context() -> ScenarioContext:
    return scenario_context(make_config(Path("/nonexistent")))


@pytest.fixture(scope="module")
def scenario(context: ScenarioContext) -> Scenario:
    return load_scenario(SHIPPED, context)


@given(st.integers(0, 100_000), st.lists(st.integers(0, 200_000), min_size=1, max_size=50))
def test_allocation_adds_up_and_stays_within_one_of_the_exact_share(
    total: int, weights: list[int]
) -> None:
    parts = allocate(total, weights)

    if sum(weights) == 0:
        assert parts == [0] * len(weights)
        return
    assert sum(parts) == total
    for part, weight in zip(parts, weights, strict=True):
        assert abs(part - total * weight / sum(weights)) < 1


def test_people_live_inside_their_ward_in_proportion_to_its_population(
    context: ScenarioContext, scenario: Scenario
) -> None:
    people = spread(scenario.population, list(context.wards.values()), scenario.seed)

    assert len(people) == 2300
    assert len({p.id for p in people}) == len({p.phone for p in people}) == 2300
    by_ward = Counter(p.ward for p in people if p.kind == "device")
    # Phú Xuân holds 130,247 of Huế's 1,433,465 people: 9.1% of 2,000 devices.
    assert by_ward["hue.phu-xuan"] in (181, 182)
    for person in people[::50]:
        ward = context.wards[person.ward]
        shape = shapely.union_all([shapely.Polygon(ring) for ring in ward.outline])
        assert shape.contains(shapely.Point(person.lon, person.lat))
    english = sum(p.language == "en" for p in people) / len(people)
    assert 0.01 < english < 0.06
    children = sum("child" in p.vulnerable for p in people) / len(people)
    assert 0.14 < children < 0.22


def test_the_same_seed_makes_the_same_people_and_calls(
    context: ScenarioContext, scenario: Scenario
) -> None:
    wards = list(context.wards.values())
    names = {code: w.name for code, w in context.wards.items()}
    first = spread(scenario.population, wards, scenario.seed)
    again = spread(scenario.population, wards, scenario.seed)
    other = spread(scenario.population, wards, scenario.seed + 1)

    assert first == again
    assert first != other
    assert traffic(scenario, first, names) == traffic(scenario, again, names)


def test_calls_rise_with_the_river_and_the_script_is_merged_in_order(
    context: ScenarioContext, scenario: Scenario
) -> None:
    people = spread(scenario.population, list(context.wards.values()), scenario.seed)
    names = {code: w.name for code, w in context.wards.items()}
    contacts = traffic(scenario, people, names)
    shares = water_share(scenario)

    assert [c.at for c in contacts] == sorted(c.at for c in contacts)
    high = [c for c in contacts if c.kind == "call" and share_at(shares, c.at) > 0.7]
    low = [c for c in contacts if c.kind == "call" and share_at(shares, c.at) < 0.3]
    high_hours = sum(
        1 for h in range(72) if share_at(shares, scenario.start + timedelta(hours=h)) > 0.7
    )
    low_hours = sum(
        1 for h in range(72) if share_at(shares, scenario.start + timedelta(hours=h)) < 0.3
    )
    assert len(high) / high_hours > 3 * len(low) / low_hours
    scripted = [c for c in contacts if c.scripted]
    assert [c.at for c in scripted] == [s.at for s in scenario.script]
    sms = [c for c in contacts if c.kind == "sms" and not c.scripted]
    assert sms
    assert all("hue." not in c.text for c in sms)  # wards by their names, as people write
    assert {c.behaviour for c in contacts if c.kind == "call"} == {
        "rescue", "information", "operator", "hang_up"
    }  # fmt: skip
