"""The notify domain's AppKeys: its outbound ports and its durable outbox (set by its context)."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from notify.outbox import Outbox
from notify.ports import PushSender, SmsSender, VoiceCaller

PUSH: web.AppKey[PushSender] = web.AppKey("push")
SMS: web.AppKey[SmsSender] = web.AppKey("sms")
VOICE: web.AppKey[VoiceCaller] = web.AppKey("voice")
OUTBOX = web.AppKey("outbox", Outbox)
# In the sender's process: called when the web process says it enqueued rows (beside the
# outbox worker's own kick; alerting's fan-out runner registers here).
ON_KICK: web.AppKey[list[Callable[[], None]]] = web.AppKey("notify_on_kick")
