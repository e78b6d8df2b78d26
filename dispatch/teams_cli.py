"""`canhbao teams import FILE [--dry-run]`: a CSV or GeoJSON roster of rescue teams, checked as a
whole (nothing is written if one team is wrong), then created or updated by name, audited as
cli:<user>. A running service reads the teams from the database: no restart needed."""

from __future__ import annotations

import argparse
import asyncio
import getpass
from pathlib import Path
from typing import TypeVar

from canhbao.clock import SystemClock
from canhbao.config import Config
from canhbao.db import Database
from canhbao.errors import CanhbaoError
from dispatch.teams_import import MAX_BYTES, Roster, RosterRefused, read_roster
from dispatch.teams_service import ImportResult, Teams

P = TypeVar("P", bound=argparse.ArgumentParser)


class RosterImportFailed(CanhbaoError):
    """The roster could not be imported; the message says why (and which line or feature)."""


def add_commands(commands: argparse._SubParsersAction[P]) -> None:
    """Add `teams import` to the `canhbao` command's subcommands."""
    teams = commands.add_parser("teams", help="rescue teams: import a roster")
    teams.add_argument("--config", default=argparse.SUPPRESS, help="config file")
    actions = teams.add_subparsers(dest="teams_command", required=True, metavar="ACTION")
    importing = actions.add_parser(
        "import",
        help="import a CSV or GeoJSON roster (teams named in it are created or replaced)",
        description="CSV columns: name, base_lat, base_lon (required), capabilities"
        " ('boat;medical'), capacity, ward_codes ('hue.phu-hoi;hue.vy-da'), on_duty (yes/no),"
        " members ('Nguyễn Văn An:0905123456;…'), push_token. GeoJSON: a FeatureCollection"
        " with the same properties; a Point geometry is the base, a Polygon the coverage.",
    )
    importing.add_argument("file", type=Path, help="the roster (.csv, .geojson or .json)")
    importing.add_argument(
        "--dry-run", action="store_true", help="check and report, but store nothing"
    )
    importing.add_argument("--config", default=argparse.SUPPRESS, help="config file")
    importing.set_defaults(run=_import)


def _import(args: argparse.Namespace, config: Config) -> int:
    path: Path = args.file
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise RosterImportFailed(f"{path}: {size:,} bytes, over {MAX_BYTES >> 20} MB")
        raw = path.read_bytes()
    except OSError as err:
        raise RosterImportFailed(f"{path}: {err.strerror}") from None
    try:
        roster = read_roster(raw, path.name)
    except RosterRefused as err:
        raise RosterImportFailed(f"{path}: {err}") from None
    if args.dry_run:
        print(f"{path}: {len(roster.teams)} teams, all valid (dry run: nothing stored)")  # noqa: T201  # command output
        return 0
    result = asyncio.run(_store(config, roster))
    print(  # noqa: T201  # command output
        f"{path}: {len(result.created)} teams created, {len(result.updated)} updated"
    )
    return 0


async def _store(config: Config, roster: Roster) -> ImportResult:
    from canhbao.app import all_migrations  # the app imports every domain; only needed here

    db = Database(config.resolve(config.database.path), config.database.busy_timeout_ms)
    await db.open()
    try:
        await db.migrate(all_migrations())
        teams = Teams(db, SystemClock(), config.auth)
        return await teams.import_roster(roster, actor=f"cli:{getpass.getuser()}")
    finally:
        await db.close()
