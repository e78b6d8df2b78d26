"""A scenario: what an exercise replays and simulates. Frozen values, no I/O.

An exercise replays a real flood's readings through the whole service on its own accelerated
clock, with a simulated population, hotline traffic and rescue teams (issue #16). Times are
aware; the scenario file writes them in Asia/Ho_Chi_Minh.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

# What a simulated caller does once the IVR answers.
Behaviour = Literal["rescue", "information", "operator", "hang_up"]
BEHAVIOURS: tuple[Behaviour, ...] = ("rescue", "information", "operator", "hang_up")
Vulnerability = Literal["injured", "elderly", "child", "disabled", "pregnant"]
VULNERABILITIES: tuple[Vulnerability, ...] = ("injured", "elderly", "child", "disabled", "pregnant")
Language = Literal["vi", "en"]
# Hue-S's 1900 1075 took 900 calls in two flood months of 2023 (61 days): the default base rate.
CALLS_PER_DAY = 900 / 61
MAX_SPEED = 3600.0  # an hour of flood a second: past it the service's own jobs cannot keep up
MAX_PEOPLE = 1_000_000


@dataclass(frozen=True)
class ExerciseWard:
    """A ward as the exercise needs it: who lives there and its outline (lon, lat rings)."""

    code: str
    name: str
    population: int
    outline: tuple[tuple[tuple[float, float], ...], ...]


@dataclass(frozen=True)
class ReplayPoint:
    station_id: str
    observed_at: datetime
    value: float | None
    parameter: str = "water_level"  # feeds' parameter name


@dataclass(frozen=True)
class Replay:
    """Recorded readings to play: a CSV in the replay format and the stations taken from it."""

    file: Path
    stations: tuple[str, ...]
    points: tuple[ReplayPoint, ...] = ()


@dataclass(frozen=True)
class Population:
    devices: int  # phones with the app
    phone_only: int  # contacts reached by SMS and voice only
    languages: Mapping[Language, float]  # shares, summing to 1
    vulnerable: Mapping[Vulnerability, float]  # share of people with each flag
    wards: tuple[str, ...] = ()  # empty: every ward, by its population


@dataclass(frozen=True)
class Calls:
    """Hotline traffic: a base rate that rises with the river at `follows`."""

    per_day: float = CALLS_PER_DAY
    peak_factor: float = 8.0  # the rate at the river's peak, as a multiple of the base
    follows: str = ""  # the station whose level drives the rate ("" : the first replayed)
    mix: Mapping[Behaviour, float] = field(default_factory=dict)
    sms_per_day: float = 3.0
    # A caller who waits longer than this in the queue hangs up (then must be called back).
    patience_s: float = 120.0


@dataclass(frozen=True)
class Team:
    id: str
    name: str
    lat: float
    lon: float
    capabilities: tuple[str, ...]
    capacity: int = 1
    answers_after_s: float | None = 60.0  # None: never answers an offer
    declines: float = 0.0  # share of offers it declines
    travel_kmh: float = 8.0  # a boat in a flooded street


@dataclass(frozen=True)
class Scripted:
    """One thing that happens at a set time: a call or an SMS with a known story."""

    at: datetime
    kind: Literal["call", "sms"]
    ward: str
    behaviour: Behaviour = "rescue"
    people: int = 1
    vulnerable: tuple[Vulnerability, ...] = ()
    text: str = ""  # an SMS's body


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    start: datetime
    end: datetime
    speed: float  # flood seconds per wall second
    seed: int
    replays: tuple[Replay, ...]
    population: Population
    calls: Calls
    teams: tuple[Team, ...]
    script: tuple[Scripted, ...] = ()
    description: str = ""

    @property
    def flood_time(self) -> timedelta:
        return self.end - self.start

    @property
    def wall_time(self) -> timedelta:
        """How long the exercise takes at its speed."""
        return self.flood_time / self.speed
