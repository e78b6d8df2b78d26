"""`canhbao user …` and `canhbao token …`: in-process through main(), and one real subprocess."""

from __future__ import annotations

import asyncio
import getpass
import io
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from canhbao.cli import main
from canhbao.config import load_config
from tests.conftest import CHEAP_ARGON2, AppClient

PASSWORD = "lũ-lụt-tháng-mười"


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    argon2 = "\n".join(f"{key} = {value}" for key, value in CHEAP_ARGON2.items())
    path.write_text(
        f'[database]\npath = "db/canhbao.sqlite3"\n[auth]\n{argon2}\n', encoding="utf-8"
    )
    return path


def _rows(config_path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(config_path.parent / "db" / "canhbao.sqlite3")
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))


def _add(config_path: Path, username: str, *roles: str) -> list[str]:
    argv = ["user", "add", username, "--password-stdin", "--config", str(config_path)]
    for role in roles:
        argv += ["--role", role]
    return argv


def test_user_add_list_disable(
    config_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _stdin(monkeypatch, PASSWORD + "\n")
    argv = [*_add(config_path, "lan", "issuer", "approver"), "--name", "Nguyễn Thị Lan"]
    assert main(argv) == 0
    assert capsys.readouterr().out == "created user lan (approver, issuer)\n"

    assert main(["user", "list", "--config", str(config_path)]) == 0
    assert capsys.readouterr().out == "lan\tapprover,issuer\tactive\tNguyễn Thị Lan\n"

    assert main(["user", "disable", "lan", "--config", str(config_path)]) == 0
    assert main(["user", "list", "--config", str(config_path)]) == 0
    assert "\tdisabled\t" in capsys.readouterr().out

    [(password_hash,)] = _rows(config_path, "SELECT password_hash FROM auth_users")
    assert str(password_hash).startswith("$argon2id$")
    audit = _rows(config_path, "SELECT actor, action FROM audit_log ORDER BY id")
    assert audit == [
        (f"cli:{getpass.getuser()}", "user.create"),
        (f"cli:{getpass.getuser()}", "user.disable"),
    ]


def test_user_add_prompts_twice_for_the_password(
    config_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    answers: Iterator[str] = iter([PASSWORD, PASSWORD + "!", PASSWORD, PASSWORD])
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": next(answers))
    argv = ["user", "add", "hoa", "--role", "operator", "--config", str(config_path)]

    assert main(argv) == 2
    assert capsys.readouterr().err == "canhbao: the two passwords differ\n"
    assert main(argv) == 0
    assert _rows(config_path, "SELECT username FROM auth_users") == [("hoa",)]


@pytest.mark.parametrize(
    ("argv", "stdin", "message"),
    [
        (["user", "add", "lan", "--role", "boss", "--password-stdin"], PASSWORD, "invalid choice"),
        (["user", "add", "lan", "--password-stdin"], PASSWORD, "required: --role"),
        (["user", "add", "lan", "--role", "team", "--password-stdin"], "short", "at least 12"),
        (["user", "add", "Lan Anh", "--role", "team", "--password-stdin"], PASSWORD, "username"),
        (["user", "add", "ops", "--role", "team", "--password-stdin"], PASSWORD, "already exists"),
        (["user", "disable", "nobody"], "", "no user 'nobody'"),
        (["token", "revoke", "42"], "", "no token 42"),
        (["token", "revoke", "forty-two"], "", "invalid int value"),
        (["token", "create", "root", "--role", "admin"], "", "invalid choice: 'admin'"),
        (["user"], "", "required: ACTION"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    config_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    stdin: str,
    message: str,
) -> None:
    _stdin(monkeypatch, PASSWORD + "\n")
    assert main(_add(config_path, "ops", "admin")) == 0
    capsys.readouterr()
    _stdin(monkeypatch, stdin + "\n")

    assert main([*argv, "--config", str(config_path)]) == 2

    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1
    assert err.startswith("canhbao: ")
    assert _rows(config_path, "SELECT username FROM auth_users") == [("ops",)]


async def test_token_secret_works_until_revoked(
    config_path: Path, app_client: AppClient, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(config_path)
    # main() runs its own event loop, so it runs in a thread beside the test's.
    assert (
        await asyncio.to_thread(
            main, ["token", "create", "Kim Long", "--role", "gauge", "--config", config]
        )
        == 0
    )
    created = capsys.readouterr()
    secret = created.out.strip()
    assert secret.startswith("cbt_")
    assert "created token 1 (Kim Long; gauge)" in created.err
    assert await asyncio.to_thread(main, ["token", "list", "--config", config]) == 0
    listing = capsys.readouterr().out
    assert listing.startswith("1\tKim Long\tgauge\tactive\tlast used never")
    assert secret not in listing

    client = await app_client(config=load_config(config_path))
    headers = {"Authorization": f"Bearer {secret}"}
    assert (await client.get("/api/v1/auth/me", headers=headers)).status == 200
    assert await asyncio.to_thread(main, ["token", "revoke", "1", "--config", config]) == 0
    assert capsys.readouterr().out == "revoked token 1 (Kim Long)\n"
    assert (await client.get("/api/v1/auth/me", headers=headers)).status == 401
    actions = _rows(config_path, "SELECT action FROM audit_log ORDER BY id")
    assert actions == [("token.create",), ("token.revoke",)]


@pytest.mark.slow
async def test_the_installed_command_adds_a_user_who_can_log_in(
    config_path: Path, app_client: AppClient
) -> None:
    command = Path(sys.executable).parent / "canhbao"
    process = await asyncio.create_subprocess_exec(
        str(command),
        "user",
        "add",
        "ops",
        "--role",
        "admin",
        "--password-stdin",
        "--config",
        str(config_path),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(f"{PASSWORD}\n".encode()), 30)
    assert process.returncode == 0, err.decode()
    assert out.decode() == "created user ops (admin)\n"

    client = await app_client(config=load_config(config_path))
    login = await client.post("/api/v1/auth/login", json={"username": "ops", "password": PASSWORD})
    assert login.status == 200
    assert (await login.json())["roles"] == ["admin"]


def test_user_roles_unlock_enable_reset_password_are_audited_as_the_os_user(
    config_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = ["--config", str(config_path)]
    _stdin(monkeypatch, PASSWORD + "\n")
    assert main(_add(config_path, "lan", "issuer")) == 0
    assert main(["user", "roles", "lan", "--role", "issuer", "--role", "approver", *config]) == 0
    assert main(["user", "disable", "lan", *config]) == 0
    assert main(["user", "enable", "lan", *config]) == 0
    assert main(["user", "unlock", "lan", *config]) == 0
    _stdin(monkeypatch, PASSWORD + "-mới\n")
    assert main(["user", "reset-password", "lan", "--password-stdin", *config]) == 0

    out = capsys.readouterr().out.splitlines()
    assert out[1] == "lan: approver, issuer"
    assert out[3:] == [
        "enabled user lan",
        "unlocked user lan",
        "reset the password of lan; their sessions are ended",
    ]
    me = f"cli:{getpass.getuser()}"
    assert _rows(config_path, "SELECT actor, action FROM audit_log ORDER BY id") == [
        (me, "user.create"),
        (me, "user.roles"),
        (me, "user.disable"),
        (me, "user.enable"),
        (me, "user.unlock"),
        (me, "user.password_reset"),
    ]


def test_with_two_admins_the_cli_grant_waits_for_another_person(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.toml"
    argon2 = "\n".join(f"{key} = {value}" for key, value in CHEAP_ARGON2.items())
    path.write_text(
        f'[database]\npath = "db/canhbao.sqlite3"\n[auth]\n{argon2}\napprover_grant_admins = 2\n',
        encoding="utf-8",
    )
    config = ["--config", str(path)]
    _stdin(monkeypatch, PASSWORD + "\n")
    assert main(_add(path, "boss", "admin")) == 0  # the first admin: nobody to confirm
    _stdin(monkeypatch, PASSWORD + "\n")
    assert main(_add(path, "lan", "issuer", "approver")) == 0
    assert main(["user", "confirm-roles", "lan", *config]) == 0  # the same person: no

    out = capsys.readouterr().out.splitlines()
    assert out[0] == "created user boss (admin)"
    assert out[1] == (
        "created user lan (issuer); approver waits for a second admin: `canhbao user confirm-roles`"
    )
    assert out[2].startswith("lan: issuer (approver waits for a second admin")
