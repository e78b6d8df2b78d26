"""The report as PDF, through Chromium's own print (Playwright's page.pdf with Debian's
chromium, as the browser tests drive it). Playwright is imported only when a PDF is asked
for: the service runs without it, and says so in one line."""

from __future__ import annotations

import asyncio
from pathlib import Path

from exercises.report.models import ReportError

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


async def html_to_pdf(page_html: str, chromium: Path = CHROMIUM) -> bytes:
    """A4 PDF of a self-contained page (no network is needed: nothing is fetched)."""
    if not await asyncio.to_thread(chromium.exists):
        raise ReportError(f"PDF needs Chromium at {chromium} (apt install chromium)")
    try:
        from playwright.async_api import Error, async_playwright  # optional: tests and PDFs only
    except ImportError as err:
        raise ReportError("PDF needs the playwright package (pip install playwright)") from err
    try:
        async with async_playwright() as driver:
            browser = await driver.chromium.launch(executable_path=str(chromium), args=FLAGS)
            try:
                page = await browser.new_page()
                await page.set_content(page_html, wait_until="load")
                return await page.pdf(
                    format="A4",
                    print_background=True,
                    margin={"top": "12mm", "bottom": "12mm", "left": "10mm", "right": "10mm"},
                )
            finally:
                await browser.close()
    except Error as err:
        raise ReportError(f"Chromium could not print the report: {err.message[:200]}") from err
