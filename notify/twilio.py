"""Twilio REST adapter: SMS and outbound calls through the twilio library, errors translated here.

Requests go through `_AiohttpTwilioClient`, a small AsyncTwilioHttpClient that fixes three things
in twilio 9.13 on aiohttp 3.14, and is where every HTTP failure becomes one of our errors:

- AsyncTwilioHttpClient stores its `timeout` but never hands it to aiohttp, so a stalled Twilio
  would hold a send forever; we pass an aiohttp.ClientTimeout on every request.
- It authenticates with aiohttp.BasicAuth, deprecated in aiohttp 3.14 (a DeprecationWarning on
  every request); we send the Authorization header ourselves.
- TwilioRestException keeps the status and Twilio's code but drops the response headers, so
  Retry-After would be lost; we classify the response before the library sees it.

Translation, at that one place:

    429, 5xx, 404, 408, 409      → DeliveryDeferred (retry_after from Retry-After on 429)
    401, 403                     → DeliveryDeferred(code="AUTH"), logged once per outage
    any other 4xx (21211 bad To,
      21610 unsubscribed, …)     → DeliveryRejected(code=<Twilio code>)
    connection errors, timeouts  → ProviderUnavailable
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from canhbao.config import TwilioConfig, read_secret
from notify.errors import DeliveryDeferred, DeliveryRejected, NotifyError, ProviderUnavailable
from notify.models import SmsMessage, VoiceCall, check_call, check_sms

log = logging.getLogger(__name__)

# Every progress callback a call can send; the hotline's call log follows all of them.
CALL_STATUS_EVENTS = ("initiated", "ringing", "answered", "completed")
# Reconciling after a crash: how many of a number's most recent messages (or calls) to look at.
FIND_LIMIT = 100
FIND_PAGE_SIZE = 50
# Twilio's clock and ours may disagree a little, and Twilio stamps whole seconds.
CLOCK_SKEW = timedelta(seconds=10)
# Statuses that say "not now" rather than "never": wrong account or URL (404) is a configuration
# fault an operator can fix while the outbox keeps retrying.
_DEFERRED_STATUSES = frozenset({404, 408, 409, 429})


class _AiohttpTwilioClient(AsyncTwilioHttpClient):  # type: ignore[misc]  # twilio ships no types
    """The twilio library's async HTTP client, with a timeout that applies and our errors."""

    def __init__(self, timeout_s: float) -> None:
        # pool_connections=False: the parent would build a ClientSession here, outside any event
        # loop; ours is made on first use and closed by close().
        super().__init__(pool_connections=False, timeout=timeout_s)
        self._client_timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        self._auth_failing = False

    async def request(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109  # the signature twilio calls us with
        allow_redirects: bool = False,
    ) -> Response:
        if self._closed:
            raise RuntimeError("TwilioTelephony is closed")
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._client_timeout)
        sent_headers = dict(headers or {})
        if auth is not None:
            sent_headers["Authorization"] = aiohttp.encode_basic_auth(auth[0], auth[1])
        request_timeout = (
            aiohttp.ClientTimeout(total=timeout) if timeout is not None else self._client_timeout
        )
        try:
            async with self._session.request(
                method.upper(),
                url,
                params=dict(params) if params else None,
                data=dict(data) if data else None,
                headers=sent_headers,
                timeout=request_timeout,
                allow_redirects=allow_redirects,
            ) as response:
                text = await response.text()
        except (aiohttp.ClientError, TimeoutError) as err:
            raise ProviderUnavailable(
                f"Twilio could not be reached: {type(err).__name__}: {err}", code="UNREACHABLE"
            ) from err
        if response.status >= 400:
            raise self._error(response.status, text, response.headers)
        if self._auth_failing:
            self._auth_failing = False
            log.info("Twilio accepts our credentials again")
        return Response(response.status, text, response.headers)

    def _error(self, status: int, text: str, headers: Mapping[str, str]) -> NotifyError:
        code, message = _twilio_error(status, text)
        description = f"Twilio answered {status} (code {code}): {message}"
        if status in (401, 403):
            if not self._auth_failing:
                self._auth_failing = True
                log.error(
                    "Twilio refuses our credentials; check telephony.twilio",
                    extra={"status": status, "twilio_code": code},
                )
            return DeliveryDeferred(description, code="AUTH")
        if status == 429:
            return DeliveryDeferred(
                description, code=str(code), retry_after=_retry_after(headers.get("Retry-After"))
            )
        if status >= 500 or status in _DEFERRED_STATUSES:
            return DeliveryDeferred(description, code=str(code))
        return DeliveryRejected(description, code=str(code))

    async def close(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None


class TwilioTelephony:
    """SmsSender and VoiceCaller on Twilio's REST API (Messages.json, Calls.json)."""

    def __init__(
        self, *, account_sid: str, auth_token: str, api_base_url: str, timeout_s: float
    ) -> None:
        self._http = _AiohttpTwilioClient(timeout_s)
        self._client = Client(account_sid, auth_token, http_client=self._http)
        if api_base_url:
            # twilio-python has no base-URL option: every REST URL is built from the Api domain's
            # base_url, so this sends Messages.json and Calls.json (and paging links) there.
            self._client.api.base_url = api_base_url.rstrip("/")
            # TWILIO_EDGE / TWILIO_REGION from the environment would rewrite the host name.
            self._client.edge = None
            self._client.region = None

    @classmethod
    def from_config(cls, config: TwilioConfig) -> TwilioTelephony:
        """Build from `[telephony.twilio]`; the SID and token come from the variables it names."""
        return cls(
            account_sid=read_secret(config.account_sid_env, "telephony.twilio.account_sid_env"),
            auth_token=read_secret(config.auth_token_env, "telephony.twilio.auth_token_env"),
            api_base_url=config.api_base_url,
            timeout_s=config.timeout_s,
        )

    async def send_sms(self, sms: SmsMessage) -> str:
        check_sms(sms)
        message = await self._client.messages.create_async(
            to=sms.to,
            from_=sms.sender,
            body=sms.body,
            status_callback=sms.status_callback,
        )
        return _sid(message)

    async def place_call(self, call: VoiceCall) -> str:
        check_call(call)
        options: dict[str, Any] = {"timeout": call.timeout_s}
        if call.twiml is not None:
            options["twiml"] = call.twiml
        else:
            options["url"] = call.url
        if call.status_callback:
            options["status_callback"] = call.status_callback
            options["status_callback_event"] = list(CALL_STATUS_EVENTS)
            options["status_callback_method"] = "POST"
        if call.machine_detection:
            options["machine_detection"] = "Enable"
        created = await self._client.calls.create_async(to=call.to, from_=call.caller_id, **options)
        return _sid(created)

    async def find_sms(self, sms: SmsMessage, since: datetime) -> str | None:
        # No DateSent filter: Twilio filters on whole dates only, and a message still queued has
        # no date_sent at all, so it would be missed and sent twice. To and From narrow the list
        # to one conversation; date_created, set when Twilio accepted it, decides.
        floor = _floor(since)
        records = await self._client.messages.list_async(
            to=sms.to, from_=sms.sender, limit=FIND_LIMIT, page_size=FIND_PAGE_SIZE
        )
        for record in records:
            if record.body == sms.body and _created_since(record.date_created, floor):
                return _sid(record)
        return None

    async def find_call(self, call: VoiceCall, since: datetime) -> str | None:
        # No StartTime filter, for the same reason: a queued call has no start_time yet.
        floor = _floor(since)
        records = await self._client.calls.list_async(
            to=call.to, from_=call.caller_id, limit=FIND_LIMIT, page_size=FIND_PAGE_SIZE
        )
        for record in records:
            if _created_since(record.date_created, floor):
                return _sid(record)
        return None

    async def close(self) -> None:
        await self._http.close()


def _twilio_error(status: int, text: str) -> tuple[int, str]:
    """Twilio's error code and message from a JSON error body (the status if there is none)."""
    try:
        body = json.loads(text)
    except ValueError:
        return status, text[:200]
    if not isinstance(body, dict):
        return status, text[:200]
    code = body.get("code")
    message = body.get("message") or body.get("detail") or ""
    return (code if isinstance(code, int) else status), str(message)


def _retry_after(value: str | None) -> float | None:
    # Twilio sends seconds; an HTTP-date or garbage means "use your own backoff".
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None


def _floor(since: datetime) -> datetime:
    if since.tzinfo is None:
        raise ValueError("since must be timezone-aware")
    return since.astimezone(UTC).replace(microsecond=0) - CLOCK_SKEW


def _created_since(created: datetime | None, floor: datetime) -> bool:
    return created is not None and created >= floor


def _sid(resource: Any) -> str:
    sid: str = resource.sid
    return sid
