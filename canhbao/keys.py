"""Every piece of app state, as a typed web.AppKey: the only way domains reach shared objects."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from notify.outbox import Outbox
    from notify.ports import PushSender, SmsSender, VoiceCaller

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
# The notify domain's outbound ports and its durable outbox (set by notify.setup's context).
# Typed by annotation only: importing notify here would import it (and its routes, which import
# canhbao.auth) while canhbao.auth is still importing this module.
PUSH: web.AppKey[PushSender] = web.AppKey("push")
SMS: web.AppKey[SmsSender] = web.AppKey("sms")
VOICE: web.AppKey[VoiceCaller] = web.AppKey("voice")
OUTBOX: web.AppKey[Outbox] = web.AppKey("outbox")
