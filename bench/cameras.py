"""Cameras: the cost of polling 500 cameras once a minute, and the still endpoint's 304s.

Polling: a fake camera server (its own process, so its CPU is not ours) serves 500 cameras
1920 × 1080 JPEGs, a different picture at every poll (the worst case: every still is decoded,
measured, thumbnailed and stored). The real app (create_app, SQLite file, image files on disk)
polls each camera once, as one minute of a 60 s interval does; the figure is the CPU seconds
of the process and of its [offload] worker processes (where stills are decoded; read from
/proc) for that minute's work, and the peak RSS of each.
Anchor: the same stills through what one would write first (full-size decode, then
Image.thumbnail), measured in the same run.

304s: the app serves /api/v1/cameras/{id}/still from its own process; a raw keep-alive
HTTP/1.1 client (two processes, 32 connections each) sends If-None-Match with the still's
ETag. Anchor: a plain aiohttp app's add_static handler revalidating one file by its own ETag,
measured the same way, in the same run.
"""

from __future__ import annotations

import asyncio
import io
import multiprocessing
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp import web
from PIL import Image, ImageDraw

CAMERAS = 500
PICTURES = 40  # distinct pictures the fake cameras rotate through
SIZE = (1920, 1080)
CPU_TARGET_S = 18.0  # 30 % of one core over a minute
RPS_TARGET = 5_000
REQUESTS_PER_CONNECTION = 400
CONNECTIONS = 32
CLIENTS = 2
RUNS = 3


def picture(seed: int) -> bytes:
    width, height = SIZE
    rng = np.random.default_rng(seed)
    # Noise under blocks: JPEG works as hard as on a real street scene.
    base = rng.integers(60, 140, (height // 8, width // 8, 3), dtype=np.uint8)
    image = Image.fromarray(base).resize(SIZE, Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(image)
    for _ in range(200):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        w, h = int(rng.integers(5, 200)), int(rng.integers(5, 120))
        draw.rectangle([x, y, x + w, y + h], fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


# -- the fake cameras, in their own process ---------------------------------------------------


def _camera_server(pictures: list[bytes], port_pipe: Connection) -> None:
    served: dict[str, int] = {}

    async def handle(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        count = served.get(name, 0)
        served[name] = count + 1
        body = pictures[(hash(name) + count) % len(pictures)]
        return web.Response(body=body, content_type="image/jpeg")

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/cam/{name}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port_pipe.send(runner.addresses[0][1])
        await asyncio.Event().wait()

    asyncio.run(main())


def _start(
    target: Callable[..., None], *args: Any, daemon: bool = True
) -> tuple[multiprocessing.Process, Any]:
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    # The app's process is not a daemon: it starts its own [offload] workers.
    process = context.Process(target=target, args=(*args, child), daemon=daemon)
    process.start()
    return process, parent.recv()


# -- polling cost -----------------------------------------------------------------------------


def _config(tmp: Path, port: int, cameras: int) -> Any:
    from canhbao.config import parse_config

    entries = [
        {
            "id": f"cam-{i}",
            "name": f"Camera {i}",
            "lat": 16.4 + i * 1e-4,
            "lon": 107.5 + i * 1e-4,
            "url": f"http://127.0.0.1:{port}/cam/{i}.jpg",
        }
        for i in range(cameras)
    ]
    raw = {
        "database": {"path": str(tmp / "bench.sqlite3")},
        "cameras": {"schedule": False, "storage_dir": str(tmp / "stills"), "cameras": entries},
        "auth": {"argon2_time_cost": 1, "argon2_memory_kib": 8, "argon2_parallelism": 1},
    }
    return parse_config(raw)


async def _poll_minute(port: int, tmp: Path) -> tuple[float, float, dict[str, int], float]:
    from aiohttp.test_utils import TestServer

    from cameras.keys import CAMERAS as KEY
    from canhbao.app import create_app

    app = create_app(_config(tmp, port, CAMERAS))
    server = TestServer(app)
    await server.start_server()
    try:
        service = app[KEY]
        await asyncio.gather(*(service.poll(f"cam-{i}") for i in range(20)))  # warm up
        cpu, wall = _tree_cpu(), time.monotonic()
        results = await asyncio.gather(*(service.poll(f"cam-{i}") for i in range(CAMERAS)))
        cpu, wall = _tree_cpu() - cpu, time.monotonic() - wall
        worker_rss = _descendants_peak_rss_mib()
        outcomes: dict[str, int] = {}
        for polled in results:
            outcome = polled.outcome if polled is not None else "failed"
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        return cpu, wall, outcomes, worker_rss
    finally:
        await server.close()


_TICKS = os.sysconf("SC_CLK_TCK")


def _descendants() -> list[int]:
    """Our descendant processes (the fork server and the workers it started), from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [os.getpid()]
    while frontier:
        pid = frontier.pop()
        children = [child for child, parent in parents.items() if parent == pid]
        found.extend(children)
        frontier.extend(children)
    return found


def _tree_cpu() -> float:
    """CPU seconds (user + system) of this process's threads and of its descendants."""
    total = time.process_time()
    for pid in _descendants():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # utime, stime and the children's cutime, cstime (fields 14-17 of stat).
        total += sum(int(value) for value in fields[11:15]) / _TICKS
    return total


def _descendants_peak_rss_mib() -> float:
    peak = 0.0
    for pid in _descendants():
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peak = max(peak, int(line.split()[1]) / 1024)
    return peak


def _naive(pictures: list[bytes], count: int) -> float:
    """What one would write first: decode whole, measure on the full-size grey, thumbnail."""
    started = time.process_time()
    for i in range(count):
        image = Image.open(io.BytesIO(pictures[i % len(pictures)]))
        image.load()
        grey = np.asarray(image.convert("L"), dtype=np.float32)
        grey.mean(), grey.std()
        image.thumbnail((320, 320))
        image.save(io.BytesIO(), "JPEG", quality=80)
    return time.process_time() - started


# -- 304 throughput ---------------------------------------------------------------------------


def _app_server(tmp: str, camera_port: int, port_pipe: Connection) -> None:
    from aiohttp.test_utils import TestServer

    from cameras.keys import CAMERAS as KEY
    from canhbao.app import create_app

    async def main() -> None:
        app = create_app(_config(Path(tmp), camera_port, 1))
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        still = await app[KEY].poll("cam-0")
        assert still is not None
        assert still.still is not None
        port_pipe.send((server.port, f'"{still.still.sha256}"'))
        await asyncio.Event().wait()

    import logging

    logging.disable(logging.INFO)
    asyncio.run(main())


def _static_server(path: str, port_pipe: Connection) -> None:
    async def main() -> None:
        app = web.Application()
        app.router.add_static("/static", path)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port_pipe.send(runner.addresses[0][1])
        await asyncio.Event().wait()

    asyncio.run(main())


def _client(port: int, path: str, etag: str, out: Connection) -> None:
    async def connection() -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        request = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nIf-None-Match: {etag}\r\n\r\n"
        ).encode()
        not_modified = 0
        for _ in range(REQUESTS_PER_CONNECTION):
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            if head.startswith(b"HTTP/1.1 304"):
                not_modified += 1
            else:
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
        writer.close()
        return not_modified

    async def main() -> tuple[int, float]:
        started = time.monotonic()
        counts = await asyncio.gather(*(connection() for _ in range(CONNECTIONS)))
        return sum(counts), time.monotonic() - started

    out.send(asyncio.run(main()))


def _hammer(port: int, path: str, etag: str) -> tuple[float, float]:
    """(304 responses per second, share of answers that were 304) over CLIENTS processes."""
    context = multiprocessing.get_context("spawn")
    pipes, processes = [], []
    for _ in range(CLIENTS):
        parent, child = context.Pipe()
        process = context.Process(target=_client, args=(port, path, etag, child), daemon=True)
        process.start()
        pipes.append(parent)
        processes.append(process)
    results = [pipe.recv() for pipe in pipes]
    for process in processes:
        process.join()
    total = CLIENTS * CONNECTIONS * REQUESTS_PER_CONNECTION
    not_modified = sum(count for count, _ in results)
    seconds = max(elapsed for _, elapsed in results)
    return not_modified / seconds, not_modified / total


def _static_etag(port: int, path: str) -> str:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}") as answer:
        return str(answer.headers["ETag"])


def main() -> None:
    print(f"generating {PICTURES} pictures of {SIZE[0]} × {SIZE[1]}...", flush=True)
    pictures = [picture(seed) for seed in range(PICTURES)]
    average = statistics.mean(len(p) for p in pictures)
    cameras, camera_port = _start(_camera_server, pictures)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cpu, wall, outcomes, worker_rss = asyncio.run(_poll_minute(camera_port, Path(tmp)))
            rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            naive = _naive(pictures, CAMERAS)
            print(
                f"polling {CAMERAS} cameras once (one minute's work at a 60 s interval), "
                f"{average / 1024:.0f} KiB JPEGs, outcomes {outcomes}:"
            )
            print(
                f"  cameras domain: {cpu:.1f} CPU s per minute = {cpu / 60:.1%} of one core "
                f"(wall {wall:.1f} s); peak RSS {rss_mib:.0f} MiB (service), "
                f"{worker_rss:.0f} MiB (largest decode worker); "
                f"target under {CPU_TARGET_S:.0f} s (30 %): "
                f"{'MET' if cpu < CPU_TARGET_S else 'MISSED'}"
            )
            print(
                f"  anchor, full-size decode + Image.thumbnail (no fetch, no storage): "
                f"{naive:.1f} CPU s per minute; the domain, with fetching, checks and storage, "
                f"costs {cpu / naive:.2f}× that"
            )
        with tempfile.TemporaryDirectory() as tmp:
            app, (app_port, etag) = _start(_app_server, tmp, camera_port, daemon=False)
            still_file = Path(tmp) / "static" / "still.jpg"
            still_file.parent.mkdir()
            still_file.write_bytes(pictures[0])
            static, static_port = _start(_static_server, str(still_file.parent))
            try:
                static_tag = _static_etag(static_port, "/static/still.jpg")
                ours, theirs = [], []
                for _ in range(RUNS):
                    ours.append(_hammer(app_port, "/api/v1/cameras/cam-0/still", etag))
                    theirs.append(_hammer(static_port, "/static/still.jpg", static_tag))
            finally:
                app.terminate()
                app.join()
                static.terminate()
        ours_rps = statistics.median(rate for rate, _ in ours)
        theirs_rps = statistics.median(rate for rate, _ in theirs)
        print(
            f"still endpoint revalidation (If-None-Match → 304), {CLIENTS} client processes × "
            f"{CONNECTIONS} keep-alive connections, median of {RUNS}:"
        )
        print(
            f"  GET /api/v1/cameras/{{id}}/still: {ours_rps:,.0f} 304/s "
            f"({min(share for _, share in ours):.0%} were 304); target ≥ {RPS_TARGET:,}: "
            f"{'MET' if ours_rps >= RPS_TARGET else 'MISSED'}"
        )
        print(
            f"  anchor, aiohttp add_static (FileResponse, its own ETag): {theirs_rps:,.0f} 304/s "
            f"({min(share for _, share in theirs):.0%} were 304); ours is "
            f"{ours_rps / theirs_rps:.2f}× that"
        )
    finally:
        cameras.terminate()
