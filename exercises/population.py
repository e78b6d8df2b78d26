"""The simulated population: app devices and phone-only contacts spread over the wards by their
population, each at a point inside its ward, with a language and vulnerable flags. Pure and
seeded: the same scenario makes the same people, so two runs can be compared."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

import numpy as np
import shapely

from exercises.models import (
    VULNERABILITIES,
    ExerciseWard,
    Language,
    Population,
    Vulnerability,
)

PersonKind = Literal["device", "phone_only"]
K = TypeVar("K")


@dataclass(frozen=True)
class Person:
    id: str  # "device-17", "phone-3": unique in the exercise
    kind: PersonKind
    ward: str
    lon: float
    lat: float
    language: Language
    phone: str  # the exercise's own number; only ever dialled through the Local providers
    vulnerable: tuple[Vulnerability, ...] = ()


def allocate(total: int, weights: Sequence[int]) -> list[int]:
    """`total` split in proportion to `weights` (largest remainders): the parts add up."""
    whole = sum(weights)
    if total <= 0 or whole <= 0:
        return [0] * len(weights)
    exact = [total * w / whole for w in weights]
    parts = [int(x) for x in exact]
    order = sorted(range(len(weights)), key=lambda i: (parts[i] - exact[i], i))
    for i in order[: total - sum(parts)]:
        parts[i] += 1
    return parts


def spread(population: Population, wards: Sequence[ExerciseWard], seed: int) -> tuple[Person, ...]:
    """Everyone the exercise simulates, devices first, in a stable order."""
    chosen = [w for w in wards if not population.wards or w.code in population.wards]
    chosen.sort(key=lambda w: w.code)
    rng = random.Random(seed)  # noqa: S311  # a seeded simulation, no secret
    points = np.random.default_rng(seed)
    people: list[Person] = []
    plan: tuple[tuple[PersonKind, int], ...] = (
        ("device", population.devices),
        ("phone_only", population.phone_only),
    )
    for kind, total in plan:
        counts = allocate(total, [w.population for w in chosen])
        for ward, count in zip(chosen, counts, strict=True):
            for lon, lat in _points_in(ward, count, points):
                n = len(people)
                people.append(
                    Person(
                        id=f"{'device' if kind == 'device' else 'phone'}-{n}",
                        kind=kind,
                        ward=ward.code,
                        lon=lon,
                        lat=lat,
                        language=pick(rng, population.languages, "vi"),
                        phone=f"+8490{n:07d}",
                        vulnerable=tuple(
                            flag
                            for flag in VULNERABILITIES
                            if rng.random() < population.vulnerable.get(flag, 0.0)
                        ),
                    )
                )
    return tuple(people)


def pick(rng: random.Random, shares: Mapping[K, float], default: K) -> K:
    """One key, drawn with the probability of its share (shares add up to 1)."""
    roll, total = rng.random(), 0.0
    last = default
    for key, share in shares.items():
        total += share
        last = key
        if roll < total:
            return key
    return last


def _points_in(
    ward: ExerciseWard, count: int, rng: np.random.Generator
) -> list[tuple[float, float]]:
    """`count` points uniformly inside the ward (rejection from its bounding box)."""
    if count <= 0:
        return []
    shape = shapely.union_all([shapely.Polygon(ring) for ring in ward.outline if len(ring) >= 4])
    if shape.is_empty:
        return []
    shapely.prepare(shape)
    west, south, east, north = shape.bounds
    found: list[tuple[float, float]] = []
    while len(found) < count:
        want = max(16, 2 * (count - len(found)))
        xs = rng.uniform(west, east, want)
        ys = rng.uniform(south, north, want)
        inside = shapely.contains_xy(shape, xs, ys)
        found.extend(zip(xs[inside].tolist(), ys[inside].tolist(), strict=True))
    return found[:count]
