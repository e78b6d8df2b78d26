"""Debian's Chromium (driven by Playwright) loads / and a warning page over a throttled 3G
link, with JavaScript on and off; a screenshot of each is kept under var/artifacts/public/."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from canhbao.clock import ManualClock
from tests.conftest import REPO, AppClient
from tests.public.conftest import world

CHROMIUM = Path("/usr/bin/chromium")  # `make test` installs Debian's chromium when missing
# As root, offline, and quiet: no sandbox (root), none of Chromium's own calls home.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Chrome DevTools' "Regular 3G" profile: 300 ms round trips, 750 kbit/s down, 250 kbit/s up.
REGULAR_3G = {
    "offline": False,
    "latency": 300,
    "downloadThroughput": 750 * 1024 / 8,
    "uploadThroughput": 250 * 1024 / 8,
}
ARTIFACTS = REPO / "var" / "artifacts" / "public"

pytestmark = pytest.mark.slow


async def _visit(
    browser: Browser, url: str, origin: str, shot: Path, *, javascript: bool
) -> tuple[str, list[str]]:
    context = await browser.new_context(
        viewport={"width": 360, "height": 760},
        java_script_enabled=javascript,
        locale="vi-VN",
    )
    try:
        page = await context.new_page()
        cdp = await context.new_cdp_session(page)
        await cdp.send("Network.enable")
        await cdp.send("Network.emulateNetworkConditions", REGULAR_3G)
        asked: list[str] = []
        page.on("request", lambda request: asked.append(request.url))
        response = await page.goto(url, wait_until="load")
        assert response is not None
        assert response.status == 200
        await page.screenshot(path=str(shot), full_page=True)
        heading = await page.inner_text("h1")
        return heading, [u for u in asked if not u.startswith(origin)]
    finally:
        await context.close()


@pytest.fixture
def artifacts() -> Path:
    assert CHROMIUM.exists(), "Debian's chromium is missing: `make test` installs it"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*-3g.png"):
        old.unlink()
    return ARTIFACTS


def _size(path: Path) -> int:
    return path.stat().st_size


async def test_chromium_loads_the_home_and_a_warning_page_over_3g(
    app_client: AppClient, clock: ManualClock, artifacts: Path
) -> None:
    client = await app_client()
    identifier = (await world(client, clock))["warning"]
    origin = str(client.make_url("/"))

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=FLAGS
        )
        try:
            home, home_elsewhere = await _visit(
                browser, origin, origin, artifacts / "home-3g.png", javascript=True
            )
            warning, warning_elsewhere = await _visit(
                browser,
                str(client.make_url(f"/canh-bao/{identifier}")),
                origin,
                artifacts / "warning-3g.png",
                javascript=False,  # readable without JavaScript
            )
        finally:
            await browser.close()

    assert home == "Cảnh báo đang có hiệu lực"
    assert warning == "Cảnh báo lũ: sông Hương tại Kim Long vượt báo động III"
    assert home_elsewhere == []  # nothing from a CDN or any other host
    assert warning_elsewhere == []
    assert _size(artifacts / "home-3g.png") > 10_000
    assert _size(artifacts / "warning-3g.png") > 10_000
