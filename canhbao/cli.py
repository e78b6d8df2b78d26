"""The `canhbao` command: serve, migrate, backup, check-config, user, token.

Bad input or config exits 2 with one line on stderr saying what is wrong.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

from aiohttp import web

from canhbao import __version__
from canhbao.adapters.exercises import scenario_context
from canhbao.adapters.report import report_sources
from canhbao.auth import cli as auth_cli
from canhbao.auth.first_admin import FIRST_ADMIN_LINK
from canhbao.auth.first_admin import announcement as first_admin_announcement
from canhbao.config import Config, choose_config_path, load_config
from canhbao.db import Database, backup_database
from canhbao.errors import CanhbaoError
from canhbao.logs import configure_logging
from dispatch import teams_cli
from exercises import cli as exercises_cli
from exercises.models import Scenario
from exercises.scenario import ScenarioContext
from geofences import cli as geofences_cli

log = logging.getLogger("canhbao")


class UsageError(CanhbaoError):
    """The command line itself is wrong."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage problem in one line and exits 2."""

    def error(self, message: str) -> None:  # type: ignore[override]  # argparse returns NoReturn
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="canhbao",
        description="Flood warnings and the 1900 1075 rescue hotline.",
    )
    parser.add_argument("--version", action="version", version=f"canhbao {__version__}")
    parser.add_argument(
        "--config",
        help="config file (default: $CANHBAO_CONFIG, else ./config.toml)",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    serve = commands.add_parser("serve", help="run the HTTP service and its workers")
    serve.add_argument("--config", default=argparse.SUPPRESS, help="config file")
    serve.set_defaults(run=_serve)

    web_process = commands.add_parser(
        "web", help="the web process alone (serve starts and supervises it; not for direct use)"
    )
    web_process.add_argument("--config", default=argparse.SUPPRESS, help="config file")
    web_process.add_argument(
        "--link-fd", type=int, required=True, help="socket to the outbox sender (from serve)"
    )
    web_process.set_defaults(run=_web)

    migrate = commands.add_parser("migrate", help="apply pending database migrations")
    migrate.add_argument("--config", default=argparse.SUPPRESS, help="config file")
    migrate.set_defaults(run=_migrate)

    backup = commands.add_parser(
        "backup", help="copy the live database to PATH (safe while serving)"
    )
    backup.add_argument("path", type=Path, help="file to write the copy to")
    backup.add_argument("--config", default=argparse.SUPPRESS, help="config file")
    backup.set_defaults(run=_backup)

    check = commands.add_parser("check-config", help="load and check the config, then exit")
    check.add_argument("--config", default=argparse.SUPPRESS, help="config file")
    check.set_defaults(run=_check_config)

    auth_cli.add_commands(commands)
    geofences_cli.add_commands(commands)
    teams_cli.add_commands(commands)
    exercises_cli.add_commands(commands, scenario_context, report=report_sources, run=_exercise_run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        config = load_config(choose_config_path(args.config))
        run: Callable[[argparse.Namespace, Config], int] = args.run
        return run(args, config)
    except CanhbaoError as err:
        print(f"canhbao: {err}", file=sys.stderr)  # noqa: T201  # the CLI's one-line error
        return 2
    except OSError as err:
        # The system refused something start-up needs (a port in use, a file): one line too.
        print(f"canhbao: {err}", file=sys.stderr)  # noqa: T201  # the CLI's one-line error
        return 2


def _serve(args: argparse.Namespace, config: Config) -> int:
    """Two processes (README, "Processes"): this one sends the outbox and supervises the web
    process, which it starts as `canhbao web` and starts again if it dies."""
    configure_logging(config.log)
    log.info(
        "starting",
        extra={"host": config.server.host, "port": config.server.port, "version": __version__},
    )
    config_path = choose_config_path(getattr(args, "config", None)).resolve()
    return asyncio.run(_serve_processes(config, config_path))


async def _serve_processes(config: Config, config_path: Path) -> int:
    # Only what sending needs: the web process imports (and checks, and migrates) the rest.
    import notify
    from canhbao import keys
    from canhbao.supervisor import ChildFailed, Supervisor
    from notify.process import create_sender_app

    sender = create_sender_app(config)
    runner = web.AppRunner(sender)

    async def link(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await started.wait()
        await sender[notify.SENDER_END].serve(reader, writer)

    supervisor = Supervisor(
        "web",
        [sys.executable, "-m", "canhbao", "--config", str(config_path), "web"],
        link,
        sender[keys.HEALTH],
        sender[keys.METRICS],
        sender[keys.CLOCK],
        stop_timeout_s=config.server.shutdown_timeout_s + 5.0,
    )
    started = asyncio.Event()
    loop = asyncio.get_running_loop()
    # SIGTERM/SIGINT: the web process stops first (finishing its requests), then the sender
    # lets in-flight sends finish and records them (runner.cleanup).
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, supervisor.stop)
    running = asyncio.create_task(supervisor.run())
    # The fan-out runner (alerting, geofences' store) also runs here; its modules load while the
    # web process starts, rather than delaying its start.
    fanout = asyncio.create_task(asyncio.to_thread(_sender_fanout_ctx, config))
    # The web process migrates the database; the sender starts once it is ready, so a start
    # does the same work in the same order as one process would (start-up, then recovery and
    # sending), and the two do not contend for the CPU and the database meanwhile.
    ready = asyncio.create_task(supervisor.ready.wait())
    await asyncio.wait({running, ready}, return_when=asyncio.FIRST_COMPLETED)
    ready.cancel()
    if not supervisor.ready.is_set():
        await asyncio.gather(fanout, return_exceptions=True)  # not needed: the thread's result
        try:
            await running  # it ended before the web process was ever ready, or a stop
        except ChildFailed as failed:
            if failed.code == 2:
                return 2  # the web process said why, in the one line a CLI error gets
            raise
        return 0
    try:
        await runner.setup()
    except BaseException:
        supervisor.stop()
        await asyncio.gather(running, return_exceptions=True)
        raise
    started.set()
    # The sender sends at once; the fan-out runner joins it once its modules are loaded (on a
    # busy machine that can be seconds later), and stops before the sender does.
    fanout_runner: AsyncIterator[None] | None = None
    try:
        fanout_runner = (await fanout)(sender)
        await anext(fanout_runner)
        await running
    except ChildFailed as failed:
        if failed.code == 2:
            return 2  # as above
        raise
    finally:
        try:
            if fanout_runner is not None:
                await anext(fanout_runner, None)
        finally:
            await runner.cleanup()
    return 0


def _sender_fanout_ctx(config: Config) -> Callable[[web.Application], AsyncIterator[None]]:
    from canhbao.adapters.fanout import sender_fanout_ctx

    return sender_fanout_ctx(config)


def _web(args: argparse.Namespace, config: Config) -> int:
    import notify
    from canhbao.app import create_app
    from canhbao.supervisor import die_with_parent, run_web

    die_with_parent()
    configure_logging(config.log)
    link = socket.socket(fileno=args.link_fd)

    async def run() -> None:
        stop = asyncio.Event()
        app = create_app(config, remote_sender=notify.RemoteSender(link, stop.set))

        def announce_first_admin() -> None:
            # Once it listens, after every cleanup context (the first admin link's included)
            # has started: the printed link works at once. serve prints it on its stdout.
            first = app.get(FIRST_ADMIN_LINK)
            if first is not None:
                print(first_admin_announcement(first), flush=True)  # noqa: T201  # for the operator at the terminal

        await run_web(
            app,
            config.server.host,
            config.server.port,
            config.server.shutdown_timeout_s,
            stop,
            on_listening=announce_first_admin,
        )

    asyncio.run(run())
    return 0


def _migrate(args: argparse.Namespace, config: Config) -> int:
    from canhbao.app import all_migrations

    async def run() -> list[str]:
        db = Database(config.resolve(config.database.path), config.database.busy_timeout_ms)
        await db.open()
        try:
            applied = await db.migrate(all_migrations())
        finally:
            await db.close()
        return [f"{m.domain} {m.version} {m.name}" for m in applied]

    applied = asyncio.run(run())
    print(  # noqa: T201  # command output
        "\n".join(f"applied {line}" for line in applied) or "database is up to date"
    )
    return 0


def _backup(args: argparse.Namespace, config: Config) -> int:
    source = config.resolve(config.database.path)
    if not source.exists():
        raise UsageError(f"no database at {source}")
    target: Path = args.path
    if target.exists():
        raise UsageError(f"{target} already exists; choose a new file")
    backup_database(source, target)
    print(f"backed up {source} to {target}")  # noqa: T201  # command output
    return 0


def _exercise_run(
    config: Config, scenario: Scenario, context: ScenarioContext, speed: float, port: int
) -> int:
    from canhbao.adapters.exercise_mode import announce, run_exercise

    configure_logging(config.log)
    progress = asyncio.run(
        run_exercise(config, scenario, context, speed=speed, port=port, on_listening=announce)
    )
    print(f"exercise {scenario.name}: {progress.state}")  # noqa: T201  # command output
    return 0 if progress.state in ("ended", "stopped") else 1


def _check_config(args: argparse.Namespace, config: Config) -> int:
    from canhbao.app import create_app

    create_app(config)  # builds every domain's wiring without starting anything
    print("config ok")  # noqa: T201  # command output
    return 0
