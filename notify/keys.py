"""The notify domain's AppKeys: its outbound ports and its durable outbox (set by its context)."""

from __future__ import annotations

from aiohttp import web

from notify.outbox import Outbox
from notify.ports import PushSender, SmsSender, VoiceCaller

PUSH: web.AppKey[PushSender] = web.AppKey("push")
SMS: web.AppKey[SmsSender] = web.AppKey("sms")
VOICE: web.AppKey[VoiceCaller] = web.AppKey("voice")
OUTBOX = web.AppKey("outbox", Outbox)
