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
from exercises.population import spread
from exercises.report.cli import SourcesFactory, add_report_command
from exercises.scenario import ScenarioContext, load_scenario
from exercises.traffic import traffic

P = TypeVar("P", bound=argparse.ArgumentParser)
ContextFactory = Callable[[Config], ScenarioContext]


def add_commands(
    commands: argparse._SubParsersAction[P],
    context: ContextFactory,
    report: SourcesFactory | None = None,
) -> None:
    """Add `exercise check` (and `exercise report`, given the report's sources) to the `canhbao`
    command; `context` gives the stations and wards a scenario is checked against, `report`
    the after-action report's ports over a database (both built by the composition root)."""
    exercise = commands.add_parser("exercise", help="flood exercises: check a scenario")
    exercise.add_argument("--config", default=argparse.SUPPRESS, help="config file")
    actions = exercise.add_subparsers(dest="exercise_command", required=True, metavar="ACTION")
    check = actions.add_parser(
        "check",
        help="read and check a scenario file and say what it holds",
        description="The format: README, 'Exercises: writing a scenario';"
        " scenarios/hue-2025-11.toml is a full example.",
    )
    check.add_argument("scenario", type=Path, help="the scenario (.toml)")
    check.add_argument("--config", default=argparse.SUPPRESS, help="config file")
    check.set_defaults(run=lambda args, config: _check(args, config, context))
    if report is not None:
        add_report_command(actions, report)


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
