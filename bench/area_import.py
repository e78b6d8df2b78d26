"""Hotline webhook latency while an admin imports a 499,001-vertex area, against it alone.

The app runs as `canhbao serve` in its own process; the hotline benchmark's signed request mix
(incoming call, menu, flood information, status callback) goes out open-loop at 200 requests/s,
once with nothing else running and once while an admin re-imports one 499,001-vertex area
back to back over the API (the import that used to hold the event loop for minutes). The
geometry work runs in a worker process (canhbao.offload), so the loop keeps answering.

Printed: p99 during the imports over p99 alone (the figure; near 1 means the import costs the
hotline nothing), beside the issue's 25 ms p99 target and Twilio's 15 s webhook limit.
"""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import numpy as np

from bench.hotline import RATE, REPO, SECONDS, TARGET_P99_MS, TWILIO_LIMIT_MS, _run, serve

VERTICES = 499_001
PASSWORD = "bench-admin-password-123"  # noqa: S105  # a throwaway account of a throwaway database


def area_document(vertices: int = VERTICES) -> bytes:
    """One ward-sized area around Huế whose boundary has `vertices` positions (closed)."""
    angles = np.linspace(0.0, 2 * math.pi, vertices - 1, endpoint=False)
    radius = 0.1 * (1 + 0.05 * np.sin(angles * 997))
    ring = np.column_stack([107.5 + radius * np.cos(angles), 16.4 + radius * np.sin(angles)])
    positions = ring.round(7).tolist()
    feature = {
        "type": "Feature",
        "properties": {"ten": "Bờ biển chi tiết"},
        "geometry": {"type": "Polygon", "coordinates": [[*positions, positions[0]]]},
    }
    return json.dumps({"type": "FeatureCollection", "features": [feature]}).encode()


def add_admin(config: Path) -> None:
    subprocess.run(  # our own CLI, fixed arguments
        [
            *(sys.executable, "-m", "canhbao", "--config", str(config)),
            *("user", "add", "bench-admin", "--role", "admin", "--password-stdin"),
        ],
        input=PASSWORD + "\n",
        text=True,
        check=True,
        cwd=REPO,
        capture_output=True,
    )


async def _import_until(base: str, body: bytes, stop: asyncio.Event) -> list[float]:
    """Re-import the area back to back until `stop`; returns each import's seconds."""
    durations: list[float] = []
    # unsafe: the session cookie comes from 127.0.0.1, which aiohttp's jar refuses by default.
    async with aiohttp.ClientSession(base, cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        login = await session.post(
            "/api/v1/auth/login", json={"username": "bench-admin", "password": PASSWORD}
        )
        csrf = (await login.json())["csrf_token"]
        while not stop.is_set():
            started = time.perf_counter()
            async with session.post(
                "/api/v1/areas/import?name_property=ten",
                data=body,
                headers={"X-CSRF-Token": csrf, "Content-Type": "application/geo+json"},
                timeout=aiohttp.ClientTimeout(total=600),
            ) as response:
                text = await response.text()
                if response.status not in (200, 201):
                    raise RuntimeError(f"import failed: {response.status} {text[:300]}")
            durations.append(time.perf_counter() - started)
    return durations


async def _during(base: str, body: bytes) -> tuple[tuple[float, float, float, int], list[float]]:
    stop = asyncio.Event()
    importing = asyncio.create_task(_import_until(base, body, stop))
    await asyncio.sleep(1.0)  # the upload is in and the worker busy before the load starts
    load = await _run(base)
    stop.set()
    return load, await importing


def main() -> None:
    body = area_document()
    with tempfile.TemporaryDirectory() as workdir, serve(Path(workdir)) as base:
        add_admin(Path(workdir) / "config.toml")
        _, alone_p99, alone_rate, alone_errors = asyncio.run(_run(base))
        (_, during_p99, during_rate, during_errors), imports = asyncio.run(_during(base, body))
    print(
        f"hotline webhooks at {RATE} req/s for {SECONDS} s, alone and while a {VERTICES:,}-vertex"
        f" area ({len(body) / 1e6:.1f} MB of GeoJSON) is imported back to back:"
    )
    print(f"  alone:   p99 {alone_p99:8.2f} ms  rate {alone_rate:6.1f}/s  errors {alone_errors}")
    print(
        f"  during:  p99 {during_p99:8.2f} ms  rate {during_rate:6.1f}/s  errors {during_errors}"
        f"  ({len(imports)} imports, {np.median(imports):.1f} s each, median)"
    )
    print(f"  p99 during / p99 alone          {during_p99 / alone_p99:8.3f}  (1 = no cost)")
    print(f"  p99 during / issue target 25 ms {during_p99 / TARGET_P99_MS:8.3f}")
    print(f"  p99 during / Twilio's 15 s limit {during_p99 / TWILIO_LIMIT_MS:8.5f}")


if __name__ == "__main__":
    main()
