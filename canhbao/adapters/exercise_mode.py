"""`canhbao exercise run`: a scenario played against the whole service, isolated from the real
one (issue #16; README "Exercises").

The run is the real app (create_app) in one process, on its own port, with:
- its own database file, var/exercises/<name>-<UTC stamp>.sqlite3 beside the real one, which
  receives only the staff accounts (read from the real database, never written to it);
- the Local push and telephony providers whatever the config says, and no feed polling, camera
  fetching or CAP import: nothing of the run leaves the machine, nothing real comes in;
- every CAP message status Exercise with a <note> naming the exercise (alerting's `exercise`
  setting), which keeps it out of the public feed and pages and sends it to the exercise's
  audience alone: the simulated devices and phones, enrolled as its test audience;
- one scaled clock (canhbao.clock.ScaledClock) that every component reads;
- a status file beside the database, so that a run a crash ended is marked so at the next start.

It is one process, not `canhbao serve`'s two: the sender process is started with a config
file, and an exercise's config is built here from the real one; one process also shares the
scaled clock without a second copy drifting from it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from canhbao.adapters.exercise_report import write_end_report
from canhbao.adapters.exercise_service import LocalExerciseService
from canhbao.auth import Role, require_roles
from canhbao.auth.store import copy_users, read_users
from canhbao.clock import ScaledClock
from canhbao.config import Config, PushConfig
from canhbao.db import Database
from canhbao.http import ApiError
from exercises.errors import ExerciseError
from exercises.models import Scenario
from exercises.population import spread
from exercises.runner import ExerciseRunner, Progress, check_speed
from exercises.scenario import ScenarioContext
from exercises.traffic import traffic

log = logging.getLogger(__name__)

DEFAULT_PORT = 8090
MIN_INTERVAL_S = 0.05
RUNNER = web.AppKey("exercise_runner", ExerciseRunner)
STATUS_SUFFIX = ".status.json"


def exercise_database(config: Config, name: str, stamp: datetime) -> Path:
    """Where a run keeps its own database: beside the real one, under exercises/."""
    real = config.resolve(config.database.path)
    return real.parent / "exercises" / f"{name}-{stamp.astimezone(UTC):%Y%m%dT%H%M%SZ}.sqlite3"


def exercise_config(
    config: Config, name: str, stamp: datetime, port: int, speed: float = 1.0
) -> Config:
    """The real config turned into an exercise's: what is changed is what makes it isolated,
    and the jobs that look for due work every so many wall seconds look `speed` times as often
    (what they look for is due in flood time)."""
    feeds = config.feeds
    offers = config.dispatch.offers
    return dataclasses.replace(
        config,
        server=dataclasses.replace(
            config.server, port=port, public_base_url=f"http://{_host(config)}:{port}"
        ),
        database=dataclasses.replace(
            config.database, path=str(exercise_database(config, name, stamp))
        ),
        push=PushConfig(provider="local"),
        telephony=dataclasses.replace(config.telephony, provider="local"),
        feeds=dataclasses.replace(
            feeds,
            schedule=False,
            vndms=dataclasses.replace(feeds.vndms, enabled=False),
            sensorthings=dataclasses.replace(feeds.sensorthings, enabled=False),
            ea=dataclasses.replace(feeds.ea, enabled=False),
            openmeteo=dataclasses.replace(feeds.openmeteo, enabled=False),
            nws=dataclasses.replace(feeds.nws, enabled=False),
            replay=dataclasses.replace(feeds.replay, enabled=False),
        ),
        # The scenario's wards are the shipped ones (exercises.scenario checks them): the
        # exercise's empty database gets them at its first start.
        geofences=dataclasses.replace(
            config.geofences,
            first_start_hue_wards=True,
            maintenance_interval_s=scaled(config.geofences.maintenance_interval_s, speed),
        ),
        hotline=dataclasses.replace(
            config.hotline,
            callback_poll_interval_s=scaled(config.hotline.callback_poll_interval_s, speed),
        ),
        dispatch=dataclasses.replace(
            config.dispatch,
            offers=dataclasses.replace(
                offers, poll_interval_s=scaled(offers.poll_interval_s, speed)
            ),
        ),
        cameras=dataclasses.replace(config.cameras, schedule=False, cameras=()),
        alerting=dataclasses.replace(
            config.alerting,
            status="Exercise",
            exercise=name,
            expiry_interval_s=scaled(config.alerting.expiry_interval_s, speed),
            imports=(),
            import_schedule=False,
        ),
    )


def scaled(seconds: float, speed: float) -> float:
    """A job's wall-clock interval at `speed` (never longer than configured, nor under 50 ms:
    faster than that the jobs would only compete with the web handlers)."""
    return max(MIN_INTERVAL_S, min(seconds, seconds / speed))


def _host(config: Config) -> str:
    host = config.server.host
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host  # noqa: S104  # compared, not bound


async def prepare_database(real: Config, exercise: Config) -> int:
    """Create and migrate the exercise's database and copy the staff accounts into it; returns
    how many. Refuses a path that is the real database."""
    from canhbao.app import all_migrations  # the app imports every domain

    path = exercise.resolve(exercise.database.path)
    if path.resolve() == real.resolve(real.database.path).resolve():
        raise ExerciseError("an exercise cannot run in the real database")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        raise ExerciseError(f"{path} exists already: one run, one database")
    users = read_users(real.resolve(real.database.path))
    db = Database(path, exercise.database.busy_timeout_ms)
    await db.open()
    try:
        await db.migrate(all_migrations())
        async with db.transaction() as conn:
            return await copy_users(conn, users)
    finally:
        await db.close()


def write_status(database: Path, state: str, **extra: Any) -> None:
    """The run's state beside its database (its pid while it runs)."""
    status = {"state": state, "pid": os.getpid(), **extra}
    database.with_name(database.name + STATUS_SUFFIX).write_text(
        json.dumps(status, ensure_ascii=False), encoding="utf-8"
    )


def end_interrupted(folder: Path) -> list[Path]:
    """Runs left `running` by a process that is gone (a crash, a kill -9) are marked
    `interrupted`: their databases stay for the record, nothing of them runs on."""
    ended: list[Path] = []
    if not folder.is_dir():
        return ended
    for status_file in sorted(folder.glob(f"*{STATUS_SUFFIX}")):
        try:
            status = json.loads(status_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if status.get("state") not in ("running", "paused", "starting"):
            continue
        if _alive(int(status.get("pid", 0))):
            continue
        status["state"] = "interrupted"
        status_file.write_text(json.dumps(status, ensure_ascii=False), encoding="utf-8")
        ended.append(status_file)
        log.warning("exercise marked interrupted", extra={"file": str(status_file)})
    return ended


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def build_runner(
    app: web.Application,
    scenario: Scenario,
    context: ScenarioContext,
    clock: ScaledClock,
    local_url: str,
) -> ExerciseRunner:
    people = spread(scenario.population, list(context.wards.values()), scenario.seed)
    names = {code: ward.name for code, ward in context.wards.items()}
    return ExerciseRunner(
        scenario,
        people,
        traffic(scenario, people, names),
        LocalExerciseService(app, scenario.name, local_url),
        clock,
        ward_names=names,
    )


def create_exercise_app(
    real: Config,
    scenario: Scenario,
    context: ScenarioContext,
    *,
    speed: float,
    stamp: datetime,
    port: int,
) -> tuple[web.Application, Config]:
    """The exercise's app (routes under /api/v1/exercise included) and its config."""
    from canhbao.app import create_app

    config = exercise_config(real, scenario.name, stamp, port, check_speed(speed))
    # Paused until the run has enrolled its people and teams: flood time starts with the play.
    clock = ScaledClock(scenario.start, speed, paused=True)
    app = create_app(config, clock=clock)
    app[RUNNER] = build_runner(app, scenario, context, clock, config.server.public_base_url)
    setup_routes(app)
    return app, config


async def run_exercise(
    real: Config,
    scenario: Scenario,
    context: ScenarioContext,
    *,
    speed: float,
    port: int = DEFAULT_PORT,
    stamp: datetime | None = None,
    on_listening: Callable[[Config], None] = lambda config: None,
) -> Progress:
    """Prepare, serve and play one exercise to its end (or a stop, or SIGINT/SIGTERM)."""
    from canhbao.supervisor import run_web

    stamp = stamp or datetime.now(UTC)
    check_speed(speed)
    end_interrupted(exercise_database(real, scenario.name, stamp).parent)
    app, config = create_exercise_app(real, scenario, context, speed=speed, stamp=stamp, port=port)
    database = config.resolve(config.database.path)
    copied = await prepare_database(real, config)
    write_status(database, "starting", exercise=scenario.name, staff=copied)
    runner = app[RUNNER]
    stop = asyncio.Event()
    playing: list[asyncio.Task[Progress]] = []

    async def play() -> Progress:
        progress = await runner.run()
        # The report of what was played, before the service stops (its database is open).
        await write_end_report(app, database, scenario)
        return progress

    def start() -> None:
        task = asyncio.create_task(play())
        task.add_done_callback(lambda _: stop.set())
        playing.append(task)
        write_status(database, "running", exercise=scenario.name, port=port)
        on_listening(config)

    async def stop_play(app: web.Application) -> None:
        # Before the app's contexts close (the database first among them): a Ctrl-C or SIGTERM
        # lets the run's calls into the service finish, then the service stops.
        runner.stop()
        await asyncio.gather(*playing, return_exceptions=True)

    app.on_shutdown.append(stop_play)
    try:
        await run_web(
            app,
            config.server.host,
            port,
            config.server.shutdown_timeout_s,
            stop,
            on_listening=start,
        )
    finally:
        runner.stop()
        if playing:
            await asyncio.gather(*playing, return_exceptions=True)
        write_status(database, runner.progress.state, exercise=scenario.name, **_figures(runner))
    return runner.progress


def announce(config: Config) -> None:
    """What `canhbao exercise run` prints once the exercise listens."""
    print(  # noqa: T201  # for the trainer at the terminal
        f"DIỄN TẬP / EXERCISE: {config.alerting.exercise} at {config.server.public_base_url}"
        f"/console (database {config.resolve(config.database.path)})",
        flush=True,
    )


def _figures(runner: ExerciseRunner) -> dict[str, Any]:
    progress = dataclasses.asdict(runner.progress)
    progress.pop("state", None)
    return progress


# -- the control API (the exercise's own server only) --------------------------------------------


def status_json(runner: ExerciseRunner) -> dict[str, Any]:
    clock = runner.clock
    return {
        "exercise": runner.scenario.name,
        "title": runner.scenario.title,
        "state": runner.progress.state,
        "speed": clock.speed,
        "flood_time": clock.now().isoformat(),
        "start": runner.scenario.start.isoformat(),
        "end": runner.scenario.end.isoformat(),
        "progress": _figures(runner),
    }


@require_roles()
async def get_exercise(request: web.Request) -> web.Response:
    """The exercise this server runs: state, speed, flood time and what it has done (any staff:
    every page of the console shows the exercise banner)."""
    return web.json_response(status_json(request.app[RUNNER]))


@require_roles(Role.admin)
async def control_exercise(request: web.Request) -> web.Response:
    """pause, resume, stop, or speed ({"speed": N}); answers the new status."""
    runner = request.app[RUNNER]
    action = request.match_info["action"]
    if runner.over:
        raise ApiError(409, "exercise_over", f"the exercise is {runner.progress.state}")
    if action == "pause":
        runner.pause()
    elif action == "resume":
        runner.resume()
    elif action == "stop":
        runner.stop()
    elif action == "speed":
        try:
            body = await request.json()
        except ValueError:
            raise ApiError(400, "invalid_json", 'a JSON body {"speed": N} is required') from None
        speed = body.get("speed") if isinstance(body, dict) else None
        if isinstance(speed, bool) or not isinstance(speed, int | float):
            raise ApiError(400, "invalid_speed", "speed: a number over 0")
        try:
            runner.set_speed(check_speed(float(speed)))
        except ExerciseError as err:
            raise ApiError(400, "invalid_speed", str(err)) from None
    else:
        raise ApiError(404, "not_found", f"no exercise action {action!r}")
    return web.json_response(status_json(runner))


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/exercise", get_exercise)
    app.router.add_post(r"/api/v1/exercise/{action:[a-z]+}", control_exercise)
