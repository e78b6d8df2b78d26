"""Flood-road cameras: a registry, still fetching and checking, content-addressed storage,
quality flags, retention, and the public still API."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

from aiohttp import web
from PIL import Image

from cameras import jobs, routes, store
from cameras.errors import CameraInvalid
from cameras.models import build_camera
from cameras.ports import CameraPorts
from canhbao.config import Config, require_positive
from canhbao.db import Migration
from canhbao.errors import ConfigError

MIGRATIONS: tuple[Migration, ...] = store.MIGRATIONS


def setup(
    app: web.Application, config: Config, *, ports: Callable[[web.Application], CameraPorts]
) -> None:
    """Check [cameras] now; add the cameras context and routes. `ports` is called once at
    start-up, after the domains it reads from have started."""
    check_config(config)
    app.cleanup_ctx.append(jobs.cameras_context(ports))
    routes.setup_routes(app)


def check_config(config: Config) -> None:
    """Rules the type checks cannot express; ConfigError names the key path."""
    settings = config.cameras
    positive = (
        "interval_s",
        "warning_interval_s",
        "tick_s",
        "max_concurrent",
        "timeout_s",
        "max_bytes",
        "backoff_max_s",
        "max_pixels",
        "decode_time_limit_s",
        "thumbnail_width",
        "frozen_polls",
        "unreachable_after_failures",
        "fetches_keep_days",
    )
    require_positive(settings, "cameras", *positive)
    require_positive(
        settings.retention,
        "cameras.retention",
        "keep_all_days",
        "hourly_days",
        "max_disk_bytes",
        "interval_s",
    )
    if settings.max_pixels > (Image.MAX_IMAGE_PIXELS or 0):
        raise ConfigError(
            f"cameras.max_pixels: at most Pillow's decompression-bomb limit"
            f" ({Image.MAX_IMAGE_PIXELS})"
        )
    if not 0 <= settings.frozen_max_distance < 32:
        raise ConfigError("cameras.frozen_max_distance: from 0 to 31 bits")
    if settings.image_cache_s < 0:
        raise ConfigError("cameras.image_cache_s: must not be negative")
    seen: set[str] = set()
    for index, entry in enumerate(settings.cameras):
        where = f"cameras.cameras[{index}]"
        try:
            camera = build_camera(dataclasses.asdict(entry), "config")
        except CameraInvalid as err:
            raise ConfigError(f"{where}.{err}") from None
        if camera.id in seen:
            raise ConfigError(f"{where}.id: {camera.id!r} is listed twice")
        seen.add(camera.id)
        if camera.enabled and camera.auth != "none" and not os.environ.get(camera.password_env):
            raise ConfigError(
                f"{where}.password_env: environment variable {camera.password_env} is not set"
            )
