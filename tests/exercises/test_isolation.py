"""An exercise can never reach a real person, nor leave anything in the real service: each
property of the exercise's config and database proven on its own; the control API; a crashed
run marked on the next start; bad input refused before anything starts."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from canhbao.adapters.exercise_mode import (
    end_interrupted,
    exercise_config,
    prepare_database,
    scaled,
    write_status,
)
from canhbao.cli import main
from canhbao.config import Config
from tests.alerting.test_delivery import body
from tests.conftest import AppClient, StaffFactory, make_config
from tests.exercises.conftest import STAMP, RunFactory, scenario_file

PRODUCTION = {
    "push": {"provider": "firebase", "firebase": {"project_id": "pctt-hue"}},
    "telephony": {"provider": "twilio"},
    "feeds": {"vndms": {"enabled": True}, "openmeteo": {"enabled": True}},
    "alerting": {
        "imports": [{"name": "nchmf", "kind": "cap-atom", "url": "https://example.org/cap.atom"}],
    },
}


@pytest.fixture
def production(tmp_path: Path) -> Config:
    """A config as production has it: Firebase, Twilio, live feeds, a CAP import."""
    return make_config(tmp_path, PRODUCTION)


def test_the_exercise_config_reaches_no_one_and_takes_nothing_in(production: Config) -> None:
    config = exercise_config(production, "hue-2025-11", STAMP, 18090, 3600)
    assert config.push.provider == "local"
    assert config.telephony.provider == "local"
    assert config.telephony.hotline_number == production.telephony.hotline_number
    assert not config.feeds.schedule
    assert not config.feeds.vndms.enabled
    assert not config.feeds.openmeteo.enabled
    assert config.alerting.imports == ()
    assert not config.alerting.import_schedule
    assert config.cameras.cameras == ()
    assert config.alerting.status == "Exercise"
    assert config.alerting.exercise == "hue-2025-11"
    assert config.server.port == 18090
    assert config.server.public_base_url == "http://127.0.0.1:18090"
    database = config.resolve(config.database.path)
    assert database != production.resolve(production.database.path)
    assert database.parent.name == "exercises"
    assert database.name == "hue-2025-11-20260501T020304Z.sqlite3"
    # Jobs looking for due work look 3,600 times as often (not under 50 ms).
    assert config.hotline.callback_poll_interval_s == 0.05
    assert config.dispatch.offers.poll_interval_s == scaled(30.0, 3600) == 0.05
    assert scaled(30.0, 60) == 0.5
    assert scaled(30.0, 0.5) == 30.0  # slower than real time: never looks less often


async def test_the_real_database_is_refused_and_so_is_a_second_run_in_one_file(
    production: Config,
) -> None:
    same = dataclasses.replace(production, alerting=production.alerting)
    with pytest.raises(Exception, match="real database"):
        await prepare_database(production, same)
    config = exercise_config(production, "hue-2025-11", STAMP, 18090)
    await prepare_database(production, config)
    with pytest.raises(Exception, match="exists already"):
        await prepare_database(production, config)
    assert not production.resolve(production.database.path).exists()  # never created


@pytest.mark.parametrize("asked", ["Actual", "Test", ""])
async def test_every_message_of_an_exercise_is_exercise_with_its_note(
    app_client: AppClient, staff: StaffFactory, tmp_path: Path, asked: str
) -> None:
    """Whatever its author asks for, a message made in exercise mode is status Exercise and
    its <note> names the exercise; the same request outside it stays as asked."""
    config = make_config(
        tmp_path,
        {"alerting": {"exercise": "hue-2025-11"}, "geofences": {"first_start_hue_wards": True}},
    )
    client = await app_client(config=config)
    lan = await staff(client, "lan", roles=["issuer"])
    sent = _alert_body(asked)
    created = await lan.post("/api/v1/alerts", json=sent)
    assert created.status == 201, await created.text()
    stored = await created.json()
    assert stored["status"] == "Exercise"
    assert stored["alert"]["status"] == "Exercise"
    assert stored["alert"]["note"] == "Diễn tập / Exercise: hue-2025-11"
    edited = await lan.put(
        f"/api/v1/alerts/{stored['identifier']}?version={stored['version']}", json=sent
    )
    assert edited.status == 200, await edited.text()
    assert (await edited.json())["alert"]["status"] == "Exercise"
    assert (await edited.json())["alert"]["note"] == "Diễn tập / Exercise: hue-2025-11"


def _alert_body(status: str) -> dict[str, Any]:
    return {**body(), "status": status} if status else body()


def test_a_run_left_running_by_a_dead_process_is_marked_interrupted(tmp_path: Path) -> None:
    folder = tmp_path / "exercises"
    folder.mkdir()
    crashed = folder / "hue-2025-11-20260501T000000Z.sqlite3"
    live = folder / "hue-2025-11-20260501T010000Z.sqlite3"
    done = folder / "hue-2025-11-20260501T020000Z.sqlite3"
    write_status(crashed, "running")
    write_status(live, "running")
    write_status(done, "ended")
    gone = subprocess.run(  # our own interpreter: a pid that is gone
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    status_of = crashed.with_name(crashed.name + ".status.json")
    status = json.loads(status_of.read_text(encoding="utf-8"))
    status_of.write_text(json.dumps({**status, "pid": int(gone.stdout)}), encoding="utf-8")
    assert end_interrupted(folder) == [status_of]
    assert json.loads(status_of.read_text(encoding="utf-8"))["state"] == "interrupted"
    live_status = live.with_name(live.name + ".status.json").read_text(encoding="utf-8")
    assert json.loads(live_status) == {"state": "running", "pid": os.getpid()}
    assert end_interrupted(folder) == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--speed", "0"], "speed 0: must be over 0"),
        (["--speed", "-5"], "speed -5: must be over 0"),
        (["--speed", "100000"], "at most 3600"),
        (["--port", "0"], "--port 0"),
    ],
)
def test_run_refuses_bad_input_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    config_file = _config_file(tmp_path)
    scenario = scenario_file(tmp_path)
    code = main(["--config", str(config_file), "exercise", "run", str(scenario), *argv])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "var").exists()  # no database, real or exercise


def test_run_refuses_a_bad_scenario_naming_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_file = _config_file(tmp_path)
    scenario = scenario_file(tmp_path, ('stations = ["71520", "71518"]', 'stations = ["99999"]'))
    code = main(["--config", str(config_file), "exercise", "run", str(scenario)])
    assert code == 2
    err = capsys.readouterr().err
    assert f"{scenario}:" in err
    assert "99999" in err
    assert not (tmp_path / "var").exists()


def _config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text('[database]\npath = "var/canhbao.sqlite3"\n', encoding="utf-8")
    return path


async def test_the_control_api_pauses_resumes_speeds_and_stops(
    exercise_run: RunFactory, tmp_path: Path
) -> None:
    """An admin of the exercise pauses its flood, changes its speed, resumes and stops it;
    the checks of `run` apply (a speed of 0 is a 400 naming it); other staff see it only."""
    run = await exercise_run(
        ("devices = 2000", "devices = 5"), ("phone_only = 300", "phone_only = 1"), speed=60
    )
    from canhbao.auth.middleware import accounts_for

    accounts = accounts_for(run.app)
    await accounts.create_user("boss", "boss-password-for-tests", ["admin"], actor="test")
    await accounts.create_user("lan", "lan-password-for-tests", ["issuer"], actor="test")
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as session:
        csrf = await _login(session, run.url, "boss")
        headers = {"X-CSRF-Token": csrf}
        async with session.get(run.url + "/api/v1/exercise") as response:
            status = await response.json()
        assert status["exercise"] == "hue-2025-11"
        assert status["state"] == "starting"
        assert status["speed"] == 60
        async with session.post(
            run.url + "/api/v1/exercise/speed", json={"speed": 0}, headers=headers
        ) as response:
            assert response.status == 400
            assert "speed 0" in (await response.json())["error"]["message"]
        async with session.post(
            run.url + "/api/v1/exercise/speed", json={"speed": 600}, headers=headers
        ) as response:
            assert (await response.json())["speed"] == 600
        async with session.post(run.url + "/api/v1/exercise/stop", headers=headers) as response:
            assert (await response.json())["state"] == "stopped"
        async with session.post(run.url + "/api/v1/exercise/pause", headers=headers) as response:
            assert response.status == 409
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        csrf = await _login(session, run.url, "lan")
        async with session.get(run.url + "/api/v1/exercise") as response:
            assert (await response.json())["state"] == "stopped"  # any staff sees the banner
        async with session.post(
            run.url + "/api/v1/exercise/resume", headers={"X-CSRF-Token": csrf}
        ) as response:
            assert response.status == 403  # only an admin controls it
    progress = await run.runner.run()
    assert progress.state == "stopped"


async def test_pause_holds_the_flood_and_resume_goes_on(exercise_run: RunFactory) -> None:
    run = await exercise_run(
        ("devices = 2000", "devices = 5"), ("phone_only = 300", "phone_only = 1"), speed=60
    )
    runner = run.runner
    runner.progress.state = "running"
    runner.clock.resume()
    runner.pause()
    assert runner.progress.state == "paused"
    held = runner.clock.now()
    assert runner.clock.now() == held
    runner.resume()
    assert runner.progress.state == "running"
    assert runner.clock.now() >= held


async def _login(session: aiohttp.ClientSession, url: str, username: str) -> str:
    async with session.post(
        url + "/api/v1/auth/login",
        json={"username": username, "password": f"{username}-password-for-tests"},
    ) as response:
        assert response.status == 200, await response.text()
        csrf: str = (await response.json())["csrf_token"]
        return csrf


def test_stamp_is_utc(tmp_path: Path) -> None:
    config = exercise_config(
        make_config(tmp_path), "x", datetime(2026, 5, 1, 9, 0, tzinfo=UTC), 18090
    )
    assert config.database.path.endswith("x-20260501T090000Z.sqlite3")
