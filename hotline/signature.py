"""Reading a Twilio webhook: cheap checks first, the form parsed within strict limits, and the
X-Twilio-Signature verified before any field is used.

In order, each refusal a clear 4xx with one log line (never a traceback):
1. the X-Twilio-Signature header is present and well-formed (base64 of a SHA-1 HMAC) — 403;
2. the body is a form (application/x-www-form-urlencoded, which is all Twilio sends) — 415;
3. the body is at most MAX_BODY_BYTES (by Content-Length, then while reading) — 413;
4. the form parses strictly: UTF-8, key=value pairs, at most MAX_FIELDS fields, no key twice,
   keys and values within their lengths, no NUL — 400;
5. the HMAC is right, over the public URL Twilio called — 403.

Behind a TLS-terminating proxy the request we see is http://10.0.0.5:8080/twilio/voice, while
Twilio signed https://hotline.example.vn/twilio/voice; so the URL is rebuilt from
`server.public_base_url` and the raw path and query, never from what the proxy hands us.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl

from aiohttp import web
from twilio.request_validator import RequestValidator

from canhbao.config import Config, read_secret
from canhbao.http import ApiError

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Twilio-Signature"
FORM_TYPE = "application/x-www-form-urlencoded"
# Twilio's webhooks are a few kilobytes (an SMS body is at most 1,600 characters).
MAX_BODY_BYTES = 64 * 1024
MAX_FIELDS = 100
MAX_KEY_CHARS = 64
MAX_VALUE_CHARS = 8 * 1024
# base64 of the 20 bytes of an HMAC-SHA1.
_SIGNATURE = re.compile(r"[A-Za-z0-9+/]{27}=")


class FormInvalid(ValueError):
    """The body is not a form we accept; the message says why (answered 400)."""


def parse_form(body: bytes) -> dict[str, str]:
    """A webhook's form fields, or FormInvalid: strict UTF-8 and key=value syntax, at most
    MAX_FIELDS fields, each key once, lengths within MAX_KEY_CHARS and MAX_VALUE_CHARS."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise FormInvalid("the body is not UTF-8") from None
    if text.count("&") >= MAX_FIELDS:
        raise FormInvalid(f"more than {MAX_FIELDS} fields")
    try:
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            strict_parsing=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except UnicodeDecodeError:
        raise FormInvalid("a field is not UTF-8 once percent-decoded") from None
    except ValueError:
        raise FormInvalid("not a form of key=value fields") from None
    fields: dict[str, str] = {}
    for key, value in pairs:
        if not key or len(key) > MAX_KEY_CHARS:
            raise FormInvalid(f"a field name is empty or over {MAX_KEY_CHARS} characters")
        if len(value) > MAX_VALUE_CHARS:
            raise FormInvalid(f"{key}: over {MAX_VALUE_CHARS} characters")
        if "\x00" in key or "\x00" in value:
            raise FormInvalid(f"{key}: holds a NUL character")
        if key in fields:
            raise FormInvalid(f"{key}: given twice")
        fields[key] = value
    return fields


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
        """The request's form fields once every check passed; ApiError (logged) otherwise."""
        signature = request.headers.get(SIGNATURE_HEADER, "")
        if not signature:
            raise _refuse(request, 403, "invalid_signature", "X-Twilio-Signature is missing")
        if not _SIGNATURE.fullmatch(signature):
            raise _refuse(request, 403, "invalid_signature", "X-Twilio-Signature is malformed")
        if request.content_type != FORM_TYPE:
            raise _refuse(request, 415, "unsupported_media_type", f"the body must be {FORM_TYPE}")
        length = request.content_length
        if length is not None and length > MAX_BODY_BYTES:
            raise _too_large(request)
        body = await _read_capped(request)
        try:
            fields = parse_form(body)
        except FormInvalid as err:
            raise _refuse(request, 400, "invalid_form", str(err)) from None
        if not self._validator.validate(self.public_url(request), fields, signature):
            raise _refuse(
                request,
                403,
                "invalid_signature",
                "X-Twilio-Signature is wrong",
                call_sid=fields.get("CallSid"),
                message_sid=fields.get("MessageSid"),
            )
        return fields


async def _read_capped(request: web.Request) -> bytes:
    """The body, read no further than MAX_BODY_BYTES (a chunked body has no Content-Length)."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.readany():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _too_large(request)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(request: web.Request) -> ApiError:
    return _refuse(request, 413, "body_too_large", f"the body is over {MAX_BODY_BYTES} bytes")


def _refuse(
    request: web.Request, status: int, code: str, message: str, **ids: str | None
) -> ApiError:
    """One warning line (the ids of a signed-looking request, never its body), and the error."""
    log.warning(
        "Twilio webhook refused: %s",
        message,
        extra={"path": request.path, "status": status, "remote": request.remote, **ids},
    )
    return ApiError(status, code, message)
