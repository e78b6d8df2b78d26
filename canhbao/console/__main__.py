"""`python -m canhbao.console openapi OUT`: write /api/v1/openapi.json without starting a server
(the console's build generates its typed API client from it)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from canhbao.app import create_app
from canhbao.config import Config
from canhbao.openapi import build_openapi


def write_openapi(out: Path) -> None:
    """The document the running service serves, from the routes create_app registers."""
    document = build_openapi(create_app(Config()))
    text = json.dumps(document, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    if not out.is_file() or out.read_text(encoding="utf-8") != text:
        out.write_text(text, encoding="utf-8")  # unchanged: keep the time (make's stamps)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "openapi":
        sys.stderr.write("usage: python -m canhbao.console openapi OUT.json\n")
        return 2
    write_openapi(Path(argv[1]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
