"""The cameras' stills on disk: the shell's content-addressed image files (canhbao.imagefiles)."""

from __future__ import annotations

from canhbao.imagefiles import ImageFiles

__all__ = ["ImageFiles"]
