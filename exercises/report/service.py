"""Making a report: the window from what a person typed, the figures, and the files (JSON,
HTML, PDF). `write_report` is what the exercise runner calls when an exercise ends."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from canhbao.clock import LOCAL_TZ, Clock
from exercises.report.compare import check_previous, compare
from exercises.report.figures import collect
from exercises.report.models import ReportError, Window
from exercises.report.page import render
from exercises.report.pdf import CHROMIUM, html_to_pdf
from exercises.report.ports import ReportSources

DEFAULT_SPAN = timedelta(days=31)


def parse_time(text: str, name: str) -> datetime:
    """An ISO-8601 time; without an offset it is Vietnam's local time (+07:00)."""
    try:
        moment = datetime.fromisoformat(text.strip())
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=LOCAL_TZ)
        # In UTC now: a time at datetime's very ends cannot be moved to UTC (OverflowError).
        return moment.astimezone(UTC)
    except ValueError:
        raise ReportError(f"{name}: not an ISO-8601 time: {text[:40]!r}") from None
    except OverflowError:
        raise ReportError(f"{name}: {text[:40]!r} is outside 1970-2200") from None


async def choose_window(
    sources: ReportSources, clock: Clock, start: str | None, end: str | None
) -> Window:
    """The window asked for; a missing end is the last river reading (else now), a missing
    start is the first reading, at most DEFAULT_SPAN before the end."""
    span = await sources.rivers.span()
    until = parse_time(end, "to") if end else (span[1] if span else clock.now())
    if start:
        since = parse_time(start, "from")
    else:
        since = max(span[0], until - DEFAULT_SPAN) if span else until - DEFAULT_SPAN
        since = min(since, until)
    return Window(since, until)


@dataclass(frozen=True)
class Written:
    json: Path
    html: Path
    pdf: Path | None


async def build_report(
    sources: ReportSources, window: Window, previous: object | None = None, title: str = ""
) -> tuple[dict[str, Any], str]:
    """The figures (JSON-ready) and the HTML page, compared with `previous` (a former run's
    JSON, as loaded) when given."""
    figures = await collect(sources, window)
    if title:
        figures["title"] = title
    lines = compare(figures, check_previous(previous)) if previous is not None else None
    return figures, render(figures, title=title, comparison=lines)


def read_previous(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ReportError(f"{path}: cannot read: {err.strerror or err}") from err
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ReportError(f"{path}: not JSON: {err}") from err


async def write_report(
    sources: ReportSources,
    window: Window,
    out: Path,
    *,
    previous: object | None = None,
    title: str = "",
    pdf: bool = True,
    chromium: Path = CHROMIUM,
) -> Written:
    """Write report.json, report.html and (unless `pdf` is False) report.pdf into `out`."""
    figures, page = await build_report(sources, window, previous, title)
    json_path, html_path = await asyncio.to_thread(_write, out, figures, page)
    pdf_path = None
    if pdf:
        pdf_path = out / "report.pdf"
        await asyncio.to_thread(pdf_path.write_bytes, await html_to_pdf(page, chromium))
    return Written(json_path, html_path, pdf_path)


def _write(out: Path, figures: dict[str, Any], page: str) -> tuple[Path, Path]:
    try:
        out.mkdir(parents=True, exist_ok=True)
        json_path, html_path = out / "report.json", out / "report.html"
        json_path.write_text(json.dumps(figures, ensure_ascii=False, indent=1), encoding="utf-8")
        html_path.write_text(page, encoding="utf-8")
    except OSError as err:
        raise ReportError(f"{out}: cannot write: {err.strerror or err}") from err
    return json_path, html_path
