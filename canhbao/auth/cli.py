"""`canhbao user` and `canhbao token` (placeholder, being built)."""

from __future__ import annotations

import argparse
from typing import Any


def add_commands(commands: Any) -> None:
    """Nothing yet."""
    del commands
    _ = argparse
