"""`canhbao exercise check SCENARIO`: read and check a scenario as a run would, and say what it
holds (flood time, wall time at its speed, readings, people, calls, teams) — or refuse it in one
line naming the file and line, exit 2."""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from canhbao.clock import to_local
from canhbao.config import Config
from exercises.errors import ExerciseError
from exercises.models import Scenario
from exercises.population import spread
from exercises.report.cli import SourcesFactory, add_report_command
from exercises.runner import check_speed
from exercises.scenario import ScenarioContext, load_scenario
from exercises.traffic import traffic

P = TypeVar("P", bound=argparse.ArgumentParser)
ContextFactory = Callable[[Config], ScenarioContext]
# Serves and plays a checked scenario (canhbao.adapters.exercise_mode, joined by the
# composition root): (config, scenario, context, speed, port) → exit code.
RunExercise = Callable[[Config, Scenario, ScenarioContext, float, int], int]


def add_commands(
    commands: argparse._SubParsersAction[P],
    context: ContextFactory,
    report: SourcesFactory | None = None,
    run: RunExercise | None = None,
) -> None:
    """Add `exercise check` (and `exercise report`, given the report's sources, and `exercise
    run`, given `run`) to the `canhbao` command; `context` gives the stations and wards a
    scenario is checked against, `report` the after-action report's ports over a database
    (all built by the composition root)."""
    exercise = commands.add_parser("exercise", help="flood exercises: check, run, report")
    exercise.add_argument("--config", default=argparse.SUPPRESS, help="config file")
    actions = exercise.add_subparsers(dest="exercise_command", required=True, metavar="ACTION")
    check = actions.add_parser(
        "check",
        help="read and check a scenario file and say what it holds",
        description="The format: README, 'Exercises', 'Writing a scenario';"
        " scenarios/hue-2025-11.toml is a full example.",
    )
    check.add_argument("scenario", type=Path, help="the scenario (.toml)")
    check.add_argument("--config", default=argparse.SUPPRESS, help="config file")
    check.set_defaults(run=lambda args, config: _check(args, config, context))
    if report is not None:
        add_report_command(actions, report)
    if run is None:
        return
    start = actions.add_parser(
        "run",
        help="run a scenario as an isolated exercise (own database, port and clock)",
        description="Serves the service in exercise mode on its own port, with its own database"
        " (var/exercises/), the Local push and telephony providers and an accelerated clock, and"
        " plays the scenario: readings, simulated callers, SMS and rescue teams. Staff log in with"
        " their own accounts. Ctrl-C stops it. README, 'Exercises'.",
    )
    start.add_argument("scenario", type=Path, help="the scenario (.toml)")
    start.add_argument(
        "--speed", type=float, default=None, help="flood seconds a second (default: the scenario's)"
    )
    start.add_argument("--port", type=int, default=8090, help="the exercise's port (default 8090)")
    start.add_argument("--config", default=argparse.SUPPRESS, help="config file")
    start.set_defaults(run=lambda args, config: _run(args, config, context, run))


def _run(
    args: argparse.Namespace, config: Config, context: ContextFactory, run: RunExercise
) -> int:
    built = context(config)
    scenario = load_scenario(args.scenario, built)
    speed = scenario.speed if args.speed is None else check_speed(args.speed)
    if not 0 < args.port < 65536:
        raise ExerciseError(f"--port {args.port}: a port from 1 to 65535")
    return run(config, scenario, built, speed, args.port)


def _check(args: argparse.Namespace, config: Config, context: ContextFactory) -> int:
    built = context(config)
    scenario = load_scenario(args.scenario, built)
    people = spread(scenario.population, list(built.wards.values()), scenario.seed)
    names = {code: ward.name for code, ward in built.wards.items()}
    contacts = traffic(scenario, people, names)
    behaviours = Counter(c.behaviour for c in contacts if c.kind == "call")
    readings = sum(len(replay.points) for replay in scenario.replays)
    stations = ", ".join(s for replay in scenario.replays for s in replay.stations)
    lines = [
        f"{scenario.name}: {scenario.title}",
        f"  flood time  {to_local(scenario.start):%Y-%m-%d %H:%M} → "
        f"{to_local(scenario.end):%Y-%m-%d %H:%M} (+07:00), {_hours(scenario.flood_time)}",
        f"  at {scenario.speed:g}×  {_hours(scenario.wall_time)} of wall time",
        f"  replay      {readings:,} readings of {stations}",
        f"  people      {scenario.population.devices:,} app devices,"
        f" {scenario.population.phone_only:,} phone-only contacts",
        f"  hotline     {sum(behaviours.values()):,} calls ("
        + ", ".join(f"{k} {v}" for k, v in sorted(behaviours.items()))
        + f"), {sum(1 for c in contacts if c.kind == 'sms'):,} SMS,"
        f" {sum(1 for c in contacts if c.scripted)} scripted",
        f"  teams       {len(scenario.teams)}"
        f" ({sum(1 for t in scenario.teams if t.answers_after_s is None)} never answer)",
    ]
    print("\n".join(lines))  # noqa: T201  # the command's report
    return 0


def _hours(span: timedelta) -> str:
    minutes = round(span.total_seconds() / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min"
