"""The `canhbao` command: serve, migrate, backup, check-config, user, token.

Bad input or config exits 2 with one line on stderr saying what is wrong.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from aiohttp import web

from canhbao import __version__
from canhbao.auth import cli as auth_cli
from canhbao.auth.first_admin import FIRST_ADMIN_LINK
from canhbao.auth.first_admin import announcement as first_admin_announcement
from canhbao.config import Config, choose_config_path, load_config
from canhbao.db import Database, backup_database
from canhbao.errors import CanhbaoError
from canhbao.logs import AccessLogger, configure_logging
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
    from canhbao.app import create_app  # the app imports every domain; not needed by other commands

    configure_logging(config.log)
    app = create_app(config)

    def announce_first_admin(_running_on: str) -> None:
        # run_app calls its `print` once it listens, after every cleanup context (the first
        # admin link's included) has started: the printed link works at once.
        link = app.get(FIRST_ADMIN_LINK)
        if link is not None:
            print(first_admin_announcement(link), flush=True)  # noqa: T201  # for the operator at the terminal

    log.info(
        "starting",
        extra={"host": config.server.host, "port": config.server.port, "version": __version__},
    )
    # run_app handles SIGTERM and SIGINT: it stops accepting, then runs every cleanup context,
    # which lets workers finish or persist what they hold.
    web.run_app(
        app,
        host=config.server.host,
        port=config.server.port,
        access_log_class=AccessLogger,
        shutdown_timeout=config.server.shutdown_timeout_s,
        print=announce_first_admin,
    )
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


def _check_config(args: argparse.Namespace, config: Config) -> int:
    from canhbao.app import create_app

    create_app(config)  # builds every domain's wiring without starting anything
    print("config ok")  # noqa: T201  # command output
    return 0
