"""The after-action report an exercise writes when its play ends (issue #16): report.json,
report.html and, where Chromium and Playwright are installed, report.pdf, in a folder beside
the exercise's database, over the flood time the exercise played."""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web

from canhbao import keys
from canhbao.adapters.report import report_sources
from exercises.models import Scenario
from exercises.report.models import ReportError, Window
from exercises.report.service import write_report

log = logging.getLogger(__name__)


def report_folder(database: Path) -> Path:
    """Where an exercise's report goes: `<database stem>-report/` beside its database."""
    return database.with_name(database.stem + "-report")


async def write_end_report(app: web.Application, database: Path, scenario: Scenario) -> Path | None:
    """Write the report of what the exercise played, from its start to the flood time now (the
    clock stands still once the play ends); the folder, or None when it could not be written
    (said in the log: a report must never keep an exercise from ending)."""
    out = report_folder(database)
    title = f"Diễn tập / Exercise: {scenario.name}"
    sources = report_sources(app[keys.DB])
    try:
        played = Window(scenario.start, max(scenario.start, app[keys.CLOCK].now()))
        await write_report(sources, played, out, title=title)
    except ReportError as err:
        # JSON and HTML are written before the PDF is asked for: only the PDF is missing.
        if not (out / "report.html").exists():
            log.error("exercise report not written", extra={"folder": str(out), "error": str(err)})
            return None
        log.warning("exercise report written without its PDF", extra={"error": str(err)})
    log.info("exercise report written", extra={"folder": str(out)})
    return out
