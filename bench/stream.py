"""The staff live stream's fan-out: 200 consoles connected, how late each receives an event.

The real app (create_app, SQLite file) serves on a loopback port; the consoles are plain
aiohttp clients in a second process (as browsers would be: their parsing does not share the
server's event loop). An event is emitted every EVERY_S in the server's process (the
recorder stores it, the hub tails it and hands its frame to every console); its data carries
the wall time it was emitted, and each console notes when it arrived. Lag = arrival - emission,
for every (event, console) pair. Printed beside the anchor measured the same way in the same
run: one console alone. Target (issue #14): p99 ≤ 200 ms with 200 consoles.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

from canhbao.adapters.stream import HUB, RECORDER
from canhbao.app import create_app
from canhbao.auth.middleware import accounts_for
from canhbao.config import parse_config
from canhbao.stream import StreamEvent
from canhbao.stream_catalogue import STAFF

CONSOLES = 200
EVENTS = 30
EVERY_S = 0.25
TARGET_P99_MS = 200.0


async def _consoles(url: str, token: str, count: int, events: int) -> None:
    """The client process: `count` streams; prints one JSON line of lags (ms) at the end."""
    lags: list[float] = []
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(
        connector=connector, headers={"Authorization": f"Bearer {token}"}
    ) as session:
        responses = [await session.get(url) for _ in range(count)]
        for response in responses:
            assert response.status == 200, await response.text()
            await response.content.readline()  # ": stream open"
        print("ready", flush=True)  # the parent waits for it

        async def read(response: aiohttp.ClientResponse) -> None:
            seen = 0
            while seen < events:
                line = await response.content.readline()
                if line.startswith(b"data: "):
                    arrived = time.time()
                    data = json.loads(line[6:])
                    lags.append((arrived - float(data["detail"])) * 1000)
                    seen += 1

        await asyncio.wait_for(asyncio.gather(*(read(r) for r in responses)), 120)
        for response in responses:
            response.close()
    print(json.dumps(lags), flush=True)  # read by the parent


async def _run(consoles: int) -> list[float]:
    with tempfile.TemporaryDirectory() as folder:
        config = parse_config(
            {"database": {"path": str(Path(folder) / "bench.sqlite3")}, "log": {"level": "WARNING"}}
        )
        app = create_app(config)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # bound to 0
            _, token = await accounts_for(app).create_token(
                "bench consoles", ["dispatcher"], actor="bench"
            )
            child = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.stream",
                "--consoles",
                f"http://127.0.0.1:{port}/api/v1/events/stream",
                token,
                str(consoles),
                str(EVENTS),
                stdout=asyncio.subprocess.PIPE,
            )
            assert child.stdout is not None
            assert (await child.stdout.readline()).strip() == b"ready"
            # The consoles register as their requests reach the hub: nothing to wait on.
            while app[HUB].connected < consoles:  # noqa: ASYNC110  # see above
                await asyncio.sleep(0.01)
            for _ in range(EVENTS):
                app[RECORDER].emit(
                    StreamEvent(
                        "source.health",
                        STAFF,
                        {"component": "bench", "status": "ok", "detail": f"{time.time():.6f}"},
                    )
                )
                await asyncio.sleep(EVERY_S)
            out, _ = await child.communicate()
            lags: list[float] = json.loads(out.decode().strip().splitlines()[-1])
            return lags
        finally:
            await runner.cleanup()


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--consoles":
        url, token, count, events = sys.argv[2:6]
        asyncio.run(_consoles(url, token, int(count), int(events)))
        return
    alone = asyncio.run(_run(1))
    crowd = asyncio.run(_run(CONSOLES))
    verdict = "met" if _p(crowd, 0.99) <= TARGET_P99_MS else "NOT met"
    print(
        f"stream fan-out, {CONSOLES} consoles × {EVENTS} events: lag median"
        f" {statistics.median(crowd):.1f} ms, p99 {_p(crowd, 0.99):.1f} ms, max {max(crowd):.1f} ms"
        f" (target p99 ≤ {TARGET_P99_MS:.0f} ms: {verdict})"
    )
    print(
        f"  anchor, one console: lag median {statistics.median(alone):.1f} ms,"
        f" p99 {_p(alone, 0.99):.1f} ms (crowd/alone p99 ratio"
        f" {_p(crowd, 0.99) / max(_p(alone, 0.99), 0.001):.1f}×)"
    )


if __name__ == "__main__":
    main()
