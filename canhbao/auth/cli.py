"""`canhbao user …` (add, list, disable, roles, confirm-roles, unlock, enable, reset-password)
and `canhbao token create|list|revoke`, audited as cli:<user>."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from canhbao.auth.admin import AccountAdmin
from canhbao.auth.models import TOKEN_ROLES, InvalidAccount, Role, User
from canhbao.auth.store import Accounts
from canhbao.clock import SystemClock, to_local
from canhbao.config import Config
from canhbao.db import Database

T = TypeVar("T")
P = TypeVar("P", bound=argparse.ArgumentParser)


def add_commands(commands: argparse._SubParsersAction[P]) -> None:
    """Add `user` and `token` to the `canhbao` command's subcommands."""
    user = commands.add_parser("user", help="manage staff accounts")
    _config_option(user)
    # Nested subparsers default to the parent's parser class: usage errors stay one line.
    user_commands = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")

    add = user_commands.add_parser("add", help="create a staff account")
    add.add_argument("username", help="login name: lower-case letters, digits, '.', '_', '-'")
    add.add_argument(
        "--role",
        dest="roles",
        action="append",
        required=True,
        choices=[role.value for role in Role],
        help="a role to grant; repeat for several",
    )
    add.add_argument("--name", default="", help="display name, e.g. 'Nguyễn Thị Lan'")
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of stdin instead of prompting",
    )
    _config_option(add)
    add.set_defaults(run=_user_add)

    listing = user_commands.add_parser("list", help="list staff accounts")
    _config_option(listing)
    listing.set_defaults(run=_user_list)

    disable = user_commands.add_parser("disable", help="disable an account and end its sessions")
    disable.add_argument("username")
    _config_option(disable)
    disable.set_defaults(run=_user_disable)

    roles = user_commands.add_parser(
        "roles",
        help="set an account's roles (approver/admin may wait for a second admin's confirmation)",
    )
    roles.add_argument("username")
    roles.add_argument(
        "--role",
        dest="roles",
        action="append",
        required=True,
        choices=[role.value for role in Role],
        help="a role the account should hold; repeat for several",
    )
    _config_option(roles)
    roles.set_defaults(run=_user_roles)

    confirm = user_commands.add_parser(
        "confirm-roles", help="confirm the role grant another admin made (second admin)"
    )
    confirm.add_argument("username")
    _config_option(confirm)
    confirm.set_defaults(run=_user_confirm_roles)

    unlock = user_commands.add_parser("unlock", help="clear an account's wrong-password backoff")
    unlock.add_argument("username")
    _config_option(unlock)
    unlock.set_defaults(run=_user_unlock)

    enable = user_commands.add_parser("enable", help="re-enable a disabled account")
    enable.add_argument("username")
    _config_option(enable)
    enable.set_defaults(run=_user_enable)

    reset = user_commands.add_parser(
        "reset-password", help="set a new password and end the account's sessions"
    )
    reset.add_argument("username")
    reset.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of stdin instead of prompting",
    )
    _config_option(reset)
    reset.set_defaults(run=_user_reset_password)

    token = commands.add_parser("token", help="manage bearer tokens for machine clients")
    _config_option(token)
    token_commands = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")

    create = token_commands.add_parser(
        "create", help="create a token and print its secret (shown this once only)"
    )
    create.add_argument("name", help="what the token is for, e.g. 'gauge Kim Long'")
    create.add_argument(
        "--role",
        dest="roles",
        action="append",
        required=True,
        choices=sorted(role.value for role in TOKEN_ROLES),
        help="a role to grant; repeat for several",
    )
    _config_option(create)
    create.set_defaults(run=_token_create)

    token_list = token_commands.add_parser("list", help="list tokens (never their secrets)")
    _config_option(token_list)
    token_list.set_defaults(run=_token_list)

    revoke = token_commands.add_parser("revoke", help="revoke a token; its requests get 401")
    revoke.add_argument("id", type=int, help="the token's id, from `canhbao token list`")
    _config_option(revoke)
    revoke.set_defaults(run=_token_revoke)


def _config_option(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: when not given here, the top-level --config (or its default) stands.
    parser.add_argument("--config", default=argparse.SUPPRESS, help="config file")


def _user_add(args: argparse.Namespace, config: Config) -> int:
    password = _read_password(args.password_stdin)

    async def run(accounts: Accounts) -> str:
        user = await accounts.create_user(
            args.username, password, args.roles, display_name=args.name, actor=_actor()
        )
        line = f"created user {user.username} ({', '.join(sorted(user.roles))})"
        if user.pending_roles:
            waiting = ", ".join(sorted(user.pending_roles))
            line += f"; {waiting} waits for a second admin: `canhbao user confirm-roles`"
        return line

    print(_run(config, run))  # noqa: T201  # command output
    return 0


def _user_list(args: argparse.Namespace, config: Config) -> int:
    async def run(accounts: Accounts) -> list[str]:
        lines = []
        for user in await accounts.list_users():
            if user.disabled_at is not None:
                status = "disabled"
            elif user.locked_until is not None and user.locked_until > accounts.clock.now():
                status = f"logins wait until {to_local(user.locked_until):%H:%M:%S}"
            else:
                status = "active"
            roles = ",".join(sorted(user.roles))
            lines.append(f"{user.username}\t{roles}\t{status}\t{user.display_name}")
        return lines

    lines = _run(config, run)
    print("\n".join(lines) if lines else "no users")  # noqa: T201  # command output
    return 0


def _user_disable(args: argparse.Namespace, config: Config) -> int:
    async def run(accounts: Accounts) -> str:
        user = await accounts.disable_user(args.username, actor=_actor())
        return f"disabled user {user.username}"

    print(_run(config, run))  # noqa: T201  # command output
    return 0


def _user_roles(args: argparse.Namespace, config: Config) -> int:
    async def run(accounts: Accounts) -> str:
        user = await AccountAdmin(accounts).set_roles(args.username, args.roles, actor=_actor())
        return _roles_line(user)

    print(_run(config, run))  # noqa: T201  # command output
    return 0


def _user_confirm_roles(args: argparse.Namespace, config: Config) -> int:
    async def run(accounts: Accounts) -> str:
        user = await AccountAdmin(accounts).confirm_roles(args.username, actor=_actor())
        return _roles_line(user)

    print(_run(config, run))  # noqa: T201  # command output
    return 0


def _user_unlock(args: argparse.Namespace, config: Config) -> int:
    async def run(accounts: Accounts) -> str:
        user = await AccountAdmin(accounts).unlock(args.username, actor=_actor())
        return f"unlocked user {user.username}"

    print(_run(config, run))  # noqa: T201  # command output
    return 0


def _user_enable(args: argparse.Namespace, config: Config) -> int:
    async def run(accounts: Accounts) -> str:
        user = await AccountAdmin(accounts).enable(args.username, actor=_actor())
        return f"enabled user {user.username}"

    print(_run(config, run))  # noqa: T201  # command output
    return 0


def _user_reset_password(args: argparse.Namespace, config: Config) -> int:
    password = _read_password(args.password_stdin)

    async def run(accounts: Accounts) -> str:
        admin = AccountAdmin(accounts)
        user = await admin.reset_password(args.username, password, actor=_actor())
        return f"reset the password of {user.username}; their sessions are ended"

    print(_run(config, run))  # noqa: T201  # command output
    return 0


def _roles_line(user: User) -> str:
    line = f"{user.username}: {', '.join(sorted(user.roles)) or 'no roles'}"
    if user.pending_roles:
        waiting = ", ".join(sorted(user.pending_roles))
        line += f" ({waiting} waits for a second admin: `canhbao user confirm-roles`)"
    return line


def _token_create(args: argparse.Namespace, config: Config) -> int:
    async def run(accounts: Accounts) -> str:
        token, secret = await accounts.create_token(args.name, args.roles, actor=_actor())
        print(  # noqa: T201  # command output; stderr, so stdout carries the secret alone
            f"created token {token.id} ({token.name}; {', '.join(sorted(token.roles))})."
            " Its secret follows and will not be shown again.",
            file=sys.stderr,
        )
        return secret

    print(_run(config, run))  # noqa: T201  # the secret, alone on stdout for scripts
    return 0


def _token_list(args: argparse.Namespace, config: Config) -> int:
    async def run(accounts: Accounts) -> list[str]:
        lines = []
        for token in await accounts.list_tokens():
            status = "revoked" if token.revoked_at is not None else "active"
            used = (
                f"{to_local(token.last_used_at):%Y-%m-%d %H:%M}" if token.last_used_at else "never"
            )
            roles = ",".join(sorted(token.roles))
            lines.append(f"{token.id}\t{token.name}\t{roles}\t{status}\tlast used {used}")
        return lines

    lines = _run(config, run)
    print("\n".join(lines) if lines else "no tokens")  # noqa: T201  # command output
    return 0


def _token_revoke(args: argparse.Namespace, config: Config) -> int:
    async def run(accounts: Accounts) -> str:
        token = await accounts.revoke_token(args.id, actor=_actor())
        return f"revoked token {token.id} ({token.name})"

    print(_run(config, run))  # noqa: T201  # command output
    return 0


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        # Only the line ending is stripped: spaces may be part of a passphrase.
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != password:
        raise InvalidAccount("the two passwords differ")
    return password


def _actor() -> str:
    """The audit log's name for whoever runs the command."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        # A container user without a passwd entry still has a uid.
        name = f"uid{os.getuid()}"
    return f"cli:{name}"


def _run(config: Config, action: Callable[[Accounts], Awaitable[T]]) -> T:
    async def main() -> T:
        async with _accounts(config) as accounts:
            return await action(accounts)

    return asyncio.run(main())


@asynccontextmanager
async def _accounts(config: Config) -> AsyncIterator[Accounts]:
    from canhbao.app import all_migrations  # the app imports every domain; import it when run

    db = Database(config.resolve(config.database.path), config.database.busy_timeout_ms)
    await db.open()
    try:
        await db.migrate(all_migrations())
        yield Accounts(db, SystemClock(), config.auth)
    finally:
        await db.close()
