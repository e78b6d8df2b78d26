"""The report as PDF, through Chromium's own print (Playwright's page.pdf with Debian's
chromium, as the browser tests drive it). Playwright is imported only when a PDF is asked
for: the service runs without it, and says so in one line.

The service keeps one Chromium (PdfPrinter), started at the first PDF asked for and closed with
the app, and prints one report at a time: a Chromium started for each report took 4.7 to
11.8 s under load, a print with it running 0.5 to 0.7 s (README, "After-action report")."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Self

from exercises.report.models import ReportError

if TYPE_CHECKING:
    from playwright.async_api import Browser, Playwright

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


class PdfPrinter:
    """Prints self-contained pages to A4 PDF with one Chromium, one page at a time."""

    def __init__(self, chromium: Path = CHROMIUM) -> None:
        self._chromium = chromium
        self._lock = asyncio.Lock()
        self._driver: Playwright | None = None
        self._browser: Browser | None = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def print(self, page_html: str) -> bytes:
        """A4 PDF of a self-contained page (nothing is fetched: no network is needed)."""
        try:
            from playwright.async_api import Error  # optional: tests and PDFs only
        except ImportError as err:
            raise ReportError("PDF needs the playwright package (pip install playwright)") from err
        async with self._lock:
            try:
                browser = await self._open()
                page = await browser.new_page()
                try:
                    await page.set_content(page_html, wait_until="load")
                    return await page.pdf(
                        format="A4",
                        print_background=True,
                        margin={"top": "12mm", "bottom": "12mm", "left": "10mm", "right": "10mm"},
                    )
                finally:
                    await page.close()
            except Error as err:
                # A Chromium that crashed or was killed is started afresh next time.
                await self._close()
                raise ReportError(
                    f"Chromium could not print the report: {err.message[:200]}"
                ) from err

    async def _open(self) -> Browser:
        if self._browser is not None and self._browser.is_connected():
            return self._browser
        await self._close()
        if not await asyncio.to_thread(self._chromium.exists):
            raise ReportError(f"PDF needs Chromium at {self._chromium} (apt install chromium)")
        from playwright.async_api import async_playwright  # optional: tests and PDFs only

        self._driver = await async_playwright().start()
        self._browser = await self._driver.chromium.launch(
            executable_path=str(self._chromium), args=FLAGS
        )
        return self._browser

    async def close(self) -> None:
        async with self._lock:
            await self._close()

    async def _close(self) -> None:
        browser, driver = self._browser, self._driver
        self._browser = self._driver = None
        if browser is not None:
            await browser.close()
        if driver is not None:
            await driver.stop()


async def html_to_pdf(page_html: str, chromium: Path = CHROMIUM) -> bytes:
    """One page printed by a Chromium started for it (the command's one report)."""
    async with PdfPrinter(chromium) as printer:
        return await printer.print(page_html)
