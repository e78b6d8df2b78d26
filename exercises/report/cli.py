"""`canhbao exercise report --database PATH [--from T --to T] [--compare OLD.json] --out DIR`:
the after-action report of any canhbao database (an exercise's or the service's) for a window,
as report.json, report.html and report.pdf. Bad input exits 2 with one line."""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from canhbao.clock import SystemClock
from canhbao.config import Config
from canhbao.db import Database
from exercises.report.models import ReportError, Window
from exercises.report.pdf import CHROMIUM
from exercises.report.ports import ReportSources
from exercises.report.service import (
    Written,
    choose_window,
    parse_time,
    read_previous,
    write_report,
)

P = TypeVar("P", bound=argparse.ArgumentParser)
SourcesFactory = Callable[[Database], ReportSources]


def add_report_command(actions: argparse._SubParsersAction[P], sources: SourcesFactory) -> None:
    report = actions.add_parser(
        "report",
        help="the after-action report of a database over a window (JSON, HTML, PDF)",
        description="Times without an offset are Vietnam's (+07:00). Without --from/--to: from"
        " the first to the last river reading held (at most 31 days).",
    )
    report.add_argument("--database", type=Path, required=True, help="the SQLite file")
    report.add_argument("--from", dest="start", help="ISO-8601 start (default: first reading)")
    report.add_argument("--to", dest="end", help="ISO-8601 end (default: last reading)")
    report.add_argument("--compare", type=Path, help="a previous run's report.json")
    report.add_argument("--out", type=Path, required=True, help="folder to write into")
    report.add_argument("--title", default="", help="the report's title")
    report.add_argument("--no-pdf", action="store_true", help="JSON and HTML only")
    report.add_argument("--chromium", type=Path, default=CHROMIUM, help="Chromium for the PDF")
    report.add_argument("--config", default=argparse.SUPPRESS, help="config file")
    report.set_defaults(run=lambda args, config: _report(args, config, sources))


def _report(args: argparse.Namespace, config: Config, sources: SourcesFactory) -> int:
    # What was typed is checked before the database is opened.
    start, end = (
        parse_time(t, n) if t else None for t, n in ((args.start, "from"), (args.end, "to"))
    )
    if start is not None and end is not None:
        Window(start, end)
    if not args.database.is_file():
        raise ReportError(f"{args.database}: no such database file")
    previous = read_previous(args.compare) if args.compare else None
    written = asyncio.run(_write(args, config, sources, previous))
    for path in (written.json, written.html, written.pdf):
        if path is not None:
            print(path)  # noqa: T201  # the command's output: what it wrote
    return 0


async def _write(
    args: argparse.Namespace, config: Config, sources: SourcesFactory, previous: object
) -> Written:
    db = Database(args.database, config.database.busy_timeout_ms)
    await db.open()
    try:
        built = sources(db)
        window = await choose_window(built, SystemClock(), args.start, args.end)
        return await write_report(
            built,
            window,
            args.out,
            previous=previous,
            title=args.title,
            pdf=not args.no_pdf,
            chromium=args.chromium,
        )
    except sqlite3.Error as err:
        raise ReportError(
            f"{args.database}: not a canhbao database of this version ({err});"
            " `canhbao migrate` brings an older one up to date"
        ) from None
    finally:
        await db.close()
