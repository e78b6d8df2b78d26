"""The after-action report printed to PDF by Debian's Chromium (through Playwright), from the
API and from the command, offline: the page fetches nothing."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

from canhbao.cli import main
from exercises.report.page import render
from exercises.report.pdf import CHROMIUM, PdfPrinter, html_to_pdf
from tests.conftest import BearerFactory, StaffFactory
from tests.exercises.report_world import build, report_config, window_of
from tests.exercises.test_report import sample_figures
from tests.hotline import conftest as hotline
from tests.hotline.conftest import StartLine

double_server = hotline.double_server
start_line = hotline.start_line
twilio_env = hotline.twilio_env

pytestmark = pytest.mark.slow


def _pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page[^s]", pdf))


@pytest.fixture(autouse=True)
def chromium() -> None:
    assert CHROMIUM.exists(), "Debian's chromium is missing: `make test` installs it"


async def test_chromium_prints_the_report_with_its_chart() -> None:
    pdf = await html_to_pdf(render(sample_figures(), title="Diễn tập lũ tháng 11"))
    assert pdf.startswith(b"%PDF-")
    assert _pages(pdf) >= 1


async def test_staff_get_the_pdf_from_the_api_and_the_command_writes_it(
    start_line: StartLine,
    staff: StaffFactory,
    bearer: BearerFactory,
    tmp_path: Path,
    double_server: tuple[Any, str],
) -> None:
    world = await build(await start_line(report_config(tmp_path, double_server[1])), staff, bearer)
    start, end = window_of(world)
    response = await world.dispatcher.get(
        "/api/v1/exercises/report.pdf", params={"from": start, "to": end}
    )
    assert response.status == 200, await response.text()
    assert response.content_type == "application/pdf"
    assert (await response.read()).startswith(b"%PDF-")

    database = world.line.config.resolve(world.line.config.database.path)
    out = tmp_path / "report"
    argv = ["exercise", "report", "--database", str(database), "--from", start, "--to", end]
    assert await asyncio.to_thread(main, [*argv, "--out", str(out)]) == 0
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF-")


async def test_the_service_printer_prints_again_after_it_was_closed() -> None:
    page = render(sample_figures())
    async with PdfPrinter() as printer:
        first = await printer.print(page)
        await printer.close()  # as at the app's shutdown: the next PDF starts Chromium again
        second = await printer.print(page)
    assert first.startswith(b"%PDF-")
    assert second.startswith(b"%PDF-")


async def test_a_missing_chromium_is_one_clear_line(tmp_path: Path) -> None:
    from exercises.report.models import ReportError

    with pytest.raises(ReportError, match="PDF needs Chromium at"):
        await html_to_pdf("<p>x</p>", tmp_path / "no-chromium")
