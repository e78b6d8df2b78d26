"""The `canhbao` command: one-line errors with exit 2, migrate, backup, and a real `serve`."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from canhbao.cli import main
from tests.conftest import REPO


def _write_config(tmp_path: Path, extra: str = "", port: int = 8080) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[server]\nport = {port}\n[database]\npath = "db/canhbao.sqlite3"\n{extra}',
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        ([], "the following arguments are required: command"),
        (["--config", "/nonexistent/c.toml", "migrate"], "no such config file"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1


def test_bad_config_names_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write_config(tmp_path, '[push]\nprovider = "pigeon"\n')
    assert main(["check-config", "--config", str(path)]) == 2
    assert (
        "push.provider: expected one of 'local', 'firebase', got 'pigeon'"
        in capsys.readouterr().err
    )


def test_firebase_without_its_secret_refuses_to_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CANHBAO_FIREBASE_CREDENTIALS", raising=False)
    path = _write_config(
        tmp_path, '[push]\nprovider = "firebase"\n[push.firebase]\nproject_id = "p"\n'
    )
    assert main(["check-config", "--config", str(path)]) == 2
    assert "CANHBAO_FIREBASE_CREDENTIALS is not set" in capsys.readouterr().err


def test_twilio_without_its_secrets_refuses_to_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TWILIO_ACCOUNT_SID", raising=False)
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    path = _write_config(tmp_path, '[telephony]\nprovider = "twilio"\n')
    assert main(["check-config", "--config", str(path)]) == 2
    assert "telephony.twilio" in capsys.readouterr().err


def test_migrate_then_backup(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write_config(tmp_path)
    assert main(["migrate", "--config", str(path)]) == 0
    assert "applied" in capsys.readouterr().out
    assert main(["migrate", "--config", str(path)]) == 0
    assert "up to date" in capsys.readouterr().out
    copy = tmp_path / "backup.sqlite3"
    assert main(["backup", str(copy), "--config", str(path)]) == 0
    conn = sqlite3.connect(copy)
    try:
        assert conn.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0] > 0
    finally:
        conn.close()
    assert main(["backup", str(copy), "--config", str(path)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_config_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CANHBAO_CONFIG", str(_write_config(tmp_path)))
    assert main(["check-config"]) == 0
    assert "config ok" in capsys.readouterr().out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_serve_answers_healthz_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    path = _write_config(tmp_path, port=port)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "canhbao", "serve", "--config", str(path)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 15
        status = None
        while time.monotonic() < deadline and status is None:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/healthz", timeout=1
                ) as r:  # loopback URL we built
                    status = r.status
            except OSError:
                time.sleep(0.1)
        assert status == 200
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=15)
        assert process.returncode == 0, err
        assert '"message": "starting"' in err
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
