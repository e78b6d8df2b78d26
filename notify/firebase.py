"""FCM HTTP v1 push over the shared aiohttp session; firebase-admin signs, encodes and names errors.

Why not firebase-admin's own `send_each_async`: it moves about 375 messages/s (per-request httpx
and auth-flow overhead), far too slow to warn a million phones; a plain aiohttp client moves
several thousand. So this adapter keeps the library for what it is good at and owns the transport:

- credentials: `firebase_admin.credentials.Certificate` (google-auth underneath) mints the OAuth
  access token. The refresh is a blocking `requests` call, so it runs in a thread, once at a time
  (an asyncio.Lock), and the token is reused until shortly before it expires.
- encoding: `messaging.Message` and its Android/APNs configs, encoded by the library's own encoder,
  so the JSON is exactly what firebase-admin would send.
- errors: a non-2xx answer is handed to the library's platform-error parser, and the exception
  class it picks is translated here into our DeliveryRejected / DeliveryDeferred.

The two private firebase-admin functions this needs (the encoder and the error parser) are used
only in `_encode` and `_firebase_error` below; requirements/requirements.lock pins firebase-admin
7.7.0, and tests/notify/test_firebase.py fails if either changes behaviour.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import hashlib
import json
import logging
import urllib.parse
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import google.auth.exceptions
import google.auth.transport.requests
import httptools
import httpx
import requests
from firebase_admin import _utils as firebase_utils
from firebase_admin import credentials, exceptions, messaging
from yarl import URL

from canhbao.clock import Clock, SystemClock
from canhbao.config import FirebaseConfig, read_secret
from canhbao.errors import ConfigError
from notify.errors import (
    DeliveryDeferred,
    DeliveryRejected,
    InvalidMessage,
    NotifyError,
    ProviderUnavailable,
)
from notify.http_pool import Http1Pool, header_lines
from notify.models import (
    PushMessage,
    TopicChange,
    TopicChangeResult,
    check_push,
    check_topic_change,
)

log = logging.getLogger(__name__)

FCM_ENDPOINT = "https://fcm.googleapis.com"
CREDENTIALS_KEY = "push.firebase.credentials_env"
# Renew the access token this long before Google says it expires (tokens last an hour).
TOKEN_RENEW_MARGIN = timedelta(minutes=5)
APNS_COLLAPSE_ID_MAX = 64  # bytes; APNs refuses a longer apns-collapse-id

# Proxies and CDNs may re-encode a body; the bytes handed to httpx below are already decoded.
_DROPPED_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


class FirebasePush:
    """PushSender for Firebase Cloud Messaging (HTTP v1), one request per message."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        credentials_path: Path,
        project_id: str,
        endpoint: str,
        timeout_s: float,
        max_connections: int,
        clock: Clock | None = None,
    ) -> None:
        self._session = session
        self._certificate = _load_certificate(credentials_path)
        self._google_credential = self._certificate.get_credential()
        self.project_id = project_id or str(self._certificate.project_id or "")
        if not self.project_id:
            raise ConfigError(
                "push.firebase.project_id: not set, and the service-account file names no project"
            )
        self._clock: Clock = clock or SystemClock()
        base = (endpoint or FCM_ENDPOINT).rstrip("/")
        project = urllib.parse.quote(self.project_id, safe="")
        self._send_url = URL(f"{base}/v1/projects/{project}/messages:send", encoded=True)
        # The send path's own connections (see notify.http_pool for why not the shared session).
        self._pool = Http1Pool(base, max_connections)
        self._send_path = f"{urllib.parse.urlsplit(base).path}/v1/projects/{project}/messages:send"
        self._send_headers: tuple[str, bytes] = ("", b"")  # (access token, header lines)
        self._registrations_url = f"{base}/v1/projects/{project}/registrations"
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._timeout_s = timeout_s
        self._slots = asyncio.Semaphore(max_connections)
        # google-auth's token request goes through its own requests.Session (it is blocking and
        # runs in a worker thread); closed in close().
        self._auth_http = requests.Session()
        self._auth_request = google.auth.transport.requests.Request(self._auth_http)
        self._token: str | None = None
        self._token_renew_at = datetime.min.replace(tzinfo=UTC)
        self._token_lock = asyncio.Lock()
        self._problem: str | None = None  # the failure being reported, logged once until cleared

    @classmethod
    def from_config(
        cls, config: FirebaseConfig, session: aiohttp.ClientSession, *, clock: Clock | None = None
    ) -> FirebasePush:
        """Build from `[push.firebase]`; the service-account path comes from the named env var."""
        path = read_secret(config.credentials_env, CREDENTIALS_KEY)
        return cls(
            session,
            credentials_path=Path(path),
            project_id=config.project_id,
            endpoint=config.endpoint,
            timeout_s=config.timeout_s,
            max_connections=config.max_connections,
            clock=clock,
        )

    async def close(self) -> None:
        """Release the send path's and the token endpoint's connections (the shared session is
        not ours)."""
        await self._pool.close()
        self._auth_http.close()

    # -- the port ---------------------------------------------------------------------------------

    async def send(self, message: PushMessage) -> str:
        """Send one message; returns FCM's name for it (projects/<p>/messages/<id>)."""
        check_push(message)
        body = _encode(message, self._clock.now())
        token = await self._access_token()
        if self._send_headers[0] != token:
            self._send_headers = (token, header_lines(self._headers(token)))
        try:
            answer = await self._pool.post(
                self._send_path, self._send_headers[1], body, self._timeout_s
            )
        except TimeoutError as err:
            raise self._unavailable(
                f"FCM did not answer within {self._timeout_s} s", "TIMEOUT"
            ) from err
        except (OSError, httptools.HttpParserError) as err:  # ConnectionError is an OSError
            raise self._unavailable(f"FCM could not be reached: {err}", "UNREACHABLE") from err
        if 200 <= answer.status < 300:
            self._clear_problem()
            return _message_name(answer.body)
        raise self._translate(
            "POST", self._send_url, answer.status, answer.headers, answer.body, token
        )

    async def change_topic(self, change: TopicChange) -> TopicChangeResult:
        """Subscribe or unsubscribe up to 1,000 tokens, one FCM request per token.

        Tokens FCM refuses for good (UNREGISTERED, INVALID_ARGUMENT, SENDER_ID_MISMATCH) are
        reported in the result. A transient failure on any token defers the whole change: both
        operations are idempotent (subscribing twice answers 409, which counts as success, and
        unsubscribing passes allow_missing), so the retry simply repeats the batch.
        """
        # Sent over the shared aiohttp session, not with the library's subscribe_to_topic_async:
        # that one needs a firebase_admin.App, refreshes its token with a blocking call inside
        # the event loop, and closes its httpx client with asyncio.run(), which cannot run inside
        # ours. The requests are the ones firebase-admin 7.7 makes (FCM v1's per-registration
        # topicSubscriptions API), so the double and Google see the same thing either way.
        check_topic_change(change)
        topic = urllib.parse.quote(change.topic.removeprefix("/topics/"), safe="")
        token = await self._access_token()
        outcomes = await asyncio.gather(
            *(self._change_one(t, topic, change.subscribe, token) for t in change.tokens),
            return_exceptions=True,
        )
        failures: dict[str, str] = {}
        deferred: list[DeliveryDeferred] = []
        for registration, outcome in zip(change.tokens, outcomes, strict=True):
            if isinstance(outcome, DeliveryDeferred):
                deferred.append(outcome)
            elif isinstance(outcome, BaseException):
                raise outcome
            elif outcome is not None:
                failures[registration] = outcome
        if deferred:
            unreachable = [err for err in deferred if isinstance(err, ProviderUnavailable)]
            raise unreachable[0] if unreachable else max(deferred, key=_retry_after_of)
        self._clear_problem()
        return TopicChangeResult(failures=failures)

    async def _change_one(
        self, registration: str, topic: str, subscribe: bool, token: str
    ) -> str | None:
        """None when done, FCM's reason when this token is refused for good."""
        base = f"{self._registrations_url}/{urllib.parse.quote(registration, safe='')}"
        if subscribe:
            method, body = "POST", b"{}"
            url = URL(f"{base}/topicSubscriptions?topic_name={topic}", encoded=True)
        else:
            method, body = "DELETE", None
            url = URL(f"{base}/topicSubscriptions/{topic}?allow_missing=true", encoded=True)
        status, headers, content = await self._request(method, url, token, body)
        if 200 <= status < 300 or (subscribe and status == 409):
            return None  # 409: already subscribed, which is what we asked for
        error = self._translate(method, url, status, headers, content, token)
        if isinstance(error, DeliveryRejected):
            return error.code
        raise error

    # -- transport --------------------------------------------------------------------------------

    async def _request(
        self, method: str, url: URL, token: str, body: bytes | None
    ) -> tuple[int, Mapping[str, str], bytes]:
        headers = self._headers(token)
        try:
            async with (
                self._slots,
                self._session.request(
                    method, url, data=body, headers=headers, timeout=self._timeout
                ) as response,
            ):
                content = await response.read()
                return response.status, response.headers, content
        except TimeoutError as err:
            raise self._unavailable(
                f"FCM did not answer within {self._timeout_s} s", "TIMEOUT"
            ) from err
        except aiohttp.ClientError as err:
            raise self._unavailable(f"FCM could not be reached: {err}", "UNREACHABLE") from err

    @staticmethod
    def _headers(token: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json; charset=UTF-8",
            # Google's error format with `details`, which carries FCM's own error code.
            "X-GOOG-API-FORMAT-VERSION": "2",
        }

    async def _access_token(self) -> str:
        token = self._token
        if token is not None and self._clock.now() < self._token_renew_at:
            return token
        async with self._token_lock:  # one refresh at a time; the waiters reuse its token
            current = self._token
            if current is not None and self._clock.now() < self._token_renew_at:
                return current
            try:
                fresh, lifetime = await asyncio.to_thread(self._fetch_token)
            except google.auth.exceptions.TransportError as err:
                raise self._unavailable(
                    f"the OAuth token endpoint could not be reached: {err}", "TOKEN_UNREACHABLE"
                ) from err
            except google.auth.exceptions.RefreshError as err:
                raise self._deferred(
                    f"the OAuth token endpoint refused our service account: {err}",
                    "TOKEN_REFUSED",
                ) from err
            self._token = fresh
            self._token_renew_at = self._clock.now() + max(
                lifetime - TOKEN_RENEW_MARGIN, lifetime / 2
            )
            log.info(
                "FCM access token obtained",
                extra={"project_id": self.project_id, "lifetime_s": lifetime.total_seconds()},
            )
            return fresh

    def _fetch_token(self) -> tuple[str, timedelta]:
        """Blocking: sign a JWT with the service-account key and trade it for an access token."""
        request = functools.partial(self._auth_request, timeout=self._timeout_s)
        # refresh(), not before_request(): the latter also starts google-auth's background
        # "regional access boundary" lookup at iamcredentials.googleapis.com, which FCM does not
        # need and which would reach Google even when `endpoint` points elsewhere.
        self._google_credential.refresh(request)
        expiry = self._google_credential.expiry  # naive UTC, google-auth's convention
        lifetime = expiry.replace(tzinfo=UTC) - datetime.now(UTC) if expiry else timedelta(hours=1)
        return str(self._google_credential.token), lifetime

    # -- errors -----------------------------------------------------------------------------------

    def _translate(
        self,
        method: str,
        url: URL,
        status: int,
        headers: Mapping[str, str],
        content: bytes,
        token: str,
    ) -> NotifyError:
        """Our error for an FCM refusal, by the firebase-admin exception class it maps to."""
        error = _firebase_error(method, str(url), status, headers, content)
        text = f"FCM {status}: {error}"
        retry_after = _retry_after(headers.get("Retry-After"), self._clock.now())
        if isinstance(error, messaging.UnregisteredError):
            return DeliveryRejected(text, code="UNREGISTERED")
        if isinstance(error, messaging.SenderIdMismatchError):
            return DeliveryRejected(text, code="SENDER_ID_MISMATCH")
        if isinstance(error, exceptions.InvalidArgumentError):
            return DeliveryRejected(text, code="INVALID_ARGUMENT")
        if isinstance(error, messaging.ThirdPartyAuthError):
            # APNs/web-push credentials in the Firebase console are wrong: every iOS message will
            # fail the same way until someone fixes them, so keep the messages and say so once.
            return self._deferred(text, "THIRD_PARTY_AUTH_ERROR", retry_after)
        if isinstance(error, messaging.QuotaExceededError):
            return DeliveryDeferred(text, code="QUOTA_EXCEEDED", retry_after=retry_after)
        if isinstance(error, exceptions.UnauthenticatedError):
            if self._token == token:  # not a token another request has already replaced
                self._token = None
            return DeliveryDeferred(text, code="UNAUTHENTICATED", retry_after=retry_after)
        if isinstance(error, exceptions.ResourceExhaustedError):
            return DeliveryDeferred(text, code="RESOURCE_EXHAUSTED", retry_after=retry_after)
        if isinstance(
            error,
            exceptions.UnavailableError
            | exceptions.InternalError
            | exceptions.DeadlineExceededError,
        ):
            return DeliveryDeferred(text, code=str(error.code), retry_after=retry_after)
        # Anything else (PERMISSION_DENIED, a NOT_FOUND without UNREGISTERED, an unknown status)
        # says our project, key or endpoint is wrong, not this message: failing every queued
        # message for good would lose a whole warning, so keep them and report the problem once.
        return self._deferred(text, str(error.code or status), retry_after)

    def _deferred(self, text: str, code: str, retry_after: float | None = None) -> DeliveryDeferred:
        self._report_problem(code, text)
        return DeliveryDeferred(text, code=code, retry_after=retry_after)

    def _unavailable(self, text: str, code: str) -> ProviderUnavailable:
        self._report_problem(code, text)
        return ProviderUnavailable(text, code=code)

    def _report_problem(self, code: str, text: str) -> None:
        if self._problem != code:
            self._problem = code
            log.warning(
                "FCM deliveries failing",
                extra={"project_id": self.project_id, "code": code, "error": text},
            )

    def _clear_problem(self) -> None:
        if self._problem is not None:
            log.info(
                "FCM deliveries recovered",
                extra={"project_id": self.project_id, "code": self._problem},
            )
            self._problem = None


def _load_certificate(path: Path) -> Any:
    try:
        return credentials.Certificate(str(path))
    except OSError as err:
        raise ConfigError(
            f"{CREDENTIALS_KEY}: cannot read the service-account file {path}: {err.strerror}"
        ) from None
    except ValueError as err:  # also bad JSON: json.JSONDecodeError is a ValueError
        raise ConfigError(
            f"{CREDENTIALS_KEY}: {path} is not a Firebase service-account file: {err}"
        ) from None


def _encode(message: PushMessage, now: datetime) -> bytes:
    """The request body for messages:send, built and encoded by firebase-admin itself.

    A warning's token messages differ only in their token: the library encodes one of them per
    second (APNs expiry is absolute, so the second matters) and the others reuse its bytes.
    """
    if message.target_kind != "token":
        return _encode_once(message, now)
    second = int(now.timestamp())
    key = (
        message.title,
        message.body,
        tuple(sorted(message.data.items())),
        message.collapse_key,
        message.tag,
        message.ttl_s,
        message.high_priority,
        second,
    )
    template = _TEMPLATES.get(key)
    if template is None:
        if len(_TEMPLATES) >= TEMPLATES_KEPT:
            _TEMPLATES.clear()
        placeholder = replace(message, target=_TARGET_PLACEHOLDER)
        template = _TEMPLATES[key] = _encode_once(placeholder, datetime.fromtimestamp(second, UTC))
    if template.count(_QUOTED_PLACEHOLDER) != 1:  # the text itself quotes the placeholder
        return _encode_once(message, datetime.fromtimestamp(second, UTC))
    return template.replace(_QUOTED_PLACEHOLDER, json.dumps(message.target).encode())


TEMPLATES_KEPT = 256
_TEMPLATES: dict[tuple[object, ...], bytes] = {}
_TARGET_PLACEHOLDER = "canhbao-target-placeholder"
_QUOTED_PLACEHOLDER = f'"{_TARGET_PLACEHOLDER}"'.encode()


def _encode_once(message: PushMessage, now: datetime) -> bytes:
    # The tag is what makes a resend replace the notification already shown; on iOS the same
    # job is done by apns-collapse-id, so the tag wins over the collapse key there. APNs caps
    # the id at 64 bytes: a longer one is replaced by its SHA-256, still the same for a resend.
    collapse_id = message.tag or message.collapse_key
    if collapse_id is not None and len(collapse_id.encode()) > APNS_COLLAPSE_ID_MAX:
        collapse_id = hashlib.sha256(collapse_id.encode()).hexdigest()
    apns_headers = {"apns-priority": "10" if message.high_priority else "5"}
    if collapse_id is not None:
        apns_headers["apns-collapse-id"] = collapse_id
    if message.ttl_s is not None:
        # 0 tells APNs to try once and not store the message, like FCM's ttl of 0 s.
        expires = 0 if message.ttl_s == 0 else int(now.timestamp()) + message.ttl_s
        apns_headers["apns-expiration"] = str(expires)
    try:
        fcm_message = messaging.Message(
            notification=messaging.Notification(title=message.title, body=message.body),
            data=dict(message.data) or None,
            android=messaging.AndroidConfig(
                priority="high" if message.high_priority else "normal",
                ttl=message.ttl_s,
                collapse_key=message.collapse_key,
                notification=(
                    messaging.AndroidNotification(tag=message.tag) if message.tag else None
                ),
            ),
            apns=messaging.APNSConfig(headers=apns_headers),
            topic=message.target if message.target_kind == "topic" else None,
            condition=message.target if message.target_kind == "condition" else None,
        )
        if message.target_kind == "token":
            # Set after construction: 7.7's constructor warns that `token` is deprecated in favour
            # of `fid` (Firebase installation ids), but FCM v1 still takes the registration
            # tokens our devices register, and the encoder still sends the attribute.
            fcm_message.token = message.target
        # Private: the encoder is the only way to get the library's JSON without sending it.
        encoded = messaging._MessagingService.encode_message(fcm_message)
    except ValueError as err:
        raise InvalidMessage(
            f"firebase-admin refused the message: {err}", code="INVALID_MESSAGE"
        ) from err
    return json.dumps({"message": encoded}, ensure_ascii=False, separators=(",", ":")).encode()


def _firebase_error(
    method: str, url: str, status: int, headers: Mapping[str, str], content: bytes
) -> Any:
    """The firebase-admin exception the library itself would raise for this FCM answer."""
    request = httpx.Request(method, url)
    response = httpx.Response(
        status,
        headers=[(k, v) for k, v in headers.items() if k.lower() not in _DROPPED_HEADERS],
        content=content,
        request=request,
    )
    error = httpx.HTTPStatusError(f"FCM answered {status}", request=request, response=response)
    # Private: the parser that reads google.rpc.Status and FCM's FcmError detail; the public
    # API only raises its result from inside the library's own (slow) send path.
    return firebase_utils.handle_platform_error_from_httpx(
        error,
        messaging._MessagingService._build_fcm_error_httpx,
    )


def _message_name(content: bytes) -> str:
    try:
        name = json.loads(content)["name"]
    except (ValueError, KeyError, TypeError):
        name = None
    if not isinstance(name, str):
        # FCM took the message (2xx) and it cannot be recalled; sending it again would show it
        # twice, so accept it without a name rather than fail it.
        log.warning("FCM accepted a message without naming it", extra={"body": content[:200]})
        return ""
    return name


def _retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # RFC 9110 dates are GMT
    return max(0.0, (moment - now).total_seconds())


def _retry_after_of(error: DeliveryDeferred) -> float:
    return error.retry_after or 0.0
