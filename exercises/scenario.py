"""Reading a scenario file (TOML): every value checked, refused as a whole before anything
starts, the refusal naming the file and line (exercises.tomllines). The format is documented
in README ("Exercises", "Writing a scenario") and shown by scenarios/hue-2025-11.toml."""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, NoReturn, TypeVar, cast

from canhbao.clock import LOCAL_TZ
from exercises.errors import ExerciseError, ScenarioInvalid
from exercises.models import (
    BEHAVIOURS,
    CALLS_PER_DAY,
    MAX_PEOPLE,
    MAX_SPEED,
    VULNERABILITIES,
    Behaviour,
    Calls,
    ExerciseWard,
    Language,
    Population,
    Replay,
    ReplayPoint,
    Scenario,
    Scripted,
    Team,
    Vulnerability,
)
from exercises.tomllines import Path as KeyPath
from exercises.tomllines import key_line

MAX_BYTES = 1_000_000
_TOML_PLACE = re.compile(r"\s*\(at line (\d+), column \d+\)")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# Vietnam with its islands, as (south, west, north, east).
VIETNAM = (8.0, 102.0, 23.5, 118.0)
DEFAULT_MIX: Mapping[Behaviour, float] = {
    "rescue": 0.35,
    "information": 0.40,
    "operator": 0.15,
    "hang_up": 0.10,
}
T = TypeVar("T")


@dataclass(frozen=True)
class ScenarioContext:
    """What a scenario is checked against: the service's stations and wards, and a reader of
    replay files (feeds' parser, joined in the composition root)."""

    stations: Collection[str]
    wards: Mapping[str, ExerciseWard]
    read_replay: Callable[[Path], Sequence[ReplayPoint]]


def load_scenario(path: Path, context: ScenarioContext) -> Scenario:
    """Read and check the scenario at `path`; its replay files are relative to it."""
    source = str(path)
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_BYTES + 1)
    except OSError as err:
        raise ScenarioInvalid(source, None, f"cannot read: {err.strerror or err}") from err
    if len(raw) > MAX_BYTES:
        raise ScenarioInvalid(source, None, f"larger than {MAX_BYTES:,} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ScenarioInvalid(source, None, "not UTF-8 text") from err
    return parse_scenario(text, source, path.parent, context)


def parse_scenario(text: str, source: str, base_dir: Path, context: ScenarioContext) -> Scenario:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        # Python 3.11 keeps the place only in the message: "... (at line 20, column 9)".
        message = str(err.args[0]) if err.args else "unreadable"
        place = _TOML_PLACE.search(message)
        line = int(place.group(1)) if place else None
        reason = _TOML_PLACE.sub("", message).strip()
        raise ScenarioInvalid(source, line, f"not valid TOML: {reason}") from err
    return _Reader(text, source, base_dir, context).scenario(document)


class _Reader:
    def __init__(self, text: str, source: str, base_dir: Path, context: ScenarioContext) -> None:
        self.text = text
        self.source = source
        self.base_dir = base_dir
        self.context = context

    def fail(self, path: KeyPath, reason: str) -> NoReturn:
        raise ScenarioInvalid(self.source, key_line(self.text, path), reason)

    # -- sections ----------------------------------------------------------------------------

    def scenario(self, document: dict[str, Any]) -> Scenario:
        top = self.table(
            document, (), {"exercise", "replay", "population", "calls", "teams", "script"}
        )
        head = self.table(
            top.get("exercise"),
            ("exercise",),
            {"name", "title", "description", "start", "end", "speed", "seed"},
        )
        name = self.identifier(head, ("exercise", "name"))
        start = self.moment(head, ("exercise", "start"))
        end = self.moment(head, ("exercise", "end"))
        if end <= start:
            self.fail(("exercise", "end"), "end must come after start")
        speed = self.number(
            head, ("exercise", "speed"), 60.0, low=0.0, high=MAX_SPEED, open_low=True
        )
        replays = self.replays(top.get("replay"), start, end)
        replayed = [station for replay in replays for station in replay.stations]
        return Scenario(
            name=name,
            title=self.text_value(head, ("exercise", "title"), name),
            description=self.text_value(head, ("exercise", "description"), ""),
            start=start,
            end=end,
            speed=speed,
            seed=int(self.number(head, ("exercise", "seed"), 0, low=0, high=2**31, integer=True)),
            replays=replays,
            population=self.population(top.get("population", {})),
            calls=self.calls(top.get("calls", {}), replayed),
            teams=self.teams(top.get("teams", [])),
            script=self.script(top.get("script", []), start, end),
        )

    def replays(self, raw: Any, start: datetime, end: datetime) -> tuple[Replay, ...]:
        items = self.array(raw, ("replay",), required=True)
        found: list[Replay] = []
        seen: set[str] = set()
        for i, item in enumerate(items):
            at = ("replay", i)
            table = self.table(item, at, {"file", "stations"})
            file_text = self.text_value(table, (*at, "file"), None)
            file = (self.base_dir / file_text).resolve()
            stations = self.strings(table, (*at, "stations"), required=True)
            for j, station in enumerate(stations):
                if station not in self.context.stations:
                    self.fail((*at, "stations"), f"unknown station {station!r} (stations[{j}])")
                if station in seen:
                    self.fail((*at, "stations"), f"station {station!r} is replayed twice")
                seen.add(station)
            try:
                points = self.context.read_replay(file)
            except ExerciseError as err:
                self.fail((*at, "file"), f"{file_text}: {err}")
            wanted = set(stations)
            kept = tuple(
                p for p in points if p.station_id in wanted and start <= p.observed_at <= end
            )
            for station in stations:
                if not any(p.station_id == station for p in kept):
                    self.fail(
                        (*at, "stations"),
                        f"{file_text} holds no reading of {station!r} between start and end",
                    )
            found.append(Replay(file, tuple(stations), kept))
        return tuple(found)

    def population(self, raw: Any) -> Population:
        at = ("population",)
        table = self.table(raw, at, {"devices", "phone_only", "languages", "vulnerable", "wards"})
        languages = self.shares(
            table.get("languages", {"vi": 1.0}), (*at, "languages"), ("vi", "en")
        )
        if not math.isclose(sum(languages.values()), 1.0, abs_tol=1e-6):
            self.fail((*at, "languages"), "the language shares must add up to 1")
        vulnerable = self.shares(table.get("vulnerable", {}), (*at, "vulnerable"), VULNERABILITIES)
        wards = self.strings(table, (*at, "wards"))
        for code in wards:
            if code not in self.context.wards:
                self.fail((*at, "wards"), f"unknown ward {code!r}")
        return Population(
            devices=int(
                self.number(table, (*at, "devices"), 1000, low=0, high=MAX_PEOPLE, integer=True)
            ),
            phone_only=int(
                self.number(table, (*at, "phone_only"), 100, low=0, high=MAX_PEOPLE, integer=True)
            ),
            languages=cast(Mapping[Language, float], languages),
            vulnerable=cast(Mapping[Vulnerability, float], vulnerable),
            wards=tuple(wards),
        )

    def calls(self, raw: Any, replayed: Sequence[str]) -> Calls:
        at = ("calls",)
        table = self.table(
            raw, at, {"per_day", "peak_factor", "follows", "mix", "sms_per_day", "patience_s"}
        )
        follows = self.text_value(table, (*at, "follows"), replayed[0] if replayed else "")
        if follows not in replayed:
            self.fail((*at, "follows"), f"{follows!r} is not a replayed station")
        mix = self.shares(table.get("mix", DEFAULT_MIX), (*at, "mix"), BEHAVIOURS)
        if not math.isclose(sum(mix.values()), 1.0, abs_tol=1e-6):
            self.fail((*at, "mix"), "the behaviour shares must add up to 1")
        return Calls(
            per_day=self.number(table, (*at, "per_day"), CALLS_PER_DAY, low=0, high=100_000),
            peak_factor=self.number(table, (*at, "peak_factor"), 8.0, low=1, high=1000),
            follows=follows,
            mix=cast(Mapping[Behaviour, float], mix),
            sms_per_day=self.number(table, (*at, "sms_per_day"), 3.0, low=0, high=100_000),
            patience_s=self.number(
                table, (*at, "patience_s"), 120.0, low=0, high=3600, open_low=True
            ),
        )

    def teams(self, raw: Any) -> tuple[Team, ...]:
        found: list[Team] = []
        for i, item in enumerate(self.array(raw, ("teams",))):
            at = ("teams", i)
            table = self.table(
                item,
                at,
                {
                    "id",
                    "name",
                    "base",
                    "capabilities",
                    "capacity",
                    "answers_after_s",
                    "never_answers",
                    "declines",
                    "travel_kmh",
                },
            )
            team_id = self.identifier(table, (*at, "id"))
            if any(team.id == team_id for team in found):
                self.fail((*at, "id"), f"team id {team_id!r} is used twice")
            base = table.get("base")
            if not (
                isinstance(base, list)
                and len(base) == 2
                and all(isinstance(v, int | float) and not isinstance(v, bool) for v in base)
            ):
                self.fail((*at, "base"), "base must be [latitude, longitude]")
            lat, lon = float(base[0]), float(base[1])
            south, west, north, east = VIETNAM
            if not (south <= lat <= north and west <= lon <= east):
                self.fail((*at, "base"), f"[{lat}, {lon}] is outside Vietnam (is it [lat, lon]?)")
            capabilities = self.strings(table, (*at, "capabilities"), required=True)
            never = table.get("never_answers", False)
            if not isinstance(never, bool):
                self.fail((*at, "never_answers"), "must be true or false")
            answers = self.number(table, (*at, "answers_after_s"), 60.0, low=0, high=86_400)
            found.append(
                Team(
                    id=team_id,
                    name=self.text_value(table, (*at, "name"), team_id),
                    lat=lat,
                    lon=lon,
                    capabilities=tuple(capabilities),
                    capacity=int(
                        self.number(table, (*at, "capacity"), 1, low=1, high=100, integer=True)
                    ),
                    answers_after_s=None if never else answers,
                    declines=self.number(table, (*at, "declines"), 0.0, low=0, high=1),
                    travel_kmh=self.number(
                        table, (*at, "travel_kmh"), 8.0, low=0, high=200, open_low=True
                    ),
                )
            )
        return tuple(found)

    def script(self, raw: Any, start: datetime, end: datetime) -> tuple[Scripted, ...]:
        found: list[Scripted] = []
        for i, item in enumerate(self.array(raw, ("script",))):
            at = ("script", i)
            table = self.table(
                item, at, {"at", "kind", "ward", "behaviour", "people", "vulnerable", "text"}
            )
            moment = self.moment(table, (*at, "at"))
            if not start <= moment <= end:
                self.fail((*at, "at"), "outside the exercise's start and end")
            if found and moment < found[-1].at:
                self.fail(
                    (*at, "at"),
                    "time goes backwards: each entry must come at or after the one before",
                )
            kind = self.choice(table, (*at, "kind"), ("call", "sms"), "call")
            ward = self.text_value(table, (*at, "ward"), None)
            if ward not in self.context.wards:
                self.fail((*at, "ward"), f"unknown ward {ward!r}")
            vulnerable = self.strings(table, (*at, "vulnerable"))
            for flag in vulnerable:
                if flag not in VULNERABILITIES:
                    self.fail(
                        (*at, "vulnerable"),
                        f"unknown flag {flag!r}; one of {', '.join(VULNERABILITIES)}",
                    )
            text = self.text_value(table, (*at, "text"), "")
            if kind == "sms" and not text.strip():
                self.fail((*at, "text"), "an SMS needs its text")
            found.append(
                Scripted(
                    at=moment,
                    kind=cast(Any, kind),
                    ward=ward,
                    behaviour=cast(
                        Behaviour, self.choice(table, (*at, "behaviour"), BEHAVIOURS, "rescue")
                    ),
                    people=int(
                        self.number(table, (*at, "people"), 1, low=1, high=1000, integer=True)
                    ),
                    vulnerable=cast(tuple[Vulnerability, ...], tuple(vulnerable)),
                    text=text,
                )
            )
        return tuple(found)

    # -- values ------------------------------------------------------------------------------

    def table(self, raw: Any, at: KeyPath, allowed: set[str]) -> dict[str, Any]:
        if raw is None:
            self.fail(at, f"missing [{'.'.join(map(str, at))}]")
        if not isinstance(raw, dict):
            self.fail(at, "must be a table")
        for key in raw:
            if key not in allowed:
                self.fail((*at, key), f"unknown key {key!r}; known: {', '.join(sorted(allowed))}")
        return cast(dict[str, Any], raw)

    def array(self, raw: Any, at: KeyPath, *, required: bool = False) -> list[Any]:
        if raw is None or raw == []:
            if required:
                self.fail(at, f"at least one [[{'.'.join(map(str, at))}]] is needed")
            return []
        if not isinstance(raw, list):
            self.fail(at, f"must be an array of tables ([[{'.'.join(map(str, at))}]])")
        return raw

    def text_value(self, table: Mapping[str, Any], at: KeyPath, default: str | None) -> str:
        value = table.get(str(at[-1]), default)
        if value is None:
            self.fail(at, f"{at[-1]} is required")
        if (
            not isinstance(value, str)
            or len(value) > 2000
            or any(ord(c) < 32 and c not in "\n\t" for c in value)
        ):
            self.fail(at, "must be text (at most 2,000 characters, no control characters)")
        return value

    def identifier(self, table: Mapping[str, Any], at: KeyPath) -> str:
        value = self.text_value(table, at, None)
        if not _ID.match(value):
            self.fail(at, f"{value!r}: letters, digits, _ . - (at most 64)")
        return value

    def choice(
        self, table: Mapping[str, Any], at: KeyPath, allowed: Sequence[str], default: str
    ) -> str:
        value = self.text_value(table, at, default)
        if value not in allowed:
            self.fail(at, f"{value!r}: one of {', '.join(allowed)}")
        return value

    def number(
        self,
        table: Mapping[str, Any],
        at: KeyPath,
        default: float,
        *,
        low: float,
        high: float,
        open_low: bool = False,
        integer: bool = False,
    ) -> float:
        value = table.get(str(at[-1]), default)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or (integer and not isinstance(value, int))
        ):
            self.fail(at, f"{at[-1]} must be {'a whole number' if integer else 'a number'}")
        if not math.isfinite(value) or value > high or value < low or (open_low and value == low):
            bound = f"over {low:g}" if open_low else f"at least {low:g}"
            self.fail(at, f"{at[-1]} = {value}: must be {bound} and at most {high:g}")
        return float(value)

    def strings(
        self, table: Mapping[str, Any], at: KeyPath, *, required: bool = False
    ) -> list[str]:
        value = table.get(str(at[-1]), [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.fail(at, f"{at[-1]} must be a list of texts")
        if required and not value:
            self.fail(at, f"{at[-1]} needs at least one entry")
        return cast(list[str], value)

    def shares(self, raw: Any, at: KeyPath, allowed: Sequence[str]) -> dict[str, float]:
        if not isinstance(raw, dict):
            self.fail(at, "must be a table of shares, e.g. { vi = 0.95, en = 0.05 }")
        found: dict[str, float] = {}
        for key in raw:
            if key not in allowed:
                self.fail(at, f"unknown key {key!r}; one of {', '.join(allowed)}")
            found[key] = self.number(raw, (*at, key), 0.0, low=0.0, high=1.0)
        return found

    def moment(self, table: Mapping[str, Any], at: KeyPath) -> datetime:
        """A TOML date-time; without an offset it is Asia/Ho_Chi_Minh's wall time."""
        value = table.get(str(at[-1]))
        if isinstance(value, date) and not isinstance(value, datetime):
            value = datetime.combine(value, time())
        if not isinstance(value, datetime):
            self.fail(at, f"{at[-1]} must be a date-time, e.g. 2025-11-13T07:00:00+07:00")
        if value.tzinfo is None:
            value = value.replace(tzinfo=LOCAL_TZ)
        return value.astimezone(UTC)
