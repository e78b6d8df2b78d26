"""`canhbao areas import FILE --name-property P [--repair]` and `canhbao areas load-hue`.

The commands only write the areas (audited as cli:<user>); a running service notices the new
areas revision within `geofences.areas_refresh_interval_s` (seconds) and moves devices into
them, and a service started later does so at start.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
from pathlib import Path
from typing import Any, TypeVar

from canhbao.clock import SystemClock
from canhbao.config import Config
from canhbao.db import Database
from canhbao.errors import CanhbaoError
from geofences.area_sync import save_import
from geofences.areas import ImportOptions, ImportPlan, prepare_import, read_document
from geofences.errors import GeofenceError
from geofences.seed import HUE_OPTIONS, HUE_WARDS, hue_options

__all__ = ["HUE_OPTIONS", "HUE_WARDS", "add_commands"]

P = TypeVar("P", bound=argparse.ArgumentParser)


class AreaImportFailed(CanhbaoError):
    """The file could not be imported; the message says why (and which feature)."""


def add_commands(commands: argparse._SubParsersAction[P]) -> None:
    """Add `areas import` and `areas load-hue` to the `canhbao` command's subcommands."""
    areas = commands.add_parser("areas", help="import warning areas (wards, zones) from GeoJSON")
    _config_option(areas)
    area_commands = areas.add_subparsers(dest="areas_command", required=True, metavar="ACTION")

    importing = area_commands.add_parser(
        "import", help="import a GeoJSON FeatureCollection, Feature, Polygon or MultiPolygon"
    )
    importing.add_argument("file", type=Path, help="the GeoJSON file")
    importing.add_argument("--name-property", help="the feature property holding each area's name")
    importing.add_argument("--name", help="the area's name, for a single unnamed geometry")
    importing.add_argument(
        "--code-property", help="property holding each area's code (default: from the name)"
    )
    importing.add_argument("--code", help="the area's code, for a single geometry")
    importing.add_argument("--population-property", help="property holding the population")
    importing.add_argument(
        "--parent-property",
        help="group features under parent areas named by this property (e.g. the province),"
        " created as the union of their children",
    )
    importing.add_argument("--parent", help="code of an existing area to import under")
    importing.add_argument(
        "--repair",
        action="store_true",
        help="repair invalid geometry with make_valid and report what changed"
        " (without it, invalid geometry is refused with the reason)",
    )
    importing.add_argument(
        "--dry-run", action="store_true", help="check and report, but store nothing"
    )
    _config_option(importing)
    importing.set_defaults(run=_import)

    hue = area_commands.add_parser(
        "load-hue", help="import Huế's 40 wards (shipped with canhbao) under the city 'hue'"
    )
    _config_option(hue)
    hue.set_defaults(run=_load_hue)


def _config_option(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: when not given here, the top-level --config (or its default) stands.
    parser.add_argument("--config", default=argparse.SUPPRESS, help="config file")


def _import(args: argparse.Namespace, config: Config) -> int:
    settings = config.geofences
    options = ImportOptions(
        name_property=args.name_property,
        code_property=args.code_property,
        population_property=args.population_property,
        parent_property=args.parent_property,
        parent_code=args.parent,
        name=args.name,
        code=args.code,
        repair=args.repair,
        max_vertices=settings.max_import_vertices,
        outline_max_points=settings.outline_max_points,
    )
    return _run(config, args.file, options, dry_run=args.dry_run)


def _load_hue(args: argparse.Namespace, config: Config) -> int:
    return _run(config, HUE_WARDS, hue_options(config.geofences), dry_run=False)


def _run(config: Config, path: Path, options: ImportOptions, *, dry_run: bool) -> int:
    settings = config.geofences
    try:
        size = path.stat().st_size
    except OSError as err:
        raise AreaImportFailed(f"{path}: {err.strerror}") from None
    if size > settings.max_import_bytes:
        raise AreaImportFailed(
            f"{path}: {size:,} bytes, over geofences.max_import_bytes"
            f" ({settings.max_import_bytes:,})"
        )
    try:
        plan = prepare_import(read_document(path.read_bytes(), settings.max_import_bytes), options)
    except GeofenceError as err:
        raise AreaImportFailed(f"{path}: {err}") from None
    report = plan.report()
    if not dry_run:
        try:
            added, updated = asyncio.run(_store(config, plan, path.name))
        except LookupError as err:
            raise AreaImportFailed(f"--parent {err.args[0]}: no area has this code") from None
        report.update(added=added, updated=updated)
    _print_report(path, report, dry_run)
    if not dry_run:
        print(  # noqa: T201  # command output
            "a running service serves them within"
            f" {config.geofences.areas_refresh_interval_s:g} s"
            " (geofences.areas_refresh_interval_s); one started later, at once"
        )
    return 0


async def _store(config: Config, plan: ImportPlan, source: str) -> tuple[int, int]:
    from canhbao.app import all_migrations  # the app imports every domain; only needed here

    clock = SystemClock()
    db = Database(config.resolve(config.database.path), config.database.busy_timeout_ms)
    await db.open()
    try:
        await db.migrate(all_migrations())
        async with db.transaction() as conn:
            added, updated = await save_import(
                conn,
                plan,
                topic_prefix=config.geofences.topic_prefix,
                source=source,
                actor=f"cli:{getpass.getuser()}",
                now=clock.now(),
            )
    finally:
        await db.close()
    return added, updated


def _print_report(path: Path, report: dict[str, Any], dry_run: bool) -> None:
    verb = "checked" if dry_run else "imported"
    counts = "" if dry_run else f" ({report['added']} new, {report['updated']} updated)"
    lines = [
        f"{verb} {report['areas']} areas from {path.name}{counts}, {report['vertices']:,} vertices"
    ]
    lines += [f"repaired: {line}" for line in report["repairs"]]
    lines += [f"note: {line}" for line in report["notes"]]
    print("\n".join(lines))  # noqa: T201  # command output
