"""A number setting is a finite number: TOML's nan and inf stop start-up with the key path.

Checked once, where the file is read, for every section: a NaN passes every `<= 0` check a
section might make (NaN compares false), so a poll interval of nan used to start."""

from __future__ import annotations

from pathlib import Path

import pytest

from canhbao.config import load_config
from canhbao.errors import ConfigError

# One float key of several sections, from the shell's and the domains' own.
KEYS = [
    ("feeds.ea", "interval_s"),
    ("hotline", "operator_answer_timeout_s"),
    ("outbox", "poll_interval_s"),
    ("geofences", "bleed_m"),
    ("offload", "time_limit_s"),
]


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "+nan"])
@pytest.mark.parametrize(("section", "key"), KEYS)
def test_a_number_that_is_not_finite_names_its_key(
    tmp_path: Path, section: str, key: str, value: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f"[{section}]\n{key} = {value}\n", encoding="utf-8")

    with pytest.raises(ConfigError, match=rf"^{section}\.{key}: expected a finite number"):
        load_config(path)


@pytest.mark.parametrize(("section", "key"), KEYS)
def test_a_finite_number_still_loads(tmp_path: Path, section: str, key: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f"[{section}]\n{key} = 7.5\n", encoding="utf-8")

    config = load_config(path)

    settings: object = config
    for part in (*section.split("."), key):
        settings = getattr(settings, part)
    assert settings == 7.5
