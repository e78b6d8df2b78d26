"""The console's first load: the build's size gzipped (target ≤ 350 KB, beside the map library
alone), and the time from navigation to the situation map drawn in Debian's Chromium with 40
wards and 1,000 open rescue requests, beside the same page with none in the same run.

One service as shipped (`canhbao serve`, Huế's wards loaded at first start, Local providers);
1,000 requests typed in through `POST /api/v1/dispatch/requests` at random points of the
province (auto-offer off: no team exists). "Drawn" is the performance mark the app sets once the
wards, stations, requests, teams and cameras are on the map (`canhbao:situation-map-drawn`), read
as its time from the navigation's start. The median of five loads after one warm-up, each in a
fresh browser context (logged in, its HTTP cache empty). Needs `make console`.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from playwright.async_api import async_playwright

from bench.hotline import _free_port
from canhbao.console import CONSOLE_DIST

BUDGET_KB = 350
REQUESTS = 1_000
LOADS = 5  # timed loads of each map (the median is reported), after one warm-up
PASSWORD = "mật-khẩu-đo-hiệu-năng"  # noqa: S105  # a throwaway account in a temporary database
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
NODE_MODULES = CONSOLE_DIST.parent / "node_modules"


def _gzipped(path: Path) -> int:
    return len(gzip.compress(path.read_bytes(), compresslevel=9))


def build_size() -> None:
    files = [p for p in CONSOLE_DIST.rglob("*") if p.is_file()]
    total = sum(_gzipped(p) for p in files)
    leaflet = sum(
        _gzipped(NODE_MODULES / "leaflet" / "dist" / name) for name in ("leaflet.js", "leaflet.css")
    )
    print(
        f"console build: {total / 1024:.1f} KB gzipped in {len(files)} files"
        f" (budget {BUDGET_KB} KB: {'met' if total / 1024 <= BUDGET_KB else 'NOT met'});"
        f" Leaflet alone (leaflet.js + leaflet.css) {leaflet / 1024:.1f} KB"
    )


def _cli(config: Path, *args: str, stdin: str | None = None) -> None:
    subprocess.run(  # our own CLI
        [sys.executable, "-m", "canhbao", *args, "--config", str(config)],
        input=stdin,
        text=True,
        check=True,
        capture_output=True,
        cwd=config.parent,
    )


async def _wait_up(base: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(600):
            try:
                async with session.get(base + "/healthz") as response:
                    if response.status in (200, 503):
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("canhbao serve did not start")


async def _type_in_requests(base: str, count: int) -> None:
    jar = aiohttp.CookieJar(unsafe=True)  # the session cookie comes from 127.0.0.1
    async with aiohttp.ClientSession(base, cookie_jar=jar) as session:
        login = await session.post(
            "/api/v1/auth/login", json={"username": "hai", "password": PASSWORD}
        )
        csrf = (await login.json())["csrf_token"]
        rng = random.Random(14)
        semaphore = asyncio.Semaphore(8)

        async def one(i: int) -> None:
            body = {
                "caller": f"+8490{5_000_000 + i:07d}",
                "lat": rng.uniform(16.25, 16.70),
                "lon": rng.uniform(107.25, 107.95),
                "people": rng.randint(1, 12),
                "water": rng.choice(["ground_floor", "chest", "roof", "unknown"]),
            }
            async with semaphore:
                response = await session.post(
                    "/api/v1/dispatch/requests", json=body, headers={"X-CSRF-Token": csrf}
                )
                if response.status != 201:
                    raise RuntimeError(f"request {i}: {response.status} {await response.text()}")

        await asyncio.gather(*(one(i) for i in range(count)))


MARK = "canhbao:situation-map-drawn"  # set by console/src/views/Situation.tsx


async def _time_to_map(base: str, loads: int = LOADS) -> list[float]:
    """Seconds from the navigation's start to the app's mark (the map drawn with its wards,
    stations, requests and teams), for `loads` loads after one warm-up, each in a fresh browser
    context (logged in first; its HTTP cache empty)."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=FLAGS
        )
        try:
            times: list[float] = []
            for attempt in range(loads + 1):
                context = await browser.new_context(
                    viewport={"width": 1366, "height": 768}, locale="vi-VN"
                )
                page = await context.new_page()
                await page.goto(base + "/console/login")
                await page.get_by_label("Tên đăng nhập").fill("hai")
                await page.get_by_label("Mật khẩu").fill(PASSWORD)
                await page.get_by_role("button", name="Đăng nhập").click()
                await page.get_by_role("button", name="Đăng xuất").wait_for()
                await page.goto(base + "/console/")
                handle = await page.wait_for_function(
                    # A PerformanceMark's JSON leaves its detail out: both fields by name.
                    "(mark) => { const e = performance.getEntriesByName(mark)[0];"
                    " return e ? { startTime: e.startTime, detail: e.detail } : null; }",
                    arg=MARK,
                    timeout=120_000,
                )
                entry = await handle.json_value()
                drawn = entry.get("detail") or {}
                if attempt:  # the first load warms the service up
                    times.append(float(entry["startTime"]) / 1000)
                    print(
                        f"  load {attempt}: {times[-1]:.2f} s"
                        f" ({drawn.get('wards')} wards, {drawn.get('requests')} requests drawn)",
                        flush=True,
                    )
                await context.close()
            return times
        finally:
            await browser.close()


async def _measure(base: str) -> tuple[list[float], float, list[float]]:
    """The map's time with no requests, the time to type 1,000 in, the map's time with them."""
    await _wait_up(base)
    empty = await _time_to_map(base)
    started = time.perf_counter()
    await _type_in_requests(base, REQUESTS)
    typed = time.perf_counter() - started
    return empty, typed, await _time_to_map(base)


def situation_map() -> None:
    with tempfile.TemporaryDirectory() as folder:
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        config = Path(folder) / "config.toml"
        config.write_text(
            f'[server]\nport = {port}\npublic_base_url = "{base}"\n'
            '[database]\npath = "canhbao.sqlite3"\n[geofences]\nfirst_start_hue_wards = true\n'
            "[dispatch.offers]\nauto_offer = false\n",
            encoding="utf-8",
        )
        _cli(config, "migrate")
        _cli(
            config,
            "user",
            "add",
            "hai",
            "--role",
            "dispatcher",
            "--role",
            "operator",
            "--role",
            "approver",
            "--password-stdin",
            stdin=PASSWORD + "\n",
        )
        process = subprocess.Popen(  # our own CLI
            [sys.executable, "-m", "canhbao", "serve", "--config", str(config)],
            cwd=folder,
            env=os.environ.copy(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            empties, typed, fulls = asyncio.run(_measure(base))
        finally:
            process.terminate()
            process.wait(timeout=30)
        load = os.getloadavg()[0]
        full, empty = statistics.median(fulls), statistics.median(empties)
        print(
            f"time to the situation map (40 wards, {REQUESTS:,} open requests): median {full:.2f} s"
            f" (min {min(fulls):.2f}, max {max(fulls):.2f}); with no requests: median"
            f" {empty:.2f} s (min {min(empties):.2f}, max {max(empties):.2f}); {LOADS} loads each"
            f" after a warm-up, navigation start to the app's mark, 1366 × 768, load average"
            f" {load:.1f}; {REQUESTS:,} requests typed in over HTTP in {typed:.1f} s"
        )
        print(
            json.dumps(
                {
                    "situation_map_median_s": round(full, 3),
                    "situation_map_s": [round(t, 3) for t in fulls],
                    "empty_map_median_s": round(empty, 3),
                }
            )
        )


def main() -> None:
    if not (CONSOLE_DIST / "index.html").is_file():
        print("the console is not built: run `make console` first")
        return
    build_size()
    situation_map()


if __name__ == "__main__":
    main()
