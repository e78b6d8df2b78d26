"""Outbound channels: push (FCM), SMS and voice (Twilio), and the durable outbox (being built)."""

from __future__ import annotations

from aiohttp import web

from canhbao.config import Config
from canhbao.db import Migration

MIGRATIONS: tuple[Migration, ...] = ()


def setup(app: web.Application, config: Config) -> None:
    """Nothing yet."""
