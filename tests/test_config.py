"""The config loader: the shipped file is complete and documented, and each error names its key."""

from __future__ import annotations

import re
import tomllib
import types
from pathlib import Path

import pytest

from canhbao.config import (
    Config,
    choose_config_path,
    config_fields,
    load_config,
    parse_config,
    read_secret,
    require_positive,
)
from canhbao.errors import ConfigError
from tests.conftest import REPO

SHIPPED = REPO / "config.toml"


def test_shipped_config_loads_with_local_providers() -> None:
    config = load_config(SHIPPED)
    assert config.push.provider == "local"
    assert config.telephony.provider == "local"
    assert config.telephony.hotline_number == "+8419001075"
    assert config.base_dir == REPO


def _documented_keys(text: str) -> dict[str, bool]:
    """Every `key = value` line of a TOML file → whether a comment documents it."""
    section = ""
    documented: dict[str, bool] = {}
    previous = ""
    for line in text.splitlines():
        stripped = line.strip()
        header = re.match(r"^\[+([^\]]+)\]+$", stripped)
        if header:
            section = header.group(1) + "."
        elif match := re.match(r"^([A-Za-z0-9_]+)\s*=", stripped):
            documented[section + match.group(1)] = previous.startswith("#") or "#" in stripped
        previous = stripped
    return documented


def test_every_config_key_is_in_the_shipped_file_and_documented() -> None:
    documented = _documented_keys(SHIPPED.read_text(encoding="utf-8"))
    accepted = set(config_fields(Config))
    # Lists of tables (e.g. stations) are documented by their first entry's keys.
    flat_documented = {re.sub(r"\[\d+\]", "", key) for key in documented}
    missing = sorted(key for key in accepted if key not in flat_documented)
    assert not missing, f"config keys missing from config.toml: {missing}"
    undocumented = sorted(key for key, has_comment in documented.items() if not has_comment)
    assert not undocumented, f"config.toml keys without a comment: {undocumented}"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"server": {"prot": 8080}}, "server.prot: unknown key"),
        ({"sever": {}}, "sever: unknown key"),
        ({"server": {"port": "8080"}}, "server.port: expected a whole number, got str '8080'"),
        ({"server": {"port": True}}, "server.port: expected a whole number, got bool True"),
        ({"server": []}, "server: expected a table, got a list"),
        ({"push": {"provider": "fcm"}}, "push.provider: expected one of 'local', 'firebase'"),
        (
            {"push": {"firebase": {"timeout_s": "slow"}}},
            "push.firebase.timeout_s: expected a number",
        ),
        ({"log": {"format": 1}}, "log.format: expected one of 'json', 'text', got 1"),
    ],
)
def test_bad_values_name_their_key_path(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(raw)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[push]\nprovider = "firebase"\n', "push.firebase.project_id: required"),
        ('[server]\npublic_base_url = "ftp://x"\n', "server.public_base_url: must start with"),
        (
            '[telephony]\nhotline_number = "19001075"\n',
            "telephony.hotline_number: must be in E.164",
        ),
        ("[outbox]\nconcurrency = 0\n", "outbox.concurrency: must be at least 1"),
        ("[server\nport = 1\n", "not valid TOML"),
    ],
)
def test_file_level_errors(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(path)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "absent.toml")


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "c.toml"
    path.parent.mkdir()
    path.write_text('[database]\npath = "data/x.sqlite3"\n', encoding="utf-8")
    config = load_config(path)
    assert config.resolve(config.database.path) == path.parent.resolve() / "data" / "x.sqlite3"


def test_config_path_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CANHBAO_CONFIG", "/etc/canhbao/prod.toml")
    assert choose_config_path("given.toml") == Path("given.toml")
    assert choose_config_path(None) == Path("/etc/canhbao/prod.toml")
    monkeypatch.delenv("CANHBAO_CONFIG")
    assert choose_config_path(None) == Path("config.toml")


def test_secrets_come_from_the_named_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_TOKEN", "s3cret")
    assert read_secret("MY_TOKEN", "telephony.twilio.auth_token_env") == "s3cret"
    monkeypatch.delenv("MY_TOKEN")
    with pytest.raises(
        ConfigError, match=r"telephony.twilio.auth_token_env: .*MY_TOKEN is not set"
    ):
        read_secret("MY_TOKEN", "telephony.twilio.auth_token_env")


def test_shipped_file_holds_no_secret_values() -> None:
    raw = tomllib.loads(SHIPPED.read_text(encoding="utf-8"))
    text = repr(raw).lower()
    assert 'auth_token": "' not in text
    assert raw["telephony"]["twilio"]["auth_token_env"] == "TWILIO_AUTH_TOKEN"


GREATER = "must be greater than 0"
AT_LEAST_1 = "must be at least 1"
FINITE = "expected a finite number"  # nan and inf stop at the file (tests/test_config_numbers.py)


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        *[("auth", "session_hours", value, GREATER) for value in ("0", "-1")],
        *[("auth", "session_hours", value, FINITE) for value in ("nan", "-inf")],
        ("auth", "login_account_backoff_max_s", "nan", FINITE),
        ("auth", "login_address_backoff_max_s", "0.0", GREATER),
        *[("auth", "login_free_failures", value, AT_LEAST_1) for value in ("0", "-1")],
        ("auth", "argon2_time_cost", "0", AT_LEAST_1),
        ("outbox", "batch_size", "-5", AT_LEAST_1),
    ],
)
def test_positive_settings_refuse_zero_negative_and_nan(
    tmp_path: Path, section: str, key: str, value: str, message: str
) -> None:
    """One helper (config.require_positive) for every such check; NaN passed `<= 0` before."""
    from canhbao.app import create_app

    path = tmp_path / "config.toml"
    path.write_text(f"[{section}]\n{key} = {value}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"^{section}\.{key}: {message}"):
        create_app(load_config(path))


@pytest.mark.parametrize(
    ("values", "minimum", "message"),
    [
        ({"a": 1.0, "b": 0.0}, None, "s.b: must be greater than 0"),
        ({"a": float("nan"), "b": 1.0}, None, "s.a: must be greater than 0"),
        ({"a": 2, "b": 1}, 2, "s.b: must be at least 2"),
    ],
)
def test_require_positive_names_the_first_bad_key(
    values: dict[str, float], minimum: int | None, message: str
) -> None:
    section = types.SimpleNamespace(**values)
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        require_positive(section, "s", "a", "b", minimum=minimum)
    require_positive(types.SimpleNamespace(a=5, b=3), "s", "a", "b", minimum=minimum)
