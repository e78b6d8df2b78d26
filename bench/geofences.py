"""Geofence targeting on 1 M devices beside PostGIS on the same points, in the same run.

1,000,000 devices are placed at random in Huế's 40 wards, in proportion to each ward's
population (20 % also subscribe to a second ward), and written to a real canhbao SQLite file.
A 250-vertex flood polygon over the city centre is then resolved:

- ours: the in-memory index (`PointIndex.query`, the same polygon, freshness filter) and the
  whole `plan_delivery` (161 m bleed, subscriptions, topics, per-ward counts);
- PostGIS: `ST_Covers(polygon, geom)` with the same freshness filter on the same 1 M points,
  GiST-indexed, vacuumed and analysed, in a throwaway cluster (PostgreSQL and PostGIS come from
  Debian packages, installed here if missing). Its time is the server's own "Execution Time"
  from EXPLAIN ANALYZE: no result transfer, no client, its parallel workers allowed: the most
  favourable figure PostGIS can show.

Both answers are checked equal, id for id. Also: the time to load the index of 1 M devices
from SQLite, the resident memory of `canhbao serve` holding them (from /proc), and device
registrations per second against that server over loopback (aiohttp client in this process,
CONCURRENCY requests in flight). Figures are medians.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import os
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import shapely

from canhbao.cli import main as cli_main
from canhbao.clock import SystemClock, utc_text
from canhbao.db import Database
from geofences.areas import prepare_import, read_document
from geofences.cli import HUE_OPTIONS, HUE_WARDS
from geofences.devices import DeviceRegistry, RegistrySettings
from geofences.geometry import buffer_m

# CANHBAO_BENCH_DEVICES makes a quick trial run smaller; the figures quoted are for 1 M.
DEVICES = int(os.environ.get("CANHBAO_BENCH_DEVICES", "1000000"))
SUBSCRIBED = 0.2
QUERY_RUNS = 21
LOAD_RUNS = 3
REGISTRATIONS = 20_000
REGISTRATION_RUNS = 3
CONCURRENCY = 64
SEED = 20251116
REPO = Path(__file__).resolve().parent.parent
PG_USER = "postgres"


# -- data ---------------------------------------------------------------------------------------


def hue_wards() -> list[Any]:
    plan = prepare_import(read_document(HUE_WARDS.read_bytes(), 10**8), HUE_OPTIONS)
    return [area for area in plan.areas if area.parent_code == "hue"]


def population_points(
    wards: list[Any], total: int, rng: np.random.Generator
) -> tuple[Any, Any, Any]:
    """`total` points, uniform inside each ward, in proportion to its population."""
    population = np.array([ward.population for ward in wards], dtype=float)
    counts = np.floor(population / population.sum() * total).astype(int)
    counts[: total - counts.sum()] += 1
    xs, ys, ward_index = [], [], []
    for index, (ward, count) in enumerate(zip(wards, counts, strict=True)):
        shapely.prepare(ward.geometry)
        minx, miny, maxx, maxy = ward.geometry.bounds
        got: list[Any] = []
        have = 0
        while have < count:
            x = rng.uniform(minx, maxx, count * 2)
            y = rng.uniform(miny, maxy, count * 2)
            keep = shapely.intersects_xy(ward.geometry, x, y)
            got.append(np.column_stack((x[keep], y[keep])))
            have += int(keep.sum())
        points = np.vstack(got)[:count]
        xs.append(points[:, 0])
        ys.append(points[:, 1])
        ward_index.append(np.full(count, index))
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ward_index)


def flood_polygon() -> Any:
    """250 vertices over central Huế, both banks of the Hương: a lobed ring 4-10 km out."""
    angles = np.linspace(0.0, 2.0 * math.pi, 250, endpoint=False)
    radius_km = 6.5 * (1 + 0.3 * np.sin(3 * angles + 0.5) + 0.12 * np.cos(7 * angles))
    lat0, lon0 = 16.465, 107.595
    dlat = radius_km / 111.2 * np.sin(angles)
    dlon = radius_km / (111.2 * math.cos(math.radians(lat0))) * np.cos(angles)
    polygon = shapely.Polygon(np.column_stack((lon0 + dlon, lat0 + dlat)))
    assert polygon.is_valid
    assert len(polygon.exterior.coords) == 251  # 250 vertices and the closing one
    return polygon


def build_database(workdir: Path, x: Any, y: Any, ward_index: Any, wards: list[Any]) -> Path:
    """A canhbao database (migrated, Huế's wards loaded) holding the devices."""
    config = workdir / "bench.toml"
    config.write_text(
        '[database]\npath = "canhbao.sqlite3"\n[log]\nlevel = "WARNING"\n', encoding="utf-8"
    )
    with contextlib.redirect_stdout(None):
        if cli_main(["--config", str(config), "areas", "load-hue"]) != 0:
            raise RuntimeError("could not load Huế's wards")
    path = workdir / "canhbao.sqlite3"
    conn = sqlite3.connect(path)
    try:
        area_ids = dict(conn.execute("SELECT code, id FROM geofences_areas"))
        ward_ids = np.array([area_ids[ward.code] for ward in wards])
        rng = np.random.default_rng(SEED + 1)
        now = datetime.now(UTC)
        # Every location fresh: reported in the last 12 hours.
        ages = rng.uniform(0, 12 * 3600, x.size)
        stamps = [utc_text(now - timedelta(seconds=float(age))) for age in ages]
        secret_hash = "0" * 64
        created = utc_text(now)
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO geofences_devices (id, public_id, secret_hash, token, platform,"
            " language, lon, lat, accuracy_m, located_at, location_area_id, location_topics,"
            " topics, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, 'android', 'vi', ?, ?, 20.0, ?, ?, 1, ?, ?, ?)",
            (
                (
                    i + 1,
                    f"bench-{i}",
                    secret_hash,
                    f"bench-token-{i:09d}-{'x' * 100}",
                    float(x[i]),
                    float(y[i]),
                    stamps[i],
                    int(ward_ids[ward_index[i]]),
                    f"area-hue area-{wards[ward_index[i]].code}",
                    created,
                    created,
                )
                for i in range(x.size)
            ),
        )
        subscribers = np.flatnonzero(rng.random(x.size) < SUBSCRIBED)
        family = rng.integers(0, len(wards), subscribers.size)
        conn.executemany(
            "INSERT INTO geofences_subscriptions (device_id, area_id) VALUES (?, ?)",
            ((int(d) + 1, int(ward_ids[w])) for d, w in zip(subscribers, family, strict=True)),
        )
        # The devices were written with their wards: as after the service's one-time
        # reassignment following an import.
        conn.execute(
            "UPDATE geofences_state SET value = (SELECT value FROM geofences_state"
            " WHERE key = 'areas_revision') WHERE key = 'assigned_revision'"
        )
        conn.execute("COMMIT")
    finally:
        conn.close()
    return path


# -- ours ---------------------------------------------------------------------------------------


async def load_registry(path: Path) -> tuple[DeviceRegistry, float, float]:
    """A registry loaded from the database: (it, wall seconds, CPU seconds of all threads)."""
    db = Database(path)
    await db.open()
    try:
        registry = DeviceRegistry(db, SystemClock(), None, RegistrySettings())
        started, cpu = time.perf_counter(), time.process_time()
        await registry.load()
        return registry, time.perf_counter() - started, time.process_time() - cpu
    finally:
        await db.close()


def time_ours(registry: DeviceRegistry, flood: Any) -> tuple[list[float], list[float], Any]:
    since = (datetime.now(UTC) - timedelta(hours=24)).timestamp()
    query_ms, plan_ms = [], []
    ids = None
    for _ in range(QUERY_RUNS):
        polygon = shapely.Polygon(flood)  # a fresh, unprepared copy each time, as a warning is
        started = time.perf_counter()
        hits = registry.devices.query(polygon, since)
        query_ms.append((time.perf_counter() - started) * 1000)
        ids = hits.ids
        started = time.perf_counter()
        registry.plan(shapely.Polygon(flood))
        plan_ms.append((time.perf_counter() - started) * 1000)
    return query_ms, plan_ms, np.sort(np.asarray(ids))


# -- PostGIS ------------------------------------------------------------------------------------


def ensure_postgis() -> Path:
    """The bin directory of a PostgreSQL with PostGIS, installing Debian's packages if needed."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    if not versions:
        _apt_install(["postgresql"])
        versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    bindir = versions[-1].parent
    major = bindir.parent.name
    if not Path(f"/usr/share/postgresql/{major}/extension/postgis.control").exists():
        _apt_install([f"postgresql-{major}-postgis-3"])
    return bindir


def _apt_install(packages: list[str]) -> None:
    if os.geteuid() != 0:
        raise RuntimeError(f"install {' '.join(packages)} (needs root), then run again")
    print(f"installing {' '.join(packages)} from Debian's packages", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )


def _as_postgres(command: list[str]) -> list[str]:
    # initdb refuses to run as root: the cluster belongs to the postgres user.
    return ["runuser", "-u", PG_USER, "--", *command] if os.geteuid() == 0 else command


@contextlib.contextmanager
def postgres_cluster(bindir: Path, workdir: Path) -> Iterator[list[str]]:
    """A throwaway cluster on a private port and socket; yields the psql command prefix."""
    data = workdir / "pg"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(workdir, PG_USER)
        shutil.chown(data, PG_USER)
    subprocess.run(
        _as_postgres([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", PG_USER]),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    port = _free_port()
    options = (
        f"-p {port} -k {workdir} -c listen_addresses='' -c shared_buffers=512MB"
        " -c work_mem=64MB -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    )
    start = [str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(data / "log")]
    subprocess.run(_as_postgres([*start, "-w", "start"]), check=True, stdout=subprocess.DEVNULL)
    try:
        yield [
            str(bindir / "psql"),
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            str(workdir),
            "-p",
            str(port),
            "-U",
            PG_USER,
            "postgres",
        ]
    finally:
        subprocess.run(
            _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            check=False,
            stdout=subprocess.DEVNULL,
        )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def psql(prefix: list[str], sql: str) -> str:
    done = subprocess.run(prefix, input=sql, text=True, capture_output=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"psql failed: {done.stderr.strip()}")
    return done.stdout


def time_postgis(
    prefix: list[str], db_path: Path, workdir: Path, flood: Any
) -> tuple[list[float], Any, float]:
    """Load the same points, index them, time ST_Covers; returns (ms per run, ids, setup s)."""
    started = time.perf_counter()
    csv_path = workdir / "devices.csv"
    conn = sqlite3.connect(db_path)
    try:
        with csv_path.open("w", encoding="utf-8") as out:
            rows = conn.execute("SELECT id, lon, lat, located_at FROM geofences_devices")
            # repr() of a float is the shortest text that reads back to the same double.
            out.writelines(f"{i},{lon!r},{lat!r},{at}\n" for i, lon, lat, at in rows)
    finally:
        conn.close()
    if os.geteuid() == 0:
        shutil.chown(csv_path, PG_USER)
    psql(
        prefix,
        f"""
        CREATE EXTENSION postgis;
        CREATE UNLOGGED TABLE staging (id bigint, lon float8, lat float8, located_at timestamptz);
        COPY staging FROM '{csv_path}' WITH (FORMAT csv);
        CREATE TABLE devices AS
            SELECT id, located_at, ST_SetSRID(ST_MakePoint(lon, lat), 4326) AS geom FROM staging;
        DROP TABLE staging;
        ALTER TABLE devices ADD PRIMARY KEY (id);
        CREATE INDEX devices_geom ON devices USING gist (geom);
        VACUUM ANALYZE devices;
        """,  # noqa: S608  # our own file path, no outside input
    )
    setup_s = time.perf_counter() - started
    since = utc_text(datetime.now(UTC) - timedelta(hours=24))
    # As WKB: the very same doubles as ours, no decimal text in between.
    polygon = f"ST_GeomFromWKB(decode('{shapely.to_wkb(flood, hex=True)}', 'hex'), 4326)"
    where = f"ST_Covers({polygon}, geom) AND located_at >= '{since}'"
    ids_text = psql(prefix, f"SELECT id FROM devices WHERE {where} ORDER BY id;")  # noqa: S608  # our own polygon
    ids = np.array([int(line) for line in ids_text.split()], dtype=np.int64)
    plan = psql(prefix, f"EXPLAIN SELECT id FROM devices WHERE {where};")  # noqa: S608  # ours
    if "devices_geom" not in plan:
        raise RuntimeError(f"PostGIS did not use its GiST index:\n{plan}")
    # One session for every run, after a warm-up, so the table and index are in shared buffers.
    select = f"SELECT id FROM devices WHERE {where};\n"  # noqa: S608  # our own polygon
    explain = "EXPLAIN (ANALYZE, TIMING OFF, BUFFERS OFF) " + select
    output = psql(prefix, explain * (QUERY_RUNS + 2))
    times = [float(t) for t in re.findall(r"Execution Time: ([0-9.]+) ms", output)][2:]
    return times, ids, setup_s


# -- the running service ------------------------------------------------------------------------


@contextlib.contextmanager
def serve(workdir: Path, database: Path) -> Iterator[tuple[str, int]]:
    """`canhbao serve` in its own process on a copy of `database`; yields (base URL, pid)."""
    port = _free_port()
    config = workdir / f"serve-{port}.toml"
    copy = workdir / f"serve-{port}.sqlite3"
    shutil.copy(database, copy)
    config.write_text(
        f'[server]\nport = {port}\n[database]\npath = "{copy.name}"\n[log]\nlevel = "WARNING"\n'
        # Every request comes from 127.0.0.1: the per-address limit would measure itself.
        "[geofences.rate_limit]\nper_second = 1e9\nburst = 1000000000\n",
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "canhbao", "--config", str(config), "serve"],
        cwd=REPO,
        env=env,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError("canhbao serve exited during start-up")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.1)
        yield base, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_kb(pid: int) -> dict[str, int]:
    status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    return {
        key: int(value) for key, value in re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", status, re.M)
    }


async def registrations_per_second(base: str, run: int) -> float:
    counter = itertools.count()
    rng = np.random.default_rng(SEED + run)
    lon = rng.uniform(107.55, 107.62, REGISTRATIONS)
    lat = rng.uniform(16.44, 16.49, REGISTRATIONS)
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            while (i := next(counter)) < REGISTRATIONS:
                body = {
                    "token": f"bench-new-{run}-{i:09d}-{'y' * 100}",
                    "platform": "android",
                    "language": "vi",
                    "location": {"lat": lat[i], "lon": lon[i], "accuracy_m": 15},
                    "area_codes": ["hue.phu-xuan"],
                }
                async with session.post(f"{base}/api/v1/devices", json=body) as response:
                    if response.status != 201:
                        raise RuntimeError(f"registration failed: {await response.text()}")
                    await response.read()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return REGISTRATIONS / (time.perf_counter() - started)


# -- the report ---------------------------------------------------------------------------------


def main() -> None:
    rng = np.random.default_rng(SEED)
    wards = hue_wards()
    flood = flood_polygon()
    with tempfile.TemporaryDirectory(prefix="canhbao-geofences-") as tmp:
        workdir = Path(tmp)
        x, y, ward_index = population_points(wards, DEVICES, rng)
        started = time.perf_counter()
        db_path = build_database(workdir, x, y, ward_index, wards)
        print(
            f"{DEVICES:,} devices over Huế's 40 wards written to SQLite in"
            f" {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        del x, y, ward_index

        loads, load_cpu = [], []
        registry = None
        for _ in range(LOAD_RUNS):
            registry = None  # let the previous index go before loading the next
            registry, seconds, cpu = asyncio.run(load_registry(db_path))
            loads.append(seconds)
            load_cpu.append(cpu)
        assert registry is not None
        query_ms, plan_ms, our_ids = time_ours(registry, flood)
        reach = buffer_m(flood, 161.0)
        plan = registry.plan(shapely.Polygon(flood))
        index_mb = registry.devices.nbytes() / 1e6
        del registry

        bindir = ensure_postgis()
        # Its own top-level folder: the postgres user cannot enter ours (mode 0700, root's).
        pg_dir = Path(tempfile.mkdtemp(prefix="canhbao-pg-"))
        try:
            with postgres_cluster(bindir, pg_dir) as prefix:
                pg_ms, pg_ids, pg_setup = time_postgis(prefix, db_path, pg_dir, flood)
        finally:
            shutil.rmtree(pg_dir, ignore_errors=True)
        if not np.array_equal(our_ids, pg_ids):
            raise RuntimeError(
                f"answers differ: ours {our_ids.size:,} devices, PostGIS {pg_ids.size:,}"
            )

        with serve(workdir, db_path) as (base, pid):
            memory = memory_kb(pid)
            rates, server_us = [], []
            for run in range(REGISTRATION_RUNS):
                before = cpu_seconds(pid)
                rates.append(asyncio.run(registrations_per_second(base, run)))
                server_us.append((cpu_seconds(pid) - before) / REGISTRATIONS * 1e6)
        with serve(workdir, _areas_only(workdir, db_path)) as (_, pid):
            empty = memory_kb(pid)

    ours, whole, theirs = (statistics.median(v) for v in (query_ms, plan_ms, pg_ms))
    print(
        f"flood polygon: 250 vertices, {our_ids.size:,} devices inside (PostGIS agrees, id for id);"
        f" with the 161 m bleed, {plan.device_count:,} recipients:"
        f" {plan.topic_device_ids.size:,} by {len(plan.topics)} topics,"
        f" {plan.token_device_ids.size:,} by token"
        f" (the grown polygon has {len(shapely.get_coordinates(reach))} points)"
    )
    print(
        f"PostGIS ST_Covers + GiST (server execution time, {QUERY_RUNS} runs): {theirs:.1f} ms"
        " (anchor)"
    )
    print(
        f"ours, index query, same polygon and filter:        {ours:.1f} ms"
        f"  = {theirs / ours:.1f}× faster than PostGIS (target ≥ 6×, ≤ 50 ms)"
    )
    print(
        f"ours, whole plan_delivery (bleed, subscriptions, topics, per-ward counts): {whole:.1f} ms"
        f"  = {theirs / whole:.1f}× faster than PostGIS's bare query"
    )
    print(
        f"index load, {DEVICES:,} devices from SQLite: {statistics.median(loads):.2f} s"
        f" ({statistics.median(load_cpu):.2f} s of CPU; target ≤ 3 s;"
        f" PostGIS COPY + GiST + VACUUM ANALYZE took {pg_setup:.1f} s)"
    )
    print(
        f"canhbao serve resident memory with {DEVICES:,} devices: {memory['VmRSS'] / 1024:.0f} MB"
        f" (peak {memory['VmHWM'] / 1024:.0f} MB; {empty['VmRSS'] / 1024:.0f} MB with none;"
        f" index arrays {index_mb:.0f} MB; target ≤ 400 MB)"
    )
    print(
        f"device registrations over loopback ({CONCURRENCY} in flight, {REGISTRATIONS:,} a run,"
        f" into the {DEVICES:,}-device database): {statistics.median(rates):,.0f} req/s"
        f" (runs: {', '.join(f'{r:,.0f}' for r in rates)}; target ≥ 2,000;"
        f" the server spent {statistics.median(server_us):.0f} µs of CPU per registration)"
    )


def _areas_only(workdir: Path, database: Path) -> Path:
    """A copy of the database without its devices (the service's baseline memory)."""
    copy = workdir / "areas-only.sqlite3"
    shutil.copy(database, copy)
    conn = sqlite3.connect(copy)
    try:
        conn.execute("DELETE FROM geofences_subscriptions")
        conn.execute("DELETE FROM geofences_devices")
        conn.commit()
        conn.execute("VACUUM")
    finally:
        conn.close()
    return copy


if __name__ == "__main__":
    main()
