"""The hotline's app state, as typed web.AppKeys (set by hotline.setup and its context)."""

from __future__ import annotations

from aiohttp import web

from hotline.service import Hotline
from hotline.signature import WebhookSignatures

# Webhook steps, the operator dialer and callbacks (set by the hotline's context).
HOTLINE = web.AppKey("hotline", Hotline)
# The X-Twilio-Signature checker (set by hotline.setup).
HOTLINE_SIGNATURES = web.AppKey("hotline_signatures", WebhookSignatures)
