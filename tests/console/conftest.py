"""A real `canhbao serve` (Local push and telephony, Huế's wards) and Debian's Chromium driven
by Playwright, for the console's end-to-end tests; screenshots go to var/artifacts/console/."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from canhbao.console import CONSOLE_DIST
from tests.conftest import REPO

CHROMIUM = Path("/usr/bin/chromium")  # `make test` installs Debian's chromium when missing
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO / "var" / "artifacts" / "console"
# How long an assertion may wait for the page to get there (a live update, a delivery reaching
# 100 %): the actions' 20 s, not Playwright's 5 s, which a loaded shared machine overruns.
expect.set_options(timeout=20_000)
PASSWORD = "mật-khẩu-thử-nghiệm-đủ-dài"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    """A running `canhbao serve`: its base URL, and plain JSON calls to it."""

    base: str
    config: Path
    process: subprocess.Popen[str]

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310  # a loopback URL we built
            self.base + path, data=data, method=method, headers=headers or {}
        )
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310  # loopback
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")

    def login(self, username: str) -> dict[str, str]:
        """The headers a staff member's API calls carry: the session cookie and the CSRF token."""
        data = json.dumps({"username": username, "password": PASSWORD}).encode()
        request = urllib.request.Request(  # noqa: S310  # a loopback URL we built
            self.base + "/api/v1/auth/login",
            data=data,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310  # loopback
            cookie = response.headers["Set-Cookie"].split(";", 1)[0]
            csrf = json.loads(response.read())["csrf_token"]
        return {"Cookie": cookie, "X-CSRF-Token": csrf}


def canhbao_cli(config: Path, *args: str, stdin: str | None = None) -> None:
    subprocess.run(  # our own CLI with arguments we built
        [sys.executable, "-m", "canhbao", *args, "--config", str(config)],
        input=stdin,
        text=True,
        check=True,
        capture_output=True,
        cwd=config.parent,
        timeout=60,
    )


def _serve(tmp_path: Path, settings: str) -> tuple[subprocess.Popen[str], str, IO[str]]:
    """Start `canhbao serve` on a free port and wait for /healthz. The port is picked just
    before the start and another is tried if something took it meanwhile (an outgoing
    connection of another test can be given the same port while the wards load)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for _ in range(3):
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        (tmp_path / "config.toml").write_text(
            f'[server]\nport = {port}\npublic_base_url = "{base}"\n{settings}', encoding="utf-8"
        )
        log_file = (tmp_path / "serve.log").open("w")
        process = subprocess.Popen(  # our own CLI
            [sys.executable, "-m", "canhbao", "serve", "--config", str(tmp_path / "config.toml")],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
            text=True,
        )
        deadline = time.monotonic() + 120
        while process.poll() is None and time.monotonic() < deadline:
            try:
                status, _ = Service(base, tmp_path, process).call("GET", "/healthz")
                if status in (200, 503) and process.poll() is None:
                    return process, base, log_file
            except OSError:
                pass
            time.sleep(0.1)  # waiting for another process to listen, not for our own work
        log_file.close()
        log = (tmp_path / "serve.log").read_text(encoding="utf-8")
        if process.poll() is None:
            process.kill()
            process.wait()
        if "address already in use" not in log:
            raise AssertionError(f"canhbao serve did not start:\n{log[-3000:]}")
    raise AssertionError("canhbao serve found no free port in three tries")


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    """`canhbao serve` on a free port, with lan (issuer and approver), minh (approver), hai
    (operator and dispatcher) and an (admin); Local push and telephony; Huế's wards loaded at
    first start; a camera is unreachable after two failed fetches (the default)."""
    assert (CONSOLE_DIST / "index.html").is_file(), "the console is not built: `make console`"
    settings = (
        '[database]\npath = "db/canhbao.sqlite3"\n[geofences]\nfirst_start_hue_wards = true\n'
    )
    config = tmp_path / "config.toml"
    config.write_text(settings, encoding="utf-8")
    canhbao_cli(config, "migrate")
    for name, roles, display in (
        ("lan", ("issuer", "approver"), "Nguyễn Thị Lan"),
        ("minh", ("approver",), "Trần Văn Minh"),
        ("hai", ("operator", "dispatcher"), "Lê Thị Hải"),
        ("an", ("admin",), "Phạm Văn An"),
    ):
        flags = [part for role in roles for part in ("--role", role)]
        canhbao_cli(
            config,
            "user",
            "add",
            name,
            *flags,
            "--name",
            display,
            "--password-stdin",
            stdin=PASSWORD + "\n",
        )
    process, base, log_file = _serve(tmp_path, settings)
    try:
        yield Service(base, config, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log_file.close()


@pytest.fixture
def artifacts() -> Path:
    assert CHROMIUM.exists(), "Debian's chromium is missing: `make test` installs it"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=FLAGS
        )
        try:
            yield launched
        finally:
            await launched.close()


LAPTOP = {"width": 1366, "height": 768}
TABLET_LANDSCAPE = {"width": 1280, "height": 800}
TABLET_PORTRAIT = {"width": 800, "height": 1280}


async def open_console(
    browser: Browser,
    service: Service,
    path: str = "/console/",
    viewport: dict[str, int] | None = None,
) -> Page:
    """A fresh browser context (its own cookies) on a 1366 × 768 laptop screen (or `viewport`),
    in Huế's zone."""
    context = await browser.new_context(
        viewport=viewport or LAPTOP,  # type: ignore[arg-type]  # a ViewportSize TypedDict
        locale="vi-VN",
        timezone_id="Asia/Ho_Chi_Minh",
    )
    page = await context.new_page()
    elsewhere: list[str] = []
    page.on(
        "request",
        lambda request: (
            None
            if request.url.startswith((service.base, "data:", "blob:"))
            else elsewhere.append(request.url)
        ),
    )
    page.set_default_timeout(20_000)
    await page.goto(service.base + path)
    page.elsewhere = elsewhere  # type: ignore[attr-defined]  # checked by the tests: no CDN
    return page


async def log_in(page: Page, username: str) -> None:
    await page.get_by_label("Tên đăng nhập").fill(username)
    await page.get_by_label("Mật khẩu").fill(PASSWORD)
    await page.get_by_role("button", name="Đăng nhập").click()
    await page.get_by_role("button", name="Đăng xuất").wait_for()


def register_devices(service: Service) -> int:
    """Citizen phones on a 7 × 7 grid over Huế's wards (Local push records what they get)."""
    status, answer = service.call("GET", "/api/v1/areas")
    assert status == 200, answer
    lats: list[float] = []
    lons: list[float] = []
    for area in answer["areas"][:40]:
        status, detail = service.call("GET", f"/api/v1/areas/{area['code']}")
        assert status == 200, detail
        for ring in detail["outline"]["coordinates"]:
            points = ring[0] if detail["outline"]["type"] == "MultiPolygon" else ring
            lons += [p[0] for p in points]
            lats += [p[1] for p in points]
    count = 0
    for i in range(7):
        for j in range(7):
            lat = min(lats) + (max(lats) - min(lats)) * (i + 0.5) / 7
            lon = min(lons) + (max(lons) - min(lons)) * (j + 0.5) / 7
            status, answer = service.call(
                "POST",
                "/api/v1/devices",
                {
                    "token": f"console-test-token-{i}-{j}-" + "x" * 40,
                    "platform": "android",
                    "language": "vi" if (i + j) % 3 else "en",
                    "location": {"lat": lat, "lon": lon},
                },
            )
            assert status in (200, 201), answer
            count += 1
    return count


# WCAG 2.1 AA for text, measured in the page: each visible text node's computed colour against
# the background it is drawn on (the first opaque background of it or an ancestor, blended over
# white); 4.5:1, or 3:1 for large text (24 px, or 18.66 px bold). The map's own tiles and
# markers are left out (Leaflet draws them; their labels are checked where the app shows them).
CONTRAST_SCRIPT = (Path(__file__).parent / "contrast.js").read_text(encoding="utf-8")


async def assert_contrast(page: Page) -> None:
    """Every visible text on the page meets WCAG AA's contrast (see CONTRAST_SCRIPT)."""
    failures = await page.evaluate(CONTRAST_SCRIPT)
    assert failures == [], f"{page.url}: text below WCAG AA contrast: {failures}"


async def assert_fits(page: Page) -> None:
    """Nothing wider than the screen: no sideways scrolling on a laptop or a tablet."""
    overflow = await page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{page.url}: {overflow} px wider than the screen"
