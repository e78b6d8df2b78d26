"""Every piece of app state, as a typed web.AppKey: the only way domains reach shared objects."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from prometheus_client import CollectorRegistry

from canhbao.clock import Clock
from canhbao.config import Config
from canhbao.db import Database
from canhbao.eventlog import EventLog
from canhbao.events import EventBus
from canhbao.health import HealthRegistry
from canhbao.offload import ProcessPool

CONFIG = web.AppKey("config", Config)
CLOCK = web.AppKey("clock", Clock)
BUS = web.AppKey("bus", EventBus)
DB = web.AppKey("db", Database)
# The durable event log: events other domains act on (canhbao.eventlog).
EVENTS = web.AppKey("events", EventLog)
HTTP = web.AppKey("http", aiohttp.ClientSession)
SCHEDULER = web.AppKey("scheduler", AsyncIOScheduler)
HEALTH = web.AppKey("health", HealthRegistry)
METRICS = web.AppKey("metrics", CollectorRegistry)
# Worker processes for CPU-heavy work, with a time and memory limit per job (canhbao.offload).
OFFLOAD = web.AppKey("offload", ProcessPool)
# Called before each /metrics scrape, to refresh gauges read from the database.
METRIC_REFRESHERS = web.AppKey("metric_refreshers", list[Callable[[], Awaitable[None]]])
