"""A database that cannot be used stops `canhbao serve` and `canhbao migrate` with exit 2 and
one line: never a traceback, never a process that stays up (the real command, in a subprocess).
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CHEAP_ARGON2

COMMAND = Path(sys.executable).parent / "canhbao"
TIMEOUT_S = 40
# Files the running user owns but may not write count only for a user without root's powers:
# when the tests run as root, such cases run the command as an unprivileged user owning the
# same files (a user namespace), or are skipped where that is not possible.
AS_OWNER = ["unshare", "--user", "--map-user=1000", "--map-group=1000"]


def _as_owner_prefix() -> list[str]:
    if os.geteuid() != 0:
        return []
    if shutil.which("unshare") is None:
        pytest.skip("running as root without unshare: permissions cannot be tested")
    probe = subprocess.run([*AS_OWNER, "true"], capture_output=True, check=False, timeout=10)
    if probe.returncode != 0:
        pytest.skip("running as root and user namespaces are not available")
    return AS_OWNER


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _config(tmp_path: Path, database: str) -> Path:
    path = tmp_path / "config.toml"
    argon2 = "\n".join(f"{key} = {value}" for key, value in CHEAP_ARGON2.items())
    path.write_text(
        f'[server]\nport = {_free_port()}\n[database]\npath = "{database}"\n'
        f"[auth]\n{argon2}\n[feeds]\nschedule = false\n",
        encoding="utf-8",
    )
    return path


def _run(
    tmp_path: Path, command: str, config: Path, prefix: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [*(prefix or []), str(COMMAND), command, "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
            cwd=tmp_path,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"`canhbao {command}` did not exit within {TIMEOUT_S} s")


def _said(result: subprocess.CompletedProcess[str]) -> str:
    """stderr without the structured log lines `serve` writes before it starts (JSON)."""
    return "".join(
        line for line in result.stderr.splitlines(keepends=True) if not line.startswith("{")
    )


def _random_bytes(path: Path) -> None:
    path.write_bytes(os.urandom(64 * 1024))


def _corrupted(path: Path) -> None:
    """A real database whose schema page is overwritten past SQLite's 100-byte header."""
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE a (x TEXT); CREATE TABLE b (y TEXT); INSERT INTO a VALUES ('lũ');"
    )
    conn.close()
    with path.open("r+b") as file:
        file.seek(100)
        file.write(b"\xff" * 3000)


def _a_directory(path: Path) -> None:
    path.mkdir()


Prepare = Callable[[Path], None]


@pytest.mark.slow
@pytest.mark.parametrize("command", ["serve", "migrate"])
@pytest.mark.parametrize(
    ("prepare", "said"),
    [
        (_random_bytes, "is not a SQLite database"),
        (_corrupted, "is corrupted"),
        (_a_directory, "cannot be opened"),
    ],
    ids=["random-bytes", "corrupted", "a-directory"],
)
def test_an_unusable_database_file_exits_2_with_one_line(
    tmp_path: Path, command: str, prepare: Prepare, said: str
) -> None:
    database = tmp_path / "canhbao.sqlite3"
    prepare(database)

    result = _run(tmp_path, command, _config(tmp_path, str(database)))

    assert result.returncode == 2, result.stderr
    assert _said(result).startswith(f"canhbao: database {database} {said}"), result.stderr
    assert _said(result).count("\n") == 1, result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("command", ["serve", "migrate"])
def test_a_database_path_under_a_file_exits_2_with_one_line(tmp_path: Path, command: str) -> None:
    (tmp_path / "var").write_text("not a folder", encoding="utf-8")

    result = _run(tmp_path, command, _config(tmp_path, "var/canhbao.sqlite3"))

    assert result.returncode == 2
    assert _said(result).startswith(f"canhbao: database {tmp_path}/var/canhbao.sqlite3 cannot")
    assert f"{tmp_path}/var is a file" in result.stderr
    assert _said(result).count("\n") == 1, result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("command", ["serve", "migrate"])
@pytest.mark.parametrize("case", ["unwritable-folder", "read-only-file", "unreadable-file"])
def test_a_database_without_permissions_exits_2_with_one_line(
    tmp_path: Path, command: str, case: str
) -> None:
    prefix = _as_owner_prefix()
    folder = tmp_path / "db"
    folder.mkdir()
    database = folder / "canhbao.sqlite3"
    config = _config(tmp_path, str(database))
    if case == "unwritable-folder":
        folder.chmod(0o555)
    else:
        sqlite3.connect(database).close()  # an empty, valid database
        database.chmod(0o444 if case == "read-only-file" else 0o000)
    try:
        result = _run(tmp_path, command, config, prefix)
    finally:
        folder.chmod(0o755)
        if database.exists():
            database.chmod(0o644)

    assert result.returncode == 2, result.stderr
    assert _said(result).startswith(f"canhbao: database {database} "), result.stderr
    assert _said(result).count("\n") == 1, result.stderr


@pytest.mark.slow
def test_backing_up_a_file_that_is_not_sqlite_exits_2_and_leaves_no_copy(tmp_path: Path) -> None:
    database = tmp_path / "canhbao.sqlite3"
    _random_bytes(database)
    config = _config(tmp_path, str(database))
    target = tmp_path / "backup.sqlite3"

    result = subprocess.run(
        [str(COMMAND), "backup", str(target), "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )

    assert result.returncode == 2
    assert (
        result.stderr
        == f"canhbao: database {database} is not a SQLite database (or its header is corrupted)\n"
    )
    assert not target.exists()
