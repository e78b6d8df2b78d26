"""Simulated hotline traffic: calls and SMS over the exercise's flood time, at a base rate that
rises with the river (Hue-S's 1900 1075: 900 calls in two flood months of 2023, most when the
water was highest), each caller a person of the population with what they will do in the IVR;
the scenario's scripted entries are merged in. Pure and seeded."""

from __future__ import annotations

import bisect
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from exercises.models import Behaviour, Scenario, Vulnerability
from exercises.population import Person, pick

HOUR = timedelta(hours=1)
# What people in a flood type, with and without diacritics, as they do.
SOS_TEXTS = (
    "Cứu với, nhà tôi ở {ward} nước ngập tới mái, có {people} người",
    "cuu voi nha o {ward} nuoc len nhanh qua co {people} nguoi ket tren gac",
    "SOS {ward}: {people} nguoi, co nguoi gia, can thuyen",
    "Xin cứu hộ gấp, {ward}, {people} người đang trên mái nhà",
)


@dataclass(frozen=True)
class Contact:
    """One simulated call or SMS to the hotline."""

    at: datetime
    kind: Literal["call", "sms"]
    behaviour: Behaviour
    phone: str
    ward: str
    people: int = 1
    vulnerable: tuple[Vulnerability, ...] = ()
    text: str = ""
    scripted: bool = False


def water_share(scenario: Scenario) -> list[tuple[datetime, float]]:
    """The followed river's level across the flood as a share of its range in the scenario
    (0 at its lowest, 1 at its peak), oldest first."""
    points = sorted(
        (p.observed_at, p.value)
        for replay in scenario.replays
        for p in replay.points
        if p.station_id == scenario.calls.follows and p.value is not None
    )
    if not points:
        return []
    low = min(v for _, v in points)
    high = max(v for _, v in points)
    span = high - low
    return [(at, (v - low) / span if span > 0 else 0.0) for at, v in points]


def share_at(shares: Sequence[tuple[datetime, float]], moment: datetime) -> float:
    """Linear between recorded points; held flat before the first and after the last."""
    if not shares:
        return 0.0
    i = bisect.bisect_left(shares, (moment, -1.0))
    if i == 0:
        return shares[0][1]
    if i >= len(shares):
        return shares[-1][1]
    (t0, v0), (t1, v1) = shares[i - 1], shares[i]
    span = (t1 - t0).total_seconds()
    return v1 if span <= 0 else v0 + (v1 - v0) * (moment - t0).total_seconds() / span


def traffic(
    scenario: Scenario, people: Sequence[Person], ward_names: Mapping[str, str]
) -> tuple[Contact, ...]:
    """Every call and SMS of the exercise, in time order (scripted ones included); an SMS names
    its sender's ward as people write it."""
    rng = random.Random(scenario.seed + 1)  # noqa: S311  # a seeded simulation, no secret
    shares = water_share(scenario)
    found: list[Contact] = []
    calls = scenario.calls
    for kind, per_day in (("call", calls.per_day), ("sms", calls.sms_per_day)):
        peak = per_day / 24 * calls.peak_factor  # per hour, at the water's peak
        if peak <= 0 or not people:
            continue
        moment = scenario.start
        while True:
            # Thinning: candidates at the peak rate, each kept as often as the rate then allows.
            moment += HOUR * rng.expovariate(peak)
            if moment > scenario.end:
                break
            rate = per_day / 24 * (1 + (calls.peak_factor - 1) * share_at(shares, moment))
            if rng.random() * peak > rate:
                continue
            person = people[rng.randrange(len(people))]
            behaviour: Behaviour = (
                "rescue" if kind == "sms" else pick(rng, calls.mix, "information")
            )
            count = 1 + int(rng.expovariate(0.6)) if behaviour == "rescue" else 1
            found.append(
                Contact(
                    at=moment,
                    kind="call" if kind == "call" else "sms",
                    behaviour=behaviour,
                    phone=person.phone,
                    ward=person.ward,
                    people=min(count, 12),
                    vulnerable=person.vulnerable,
                    text=rng.choice(SOS_TEXTS).format(
                        ward=ward_names.get(person.ward, person.ward), people=min(count, 12)
                    )
                    if kind == "sms"
                    else "",
                )
            )
    for n, entry in enumerate(scenario.script):
        found.append(
            Contact(
                at=entry.at,
                kind=entry.kind,
                behaviour=entry.behaviour,
                phone=f"+8491{n:07d}",
                ward=entry.ward,
                people=entry.people,
                vulnerable=entry.vulnerable,
                text=entry.text,
                scripted=True,
            )
        )
    found.sort(key=lambda c: (c.at, c.phone))
    return tuple(found)
