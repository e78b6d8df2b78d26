"""THE exercise end to end (issue #16, "Done means"): the shipped scenario, cut to twelve flood
hours, run by a real `canhbao exercise run` process at 3,600×. While it plays, the trainer (an
admin of the real database) waits for the auto-draft, pauses the flood, has it approved and
issued by two staff users, and resumes; the process ends on its own. Then its database holds:
the auto-drafts at the hours the river crossed báo động II and III, the warning delivered to
every simulated device, the simulated calls in the call log, callers called back, rescue
requests offered, accepted and resolved; the after-action report it wrote holds those figures
— and the real database holds none of it."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from canhbao.auth.store import Accounts
from canhbao.clock import SystemClock, parse_utc, to_local
from canhbao.config import load_config
from canhbao.db import Database
from tests.exercises.conftest import REPO, free_port, scenario_file
from tests.exercises.test_run import WINDOW, Login

PASSWORD = "-password-for-tests"
# A hang guard, not a wait: the process's start-up took over 30 s at a load average of 10 (the
# console's end-to-end tests guard theirs the same way).
pytestmark = pytest.mark.timeout(240)


async def _staff(config_path: Path) -> None:
    from canhbao.app import all_migrations

    config = load_config(config_path)
    db = Database(config.resolve(config.database.path))
    await db.open()
    try:
        await db.migrate(all_migrations())
        accounts = Accounts(db, SystemClock(), config.auth)
        await accounts.create_user("lan", "lan" + PASSWORD, ["issuer"], actor="test")
        await accounts.create_user("minh", "minh" + PASSWORD, ["approver", "admin"], actor="test")
    finally:
        await db.close()


async def _login(session: aiohttp.ClientSession, base: str, username: str) -> Login:
    async with session.post(
        base + "/api/v1/auth/login", json={"username": username, "password": username + PASSWORD}
    ) as response:
        assert response.status == 200, await response.text()
        return Login(session, base, (await response.json())["csrf_token"])


@contextlib.contextmanager
def _rows(path: Path) -> Iterator[sqlite3.Connection]:
    with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as db:
        db.row_factory = sqlite3.Row
        yield db


async def test_the_shipped_scenario_through_a_real_exercise_process(tmp_path: Path) -> None:
    config_path = tmp_path / "config.toml"
    config_path.write_text(
        '[database]\npath = "real.sqlite3"\n[log]\nlevel = "WARNING"\n'
        "[auth]\nargon2_time_cost = 1\nargon2_memory_kib = 8\nargon2_parallelism = 1\n",
        encoding="utf-8",
    )
    await _staff(config_path)
    real_db = tmp_path / "real.sqlite3"
    before = hashlib.sha256(real_db.read_bytes()).hexdigest()
    scenario = scenario_file(tmp_path, *WINDOW)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "canhbao", "--config", str(config_path), "exercise", "run",
        str(scenario), "--speed", "3600", "--port", str(port),
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        async with asyncio.timeout(120):
            announced = (await process.stdout.readline()).decode()
            assert announced.startswith("DIỄN TẬP / EXERCISE: hue-2025-11 at " + base)
            assert (await process.stdout.readline()).strip() == b"READY"
        async with (
            aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as lan_session,
            aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as minh_session,
        ):
            lan = await _login(lan_session, base, "lan")
            minh = await _login(minh_session, base, "minh")
            draft: dict[str, Any] | None = None
            async with asyncio.timeout(120):
                # The flood runs in another process: there is no event here to wait on.
                while draft is None:
                    found = await lan.get("/api/v1/alerts?state=draft")
                    drafts = [a for a in found["alerts"] if a["origin"] == "auto"]
                    draft = drafts[0] if drafts else None
                    if draft is None:
                        await asyncio.sleep(0.05)
            paused = await minh.post("/api/v1/exercise/pause")
            assert paused["state"] == "paused"
            identifier = draft["identifier"]
            for user, action in ((lan, "submit"), (minh, "approve"), (minh, "issue")):
                seen = await user.get(f"/api/v1/alerts/{identifier}")
                await user.post(
                    f"/api/v1/alerts/{identifier}/{action}", {"version": seen["version"]}
                )
            assert (await minh.post("/api/v1/exercise/resume"))["state"] == "running"
        async with asyncio.timeout(120):
            assert await process.wait() == 0
        assert (await process.stdout.read()).decode().strip() == "exercise hue-2025-11: ended"
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    database = next((tmp_path / "exercises").glob("hue-2025-11-*.sqlite3"))
    status_file = database.with_name(database.name + ".status.json")
    status = json.loads(status_file.read_text(encoding="utf-8"))  # the run is over
    assert status["state"] == "ended"
    with _rows(database) as db:
        crossings = db.execute(
            "SELECT to_level, observed_at FROM feeds_events WHERE station_id = '71518'"
            " AND to_level >= 2 AND to_level > from_level ORDER BY observed_at"
        ).fetchall()
        drafts = db.execute(
            "SELECT a.at, l.document FROM audit_log a JOIN alerting_alerts l"
            " ON l.identifier = a.entity_id WHERE a.action = 'alert.create' AND l.origin = 'auto'"
            " ORDER BY a.id"
        ).fetchall()
        # Báo động II at 22:00 and III at 04:00 (local): each has its auto-draft, made after
        # the reading and quoting its hour. (How long after, in flood minutes, depends on the
        # machine's load at 3,600×: bench.exercise measures it.)
        hours = [
            (row["to_level"], to_local(parse_utc(row["observed_at"])).hour) for row in crossings
        ]
        assert hours[:2] == [(2, 22), (3, 4)]
        quotes = ("22:00 ngày 16/11/2025", "04:00 ngày 17/11/2025")
        for row, quoted in zip(crossings[:2], quotes, strict=True):
            crossed = parse_utc(row["observed_at"])
            assert any(
                parse_utc(draft["at"]) >= crossed and quoted in draft["document"]
                for draft in drafts
            ), (quoted, [draft["at"] for draft in drafts])
        issued = db.execute(
            "SELECT status, json_extract(document, '$.note') AS note FROM alerting_alerts"
            " WHERE identifier = ?",
            (identifier,),
        ).fetchone()
        assert tuple(issued) == ("Exercise", "Diễn tập / Exercise: hue-2025-11")
        sent = db.execute(
            "SELECT channel, COUNT(*) FROM outbox WHERE reference = ? AND status = 'sent'"
            " GROUP BY channel",
            (identifier,),
        ).fetchall()
        assert dict(map(tuple, sent)) == {"push": 60, "sms": 10}  # every simulated person
        inbound = db.execute("SELECT COUNT(*) FROM hotline_calls WHERE kind = 'inbound'")
        assert inbound.fetchone()[0] == status["calls"] > 0
        called_back = db.execute("SELECT COUNT(*) FROM hotline_callback_attempts").fetchone()
        assert called_back[0] > 0
        offers = dict(
            map(tuple, db.execute("SELECT status, COUNT(*) FROM dispatch_offers GROUP BY status"))
        )
        assert offers.get("done", 0) + offers.get("accepted", 0) > 0
        resolved = db.execute("SELECT COUNT(*) FROM dispatch_requests WHERE state = 'resolved'")
        assert resolved.fetchone()[0] > 0
    # The after-action report the run wrote as it ended holds the same figures.
    folder = database.with_name(database.stem + "-report")
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    (crossed,) = [c for c in report["crossings"] if c["warning"] == identifier]
    assert crossed["band"] >= 2
    assert crossed["targeted_devices"] == 60
    assert 0 <= crossed["to_draft_s"] <= crossed["to_issue_s"] <= crossed["to_100_percent_s"]
    assert report["calls"]["offered"] == status["calls"]
    assert report["calls"]["called_back"] > 0
    resolved_in_report = sum(
        group["to_resolved"]["count"] for group in report["rescue"]["by_priority"].values()
    )
    assert resolved_in_report > 0
    assert "Diễn tập / Exercise: hue-2025-11" in (folder / "report.html").read_text("utf-8")
    assert (folder / "report.pdf").read_bytes().startswith(b"%PDF")
    assert hashlib.sha256(real_db.read_bytes()).hexdigest() == before
