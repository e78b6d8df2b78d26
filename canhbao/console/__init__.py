"""The staff console (console/, a Vite single-page app) served at /console: hashed assets with a
year's cache, index.html (never cached) for every client route, its config as JSON."""

from __future__ import annotations

from canhbao.console.routes import CONSOLE_DIST, setup

__all__ = ["CONSOLE_DIST", "setup"]
