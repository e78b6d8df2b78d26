"""X-Twilio-Signature checks: twilio's RequestValidator over the public URL Twilio called.

Behind a TLS-terminating proxy the request we see is http://10.0.0.5:8080/twilio/voice, while
Twilio signed https://hotline.example.vn/twilio/voice; so the URL is rebuilt from
`server.public_base_url` and the raw path and query, never from what the proxy hands us.
"""

from __future__ import annotations

import logging

from aiohttp import web
from twilio.request_validator import RequestValidator

from canhbao.config import Config, read_secret
from canhbao.http import ApiError

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Twilio-Signature"


def webhook_auth_token(config: Config) -> str:
    """The token Twilio signs with: the account's auth token with provider "twilio" (start-up
    fails without it), the configured development token with provider "local"."""
    if config.telephony.provider == "twilio":
        return read_secret(
            config.telephony.twilio.auth_token_env, "telephony.twilio.auth_token_env"
        )
    return config.hotline.local_auth_token


class WebhookSignatures:
    def __init__(self, config: Config) -> None:
        self._validator = RequestValidator(webhook_auth_token(config))
        self._base = config.server.public_base_url.rstrip("/")

    def public_url(self, request: web.Request) -> str:
        return self._base + request.raw_path

    async def verify(self, request: web.Request) -> dict[str, str]:
        """The request's form fields once its signature is good; 403 (logged) otherwise."""
        form = await request.post()
        fields = {key: value for key, value in form.items() if isinstance(value, str)}
        signature = request.headers.get(SIGNATURE_HEADER, "")
        url = self.public_url(request)
        if not signature or not self._validator.validate(url, fields, signature):
            log.warning(
                "Twilio webhook refused: %s signature",
                "missing" if not signature else "wrong",
                extra={
                    "path": request.path,
                    "call_sid": fields.get("CallSid"),
                    "message_sid": fields.get("MessageSid"),
                    "remote": request.remote,
                },
            )
            raise ApiError(403, "invalid_signature", "X-Twilio-Signature is missing or wrong")
        return fields
