"""Content-addressed image files under the data directory: <root>/<sha[:2]>/<sha> and .thumb
(cameras' stills, photos sent with rescue requests).

A file is written under a temporary name and renamed into place, so a reader never sees half
of one; writing the same picture twice (two cameras, or a repeat) leaves one file.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ImageFiles:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str, *, thumbnail: bool = False) -> Path:
        if not _SHA256.match(sha256):
            raise ValueError(f"not a SHA-256: {sha256[:80]!r}")
        return self.root / sha256[:2] / (f"{sha256}.thumb" if thumbnail else sha256)

    def write(self, sha256: str, body: bytes, thumbnail: bytes) -> None:
        """Store a picture and its thumbnail, unless they are there already (blocking I/O)."""
        for path, data in (
            (self.path(sha256), body),
            (self.path(sha256, thumbnail=True), thumbnail),
        ):
            if path.exists():
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".{path.name}.{os.getpid()}.{id(data)}.tmp")
            temporary.write_bytes(data)
            os.replace(temporary, path)

    def read(self, sha256: str, *, thumbnail: bool = False) -> bytes | None:
        try:
            return self.path(sha256, thumbnail=thumbnail).read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, sha256: str) -> None:
        for thumbnail in (False, True):
            with contextlib.suppress(FileNotFoundError):
                self.path(sha256, thumbnail=thumbnail).unlink()
