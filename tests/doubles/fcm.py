"""A local FCM HTTP v1 double: OAuth token endpoint, messages:send, topic subscriptions, failures.

It speaks Google's wire format closely enough that the real firebase-admin library, pointed at it,
raises the same exception classes as against Google: the error bodies below are FCM's own
(`google.rpc.Status` with an `FcmError` detail, and a `BadRequest` detail for field violations).

Tests script it through plain attributes and methods: `unregistered` (tokens FCM has forgotten),
`fail_next(status, count)` (the next requests fail), `revoke_tokens()` (issued access tokens stop
working, as when Google expires one early). Each request does O(1) work and nothing is logged per
request, so a benchmark measures the client, not the double.

Run it in its own process for benchmarks (from the repository root):

    python -m tests.doubles.fcm --port 0 [--record FILE] [--project P] [--public-key PEM]

prints `PORT <n>` once listening, appends each accepted message to FILE as one JSON line (flushed
per line) and exits cleanly on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import re
import secrets
import signal
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import jwt
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.doubles.credentials import service_account_public_key, write_service_account

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# google-auth always addresses its assertion to Google's token endpoint, whatever token_uri is.
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"
PAYLOAD_LIMIT = 4096  # bytes of notification + data, as FCM counts them
CONDITION_TOPICS = 5
JSON_TYPE = "application/json; charset=UTF-8"

# google.rpc.Code names, by the HTTP status Google pairs them with.
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
# The FcmError code FCM attaches to each status when a test does not name one.
DEFAULT_FCM_CODES: dict[int, str | None] = {
    400: "INVALID_ARGUMENT",
    401: None,  # a bad access token carries no FcmError detail
    403: "SENDER_ID_MISMATCH",
    404: "UNREGISTERED",
    429: "QUOTA_EXCEEDED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
MESSAGES = {
    400: "Request contains an invalid argument.",
    401: (
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
        "cookie or other valid authentication credential. See "
        "https://developers.google.com/identity/sign-in/web/devconsole-project."
    ),
    403: "SenderId mismatch",
    404: "Requested entity was not found.",
    409: "Requested entity already exists",
    429: "Quota exceeded for quota metric 'Send requests' of service fcm.googleapis.com.",
    500: "Internal error encountered.",
    503: "The service is currently unavailable.",
}
MESSAGE_FIELDS = frozenset(
    {
        "name",
        "data",
        "notification",
        "android",
        "webpush",
        "apns",
        "fcm_options",
        "fcmOptions",
        "token",
        "topic",
        "condition",
        "fid",
    }
)
TARGETS = ("token", "topic", "condition", "fid")
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_:\-.]{20,4096}$")
_TOPIC_RE = re.compile(r"^[a-zA-Z0-9\-_.~%]{1,900}$")
_TOPIC_IN_CONDITION_RE = re.compile(r"'[^']*'\s+in\s+topics")
_DURATION_RE = re.compile(r"^\d{1,10}(\.\d{1,9})?s$")


def error_body(
    status: int,
    message: str | None = None,
    *,
    fcm_code: str | None = None,
    violations: Iterable[tuple[str, str]] = (),
    status_name: str | None = None,
) -> bytes:
    """Google's JSON error body: {"error": {code, message, status, details}}."""
    details: list[dict[str, Any]] = []
    if fcm_code:
        details.append({"@type": FCM_ERROR_TYPE, "errorCode": fcm_code})
    field_violations = [{"field": f, "description": d} for f, d in violations]
    if field_violations:
        details.append({"@type": BAD_REQUEST_TYPE, "fieldViolations": field_violations})
    error: dict[str, Any] = {
        "code": status,
        "message": message or MESSAGES.get(status, "Unknown error."),
        "status": status_name or STATUS_NAMES.get(status, "UNKNOWN"),
    }
    if details:
        error["details"] = details
    return json.dumps({"error": error}).encode()


def _error(status: int, body: bytes, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, body=body, headers={"Content-Type": JSON_TYPE, **(headers or {})}
    )


def _invalid(field: str, description: str, message: str | None = None) -> web.Response:
    return _error(
        400,
        error_body(400, message, fcm_code="INVALID_ARGUMENT", violations=[(field, description)]),
    )


@dataclass
class _ScriptedFailure:
    status: int
    body: bytes
    headers: dict[str, str]
    remaining: int


class FcmDouble:
    """FCM HTTP v1 on a local aiohttp app: serve `double.app`, then point a client at it."""

    def __init__(
        self,
        project_id: str = "canhbao-test",
        *,
        keep: bool = True,
        record: IO[str] | None = None,
        token_lifetime_s: int = 3600,
    ) -> None:
        self.project_id = project_id
        self.keep = keep  # False for long benchmarks: count messages, do not hold them in memory
        self.record = record
        self.token_lifetime_s = token_lifetime_s
        self.accepted: list[dict[str, Any]] = []
        self.accepted_count = 0
        self.send_requests = 0
        self.token_requests = 0
        self.topic_requests = 0
        # A slow FCM: each send is held this long, so a test can see how many a client keeps
        # in flight at once.
        self.delay_s = 0.0
        self.in_flight = 0
        self.max_in_flight = 0
        self.unregistered: set[str] = set()
        self.topics: dict[str, set[str]] = collections.defaultdict(set)
        self._trusted_keys: list[bytes] = []
        self._issued: set[str] = set()
        self._failures: collections.deque[_ScriptedFailure] = collections.deque()
        self._sequence = 0
        self._run = secrets.token_hex(4)
        self.app = web.Application()
        self.app.router.add_post("/token", self._token)
        self.app.router.add_post("/v1/projects/{project}/messages:send", self._send)
        self.app.router.add_post(
            "/v1/projects/{project}/registrations/{token}/topicSubscriptions", self._subscribe
        )
        self.app.router.add_delete(
            "/v1/projects/{project}/registrations/{token}/topicSubscriptions/{topic}",
            self._unsubscribe,
        )
        self.app.router.add_get("/_double/stats", self._stats)

    # -- scripting ------------------------------------------------------------------------------

    def trust_key(self, public_key_pem: bytes) -> None:
        """Check JWT assertions against this key (without any trusted key, signatures are not
        checked, only the JWT's form)."""
        self._trusted_keys.append(public_key_pem)

    def fail_next(
        self,
        status: int,
        count: int = 1,
        *,
        retry_after: int | str | None = None,
        code: str | None = None,
        message: str | None = None,
    ) -> None:
        """The next `count` FCM API requests (send or topic) fail with this status and FcmError
        code (FCM's usual code for the status when not given), after the access token check."""
        fcm_code = code if code is not None else DEFAULT_FCM_CODES.get(status)
        status_name = "UNAUTHENTICATED" if code == "THIRD_PARTY_AUTH_ERROR" else None
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        body = error_body(status, message, fcm_code=fcm_code, status_name=status_name)
        self._failures.append(_ScriptedFailure(status, body, headers, count))

    def revoke_tokens(self) -> None:
        """Every access token issued so far stops working (401 UNAUTHENTICATED)."""
        self._issued.clear()

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The accepted messages as the client encoded them (without FCM's names)."""
        return [entry["message"] for entry in self.accepted]

    # -- OAuth 2.0 token endpoint ----------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        form = await request.post()
        if form.get("grant_type") != JWT_BEARER:
            return _oauth_error("unsupported_grant_type", "Invalid grant_type.")
        assertion = form.get("assertion")
        if not isinstance(assertion, str) or not assertion:
            return _oauth_error("invalid_request", "Missing required parameter: assertion")
        problem = self._check_assertion(assertion, [GOOGLE_TOKEN_AUDIENCE, str(request.url)])
        if problem:
            return _oauth_error("invalid_grant", problem)
        access_token = f"ya29.double-{secrets.token_urlsafe(24)}"
        self._issued.add(access_token)
        return web.json_response(
            {
                "access_token": access_token,
                "expires_in": self.token_lifetime_s,
                "token_type": "Bearer",
            }
        )

    def _check_assertion(self, assertion: str, audience: list[str]) -> str | None:
        required = ["iss", "aud", "exp", "iat"]
        if not self._trusted_keys:
            try:
                jwt.decode(assertion, options={"verify_signature": False, "require": required})
            except jwt.PyJWTError as err:
                return f"Invalid JWT: {err}"
            return None
        for key in self._trusted_keys:
            try:
                jwt.decode(
                    assertion,
                    key,
                    algorithms=["RS256"],
                    audience=audience,
                    options={"require": required},
                )
            except jwt.InvalidSignatureError:
                continue
            except jwt.PyJWTError as err:
                return f"Invalid JWT: {err}"
            return None
        return "Invalid JWT Signature."

    # -- messages:send ---------------------------------------------------------------------------

    def _refuse(self, request: web.Request) -> web.Response | None:
        """The answer to a request that fails before its body is looked at, if it does."""
        if request.match_info["project"] != self.project_id:
            return _error(
                403,
                error_body(
                    403,
                    "Permission 'cloudmessaging.messages.create' denied on resource "
                    f"'//cloudresourcemanager.googleapis.com/projects/"
                    f"{request.match_info['project']}' (or it may not exist).",
                ),
            )
        authorization = request.headers.get("Authorization", "")
        if not authorization.startswith("Bearer ") or authorization[7:] not in self._issued:
            return _error(
                401,
                error_body(401),
                {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
            )
        if self._failures:
            failure = self._failures[0]
            failure.remaining -= 1
            if failure.remaining <= 0:
                self._failures.popleft()
            return _error(failure.status, failure.body, failure.headers)
        return None

    async def _send(self, request: web.Request) -> web.Response:
        self.send_requests += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            return await self._send_now(request)
        finally:
            self.in_flight -= 1

    async def _send_now(self, request: web.Request) -> web.Response:
        refused = self._refuse(request)
        if refused is not None:
            return refused
        try:
            body = json.loads(await request.read())
        except (UnicodeDecodeError, json.JSONDecodeError):
            return _error(400, error_body(400, "Invalid JSON payload received."))
        if not isinstance(body, dict) or not isinstance(body.get("message"), dict):
            return _invalid("message", "Message is required.")
        message: dict[str, Any] = body["message"]
        invalid = _check_message(message)
        if invalid is not None:
            return invalid
        token = message.get("token")
        if token is not None and token in self.unregistered:
            return _error(404, error_body(404, fcm_code="UNREGISTERED"))
        if body.get("validate_only") is True:
            # A dry run: validated like a send, never delivered, answered with a fixed name.
            return _json({"name": f"projects/{self.project_id}/messages/fake_message_id"})
        self._sequence += 1
        name = f"projects/{self.project_id}/messages/0:{self._run}{self._sequence:010d}"
        entry = {"name": name, "message": message}
        self.accepted_count += 1
        if self.keep:
            self.accepted.append(entry)
        if self.record is not None:
            self.record.write(json.dumps(entry, ensure_ascii=False) + "\n")
            self.record.flush()  # a test reads the file while the double runs
        return _json({"name": name})

    # -- topic subscriptions (FCM v1 per-registration API) ---------------------------------------

    def _check_registration(self, request: web.Request) -> tuple[str, web.Response | None]:
        token = request.match_info["token"]
        if not _TOKEN_RE.match(token):
            return token, _invalid("registration", "Invalid registration token")
        if token in self.unregistered:
            return token, _error(404, error_body(404, fcm_code="UNREGISTERED"))
        return token, None

    async def _subscribe(self, request: web.Request) -> web.Response:
        self.topic_requests += 1
        refused = self._refuse(request)
        if refused is not None:
            return refused
        token, invalid = self._check_registration(request)
        if invalid is not None:
            return invalid
        topic = request.query.get("topic_name", "")
        if not _TOPIC_RE.match(topic):
            return _invalid("topic_name", "Invalid topic name")
        subscribers = self.topics[topic]
        if token in subscribers:
            return _error(409, error_body(409))
        subscribers.add(token)
        return _json({})

    async def _unsubscribe(self, request: web.Request) -> web.Response:
        self.topic_requests += 1
        refused = self._refuse(request)
        if refused is not None:
            return refused
        token, invalid = self._check_registration(request)
        if invalid is not None:
            return invalid
        topic = request.match_info["topic"]
        if not _TOPIC_RE.match(topic):
            return _invalid("topic", "Invalid topic name")
        subscribers = self.topics.get(topic, set())
        if token not in subscribers:
            if request.query.get("allow_missing") == "true":
                return _json({})
            return _error(404, error_body(404))
        subscribers.discard(token)
        return _json({})

    async def _stats(self, request: web.Request) -> web.Response:
        return _json(
            {
                "accepted": self.accepted_count,
                "send_requests": self.send_requests,
                "token_requests": self.token_requests,
                "topic_requests": self.topic_requests,
            }
        )


def _json(value: Any) -> web.Response:
    return web.Response(body=json.dumps(value).encode(), headers={"Content-Type": JSON_TYPE})


def _oauth_error(error: str, description: str) -> web.Response:
    # The token endpoint speaks RFC 6749 errors, not google.rpc.Status.
    return _error(400, json.dumps({"error": error, "error_description": description}).encode())


def _check_message(message: dict[str, Any]) -> web.Response | None:
    """FCM's refusals of a malformed message: a 400 naming the field, or None."""
    for key in message:
        if key not in MESSAGE_FIELDS:
            return _error(
                400,
                error_body(
                    400,
                    f"Invalid JSON payload received. Unknown name \"{key}\" at 'message': "
                    "Cannot find field.",
                    violations=[
                        ("message", f'Invalid JSON payload received. Unknown name "{key}"')
                    ],
                ),
            )
    targets = [t for t in TARGETS if t in message]
    if len(targets) != 1:
        return _invalid("message", "Exactly one of token, topic, condition or fid is required.")
    target = targets[0]
    value = message[target]
    if not isinstance(value, str):
        return _invalid(f"message.{target}", f"Invalid value for {target}")
    if target == "token" and not _TOKEN_RE.match(value):
        return _invalid(
            "message.token",
            "Invalid registration token",
            "The registration token is not a valid FCM registration token",
        )
    if target == "topic" and not _TOPIC_RE.match(value):
        return _invalid("message.topic", "Invalid topic name")
    if target == "condition" and len(_TOPIC_IN_CONDITION_RE.findall(value)) > CONDITION_TOPICS:
        return _invalid("message.condition", "Condition has too many topics (at most 5)")
    data = message.get("data", {})
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        return _invalid("message.data", "Data keys and values must be strings")
    notification = message.get("notification", {})
    if not isinstance(notification, dict):
        return _invalid("message.notification", "Invalid notification")
    android = message.get("android", {})
    if not isinstance(android, dict):
        return _invalid("message.android", "Invalid android config")
    if str(android.get("priority", "high")).upper() not in ("HIGH", "NORMAL"):
        return _invalid("message.android.priority", "Invalid priority")
    ttl = android.get("ttl")
    if ttl is not None and (not isinstance(ttl, str) or not _DURATION_RE.match(ttl)):
        return _invalid("message.android.ttl", "Invalid duration")
    apns = message.get("apns", {})
    headers = apns.get("headers", {}) if isinstance(apns, dict) else None
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        return _invalid("message.apns.headers", "APNs headers must be strings")
    size = len(
        json.dumps(
            {"notification": notification, "data": data},
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
    )
    if size > PAYLOAD_LIMIT:
        return _invalid("message", "Message is too big", "Message is too big")
    return None


@dataclass
class RunningFcm:
    """An FcmDouble being served, and a service-account file whose token_uri points at it."""

    double: FcmDouble
    server: TestServer
    credentials_path: Path

    @property
    def endpoint(self) -> str:
        """The FCM base URL to configure (`[push.firebase] endpoint`)."""
        return str(self.server.make_url("")).rstrip("/")


async def serve_fcm_double(
    server_factory: Any, directory: Path, project_id: str = "canhbao-test"
) -> RunningFcm:
    """Serve a new FcmDouble with pytest-aiohttp's `aiohttp_server` and write credentials whose
    key it trusts into `directory`."""
    double = FcmDouble(project_id)
    server = await server_factory(double.app)
    path = write_service_account(
        directory / "firebase-service-account.json", str(server.make_url("/token")), project_id
    )
    double.trust_key(service_account_public_key(path))
    return RunningFcm(double, server, path)


async def _serve(double: FcmDouble, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    runner = web.AppRunner(double.app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", port, backlog=1024)
        await site.start()
        sys.stdout.write(f"PORT {runner.addresses[0][1]}\n")
        sys.stdout.flush()
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1; 0 = any")
    parser.add_argument("--project", default="canhbao-test", help="the Firebase project id")
    parser.add_argument("--record", type=Path, help="append accepted messages here as JSON lines")
    parser.add_argument("--public-key", type=Path, help="PEM key that JWT assertions must match")
    parser.add_argument(
        "--unregistered", action="append", default=[], help="a token FCM has forgotten (repeat)"
    )
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        record = (
            stack.enter_context(args.record.open("a", encoding="utf-8")) if args.record else None
        )
        # Kept in memory: counts only; a benchmark sends far more than a test would hold.
        double = FcmDouble(args.project, keep=False, record=record)
        if args.public_key:
            double.trust_key(args.public_key.read_bytes())
        double.unregistered.update(args.unregistered)
        asyncio.run(_serve(double, args.port))


if __name__ == "__main__":
    main()
