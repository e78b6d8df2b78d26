"""FirebasePush and the FCM double, driven through the real firebase-admin and google-auth."""

from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import hashlib
import json
import logging
import socket
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import firebase_admin
import pytest
from aiohttp.test_utils import TestServer
from firebase_admin import credentials, exceptions, messaging

from canhbao.clock import ManualClock
from canhbao.config import FirebaseConfig
from canhbao.errors import ConfigError
from notify.errors import DeliveryDeferred, DeliveryRejected, InvalidMessage, ProviderUnavailable
from notify.firebase import FirebasePush
from notify.models import PushMessage, TopicChange
from tests.doubles.credentials import service_account_public_key, write_service_account
from tests.doubles.fcm import RunningFcm, serve_fcm_double

REPO = Path(__file__).resolve().parents[2]
PROJECT = "canhbao-test"
TOKEN = "eHue0001:APA91bF-phu_vang.ward-01"
OTHER = "eHue0002:APA91bF-phu_vang.ward-02"
GONE = "eHue0003:APA91bF-uninstalled-app"
TOPIC = "hue-phu-vang"
CREDENTIALS_ENV = "CANHBAO_TEST_FIREBASE_CREDENTIALS"

ServerFactory = Callable[..., Awaitable[TestServer]]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def warning(target_kind: Any = "token", target: str = TOKEN, **fields: Any) -> PushMessage:
    return PushMessage(
        target_kind=target_kind,
        target=target,
        title=fields.pop("title", "Cảnh báo lũ"),
        body=fields.pop("body", "Sông Hương tại Kim Long vượt báo động III (3,5 m)."),
        **fields,
    )


@pytest.fixture
async def fcm(aiohttp_server: ServerFactory, tmp_path: Path) -> RunningFcm:
    return await serve_fcm_double(aiohttp_server, tmp_path, PROJECT)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
async def make_push(
    session: aiohttp.ClientSession, fcm: RunningFcm, clock: ManualClock
) -> AsyncIterator[Callable[..., FirebasePush]]:
    """FirebasePush against the double; keyword arguments override the constructor's."""
    made: list[FirebasePush] = []

    def make(**overrides: Any) -> FirebasePush:
        arguments: dict[str, Any] = {
            "credentials_path": fcm.credentials_path,
            "project_id": PROJECT,
            "endpoint": fcm.endpoint,
            "timeout_s": 5.0,
            "max_connections": 20,
            "clock": clock,
            **overrides,
        }
        push = FirebasePush(session, **arguments)
        made.append(push)
        return push

    yield make
    for push in made:
        await push.close()


@pytest.fixture
def push(make_push: Callable[..., FirebasePush]) -> FirebasePush:
    return make_push()


# -- sending -----------------------------------------------------------------------------------


async def test_token_message_arrives_encoded_as_fcm_expects(
    push: FirebasePush, fcm: RunningFcm, clock: ManualClock
) -> None:
    message = warning(
        data={"alert": "vn-hue-2025-11-16-001", "cap_do_rui_ro": "3"},
        collapse_key="hue-flood",
        tag="vn-hue-2025-11-16-001",
        ttl_s=3600,
    )

    name = await push.send(message)

    assert name.startswith(f"projects/{PROJECT}/messages/")
    assert fcm.double.accepted == [
        {
            "name": name,
            "message": {
                "token": TOKEN,
                "notification": {"title": message.title, "body": message.body},
                "data": {"alert": "vn-hue-2025-11-16-001", "cap_do_rui_ro": "3"},
                "android": {
                    "priority": "high",
                    "ttl": "3600s",
                    "collapse_key": "hue-flood",
                    "notification": {"tag": "vn-hue-2025-11-16-001"},
                },
                "apns": {
                    "headers": {
                        "apns-priority": "10",
                        "apns-collapse-id": "vn-hue-2025-11-16-001",
                        "apns-expiration": str(int(clock.now().timestamp()) + 3600),
                    }
                },
            },
        }
    ]


@pytest.mark.parametrize(
    ("target_kind", "target", "field", "encoded"),
    [
        ("topic", f"/topics/{TOPIC}", "topic", TOPIC),
        ("topic", TOPIC, "topic", TOPIC),
        (
            "condition",
            "'hue-phu-vang' in topics || 'hue-huong-tra' in topics",
            "condition",
            "'hue-phu-vang' in topics || 'hue-huong-tra' in topics",
        ),
    ],
)
async def test_topic_and_condition_messages_arrive_with_normal_priority(
    push: FirebasePush, fcm: RunningFcm, target_kind: str, target: str, field: str, encoded: str
) -> None:
    await push.send(warning(target_kind, target, high_priority=False))

    assert fcm.double.messages == [
        {
            field: encoded,
            "notification": {"title": "Cảnh báo lũ", "body": warning().body},
            "android": {"priority": "normal"},
            "apns": {"headers": {"apns-priority": "5"}},
        }
    ]


async def test_a_long_tag_becomes_a_stable_apns_collapse_id(
    push: FirebasePush, fcm: RunningFcm
) -> None:
    tag = "vn-hue-" + "x" * 80

    await push.send(warning(tag=tag, ttl_s=0))
    await push.send(warning(tag=tag, ttl_s=0))

    first, second = fcm.double.messages
    assert first == second
    assert first["android"]["notification"] == {"tag": tag}
    assert first["android"]["ttl"] == "0s"
    assert first["apns"]["headers"]["apns-collapse-id"] == hashlib.sha256(tag.encode()).hexdigest()
    assert first["apns"]["headers"]["apns-expiration"] == "0"


@pytest.mark.parametrize(
    ("message", "code"),
    [
        (warning(data={"blob": "x" * 5000}), "PAYLOAD_TOO_LARGE"),
        (
            warning("condition", " || ".join(f"'t{i}' in topics" for i in range(6))),
            "INVALID_CONDITION",
        ),
        (warning(target="not a token"), "INVALID_TOKEN"),
    ],
    ids=["5KB-data", "6-topic-condition", "bad-token"],
)
async def test_invalid_messages_never_reach_fcm(
    push: FirebasePush, fcm: RunningFcm, message: PushMessage, code: str
) -> None:
    with pytest.raises(InvalidMessage) as refused:
        await push.send(message)

    assert refused.value.code == code
    assert fcm.double.send_requests == 0
    assert fcm.double.token_requests == 0


async def test_in_flight_requests_are_capped_at_max_connections(
    make_push: Callable[..., FirebasePush], fcm: RunningFcm
) -> None:
    push = make_push(max_connections=3)
    fcm.double.delay_s = 0.05  # hold each request so concurrent ones overlap at the double

    await asyncio.gather(*(push.send(warning(tag=str(i))) for i in range(9)))

    assert fcm.double.accepted_count == 9
    assert fcm.double.max_in_flight == 3


# -- FCM's refusals ----------------------------------------------------------------------------


async def test_unregistered_token_is_rejected_for_good(push: FirebasePush, fcm: RunningFcm) -> None:
    fcm.double.unregistered.add(GONE)

    with pytest.raises(DeliveryRejected) as rejected:
        await push.send(warning(target=GONE))

    assert rejected.value.token_unregistered
    assert rejected.value.code == "UNREGISTERED"
    assert fcm.double.accepted == []


@pytest.mark.parametrize(
    ("status", "fcm_code", "retry_after", "expected", "code", "seconds"),
    [
        (429, None, 30, DeliveryDeferred, "QUOTA_EXCEEDED", 30.0),
        (503, None, None, DeliveryDeferred, "UNAVAILABLE", None),
        (503, None, 7, DeliveryDeferred, "UNAVAILABLE", 7.0),
        (500, None, None, DeliveryDeferred, "INTERNAL", None),
        (400, None, None, DeliveryRejected, "INVALID_ARGUMENT", None),
        (403, None, None, DeliveryRejected, "SENDER_ID_MISMATCH", None),
        (401, "THIRD_PARTY_AUTH_ERROR", None, DeliveryDeferred, "THIRD_PARTY_AUTH_ERROR", None),
        # A 403 without FCM's detail is our project or key, not this message: keep it.
        (403, "", None, DeliveryDeferred, "PERMISSION_DENIED", None),
    ],
    ids=[
        "429",
        "503",
        "503-retry-after",
        "500",
        "400",
        "sender-id-mismatch",
        "apns-auth",
        "permission-denied",
    ],
)
async def test_fcm_errors_map_to_rejected_or_deferred(
    push: FirebasePush,
    fcm: RunningFcm,
    status: int,
    fcm_code: str | None,
    retry_after: int | None,
    expected: type[Exception],
    code: str,
    seconds: float | None,
) -> None:
    fcm.double.fail_next(status, retry_after=retry_after, code=fcm_code)

    with pytest.raises(expected) as failed:
        await push.send(warning())

    assert type(failed.value) is expected
    assert getattr(failed.value, "code", None) == code
    assert getattr(failed.value, "retry_after", None) == seconds
    # The failure was FCM's answer to one request; the next one goes through on the same token.
    assert (await push.send(warning())).startswith(f"projects/{PROJECT}/messages/")
    assert fcm.double.token_requests == 1


async def test_retry_after_as_an_http_date(
    push: FirebasePush, fcm: RunningFcm, clock: ManualClock
) -> None:
    when = email.utils.format_datetime(clock.now() + timedelta(minutes=2), usegmt=True)
    fcm.double.fail_next(429, retry_after=when)

    with pytest.raises(DeliveryDeferred) as deferred:
        await push.send(warning())

    assert deferred.value.retry_after == 120.0


async def test_a_persisting_problem_is_logged_once_and_its_recovery_once(
    push: FirebasePush, fcm: RunningFcm, caplog: pytest.LogCaptureFixture
) -> None:
    fcm.double.fail_next(401, count=3, code="THIRD_PARTY_AUTH_ERROR")
    caplog.set_level(logging.INFO, logger="notify.firebase")

    for _ in range(3):
        with pytest.raises(DeliveryDeferred):
            await push.send(warning())
    await push.send(warning())

    logged = [(r.levelname, r.getMessage(), getattr(r, "code", None)) for r in caplog.records]
    assert [entry for entry in logged if entry[1] != "FCM access token obtained"] == [
        ("WARNING", "FCM deliveries failing", "THIRD_PARTY_AUTH_ERROR"),
        ("INFO", "FCM deliveries recovered", "THIRD_PARTY_AUTH_ERROR"),
    ]


async def test_connection_refused_is_provider_unavailable(
    make_push: Callable[..., FirebasePush], fcm: RunningFcm
) -> None:
    push = make_push(endpoint=f"http://127.0.0.1:{closed_port()}")

    with pytest.raises(ProviderUnavailable) as unavailable:
        await push.send(warning())

    assert unavailable.value.code == "UNREACHABLE"


async def test_no_answer_within_the_timeout_is_provider_unavailable(
    make_push: Callable[..., FirebasePush], fcm: RunningFcm
) -> None:
    push = make_push(timeout_s=0.1)
    await push.send(warning())  # the token is fetched before the double turns slow
    fcm.double.delay_s = 0.5

    with pytest.raises(ProviderUnavailable) as unavailable:
        await push.send(warning())

    assert unavailable.value.code == "TIMEOUT"


# -- the OAuth access token --------------------------------------------------------------------


async def test_access_token_is_fetched_once_for_concurrent_sends(
    push: FirebasePush, fcm: RunningFcm
) -> None:
    await asyncio.gather(*(push.send(warning(tag=str(i))) for i in range(20)))

    assert fcm.double.accepted_count == 20
    assert fcm.double.token_requests == 1


@pytest.mark.parametrize(("minutes", "token_requests"), [(54, 1), (56, 2)])
async def test_access_token_is_renewed_shortly_before_it_expires(
    push: FirebasePush, fcm: RunningFcm, clock: ManualClock, minutes: int, token_requests: int
) -> None:
    await push.send(warning())
    clock.advance(timedelta(minutes=minutes))

    await push.send(warning())

    assert fcm.double.token_requests == token_requests


async def test_a_token_fcm_rejects_is_dropped_and_fetched_again(
    push: FirebasePush, fcm: RunningFcm
) -> None:
    await push.send(warning())
    fcm.double.revoke_tokens()

    with pytest.raises(DeliveryDeferred) as deferred:
        await push.send(warning())
    await push.send(warning())

    assert type(deferred.value) is DeliveryDeferred
    assert deferred.value.code == "UNAUTHENTICATED"
    assert fcm.double.token_requests == 2
    assert fcm.double.accepted_count == 2


async def test_a_key_the_token_endpoint_does_not_trust_defers(
    make_push: Callable[..., FirebasePush], fcm: RunningFcm, tmp_path: Path
) -> None:
    stranger = write_service_account(
        tmp_path / "stranger.json", str(fcm.server.make_url("/token")), PROJECT
    )
    push = make_push(credentials_path=stranger)

    with pytest.raises(DeliveryDeferred) as deferred:
        await push.send(warning())

    assert type(deferred.value) is DeliveryDeferred
    assert deferred.value.code == "TOKEN_REFUSED"
    assert "Invalid JWT Signature" in str(deferred.value)
    assert fcm.double.token_requests == 1
    assert fcm.double.send_requests == 0


async def test_an_unreachable_token_endpoint_is_provider_unavailable(
    make_push: Callable[..., FirebasePush], fcm: RunningFcm, tmp_path: Path
) -> None:
    nowhere = write_service_account(
        tmp_path / "nowhere.json", f"http://127.0.0.1:{closed_port()}/token", PROJECT
    )
    push = make_push(credentials_path=nowhere)

    with pytest.raises(ProviderUnavailable) as unavailable:
        await push.send(warning())

    assert unavailable.value.code == "TOKEN_UNREACHABLE"
    assert fcm.double.send_requests == 0


# -- topic subscriptions -----------------------------------------------------------------------


async def test_topic_changes_report_the_unregistered_token(
    push: FirebasePush, fcm: RunningFcm
) -> None:
    fcm.double.unregistered.add(GONE)
    batch = (TOKEN, GONE, OTHER)

    subscribed = await push.change_topic(TopicChange(f"/topics/{TOPIC}", batch))
    again = await push.change_topic(TopicChange(TOPIC, batch))  # 409s: already subscribed
    members = set(fcm.double.topics[TOPIC])
    unsubscribed = await push.change_topic(TopicChange(TOPIC, batch, subscribe=False))

    assert dict(subscribed.failures) == {GONE: "UNREGISTERED"}
    assert dict(again.failures) == {GONE: "UNREGISTERED"}
    assert members == {TOKEN, OTHER}
    assert dict(unsubscribed.failures) == {GONE: "UNREGISTERED"}
    assert fcm.double.topics[TOPIC] == set()
    assert fcm.double.topic_requests == 9


async def test_a_transient_failure_defers_the_whole_topic_change(
    push: FirebasePush, fcm: RunningFcm
) -> None:
    fcm.double.fail_next(503, retry_after=5)
    change = TopicChange(TOPIC, (TOKEN, OTHER))

    with pytest.raises(DeliveryDeferred) as deferred:
        await push.change_topic(change)
    retried = await push.change_topic(change)

    assert deferred.value.code == "UNAVAILABLE"
    assert deferred.value.retry_after == 5.0
    assert dict(retried.failures) == {}
    assert fcm.double.topics[TOPIC] == {TOKEN, OTHER}


async def test_an_invalid_topic_change_sends_nothing(push: FirebasePush, fcm: RunningFcm) -> None:
    with pytest.raises(InvalidMessage):
        await push.change_topic(TopicChange("lũ lụt", (TOKEN,)))

    assert fcm.double.topic_requests == 0
    assert fcm.double.token_requests == 0


# -- configuration -----------------------------------------------------------------------------


def firebase_config(endpoint: str = "") -> FirebaseConfig:
    return FirebaseConfig(credentials_env=CREDENTIALS_ENV, project_id=PROJECT, endpoint=endpoint)


async def test_from_config_without_the_env_var_names_the_key(
    session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(CREDENTIALS_ENV, raising=False)

    with pytest.raises(ConfigError, match=rf"push\.firebase\.credentials_env: .*{CREDENTIALS_ENV}"):
        FirebasePush.from_config(firebase_config(), session)


@pytest.mark.parametrize(
    "content",
    [None, "{not json", json.dumps({"type": "authorized_user", "refresh_token": "x"})],
    ids=["missing", "not-json", "not-a-service-account"],
)
async def test_from_config_with_an_unusable_file_names_the_key(
    session: aiohttp.ClientSession,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    content: str | None,
) -> None:
    path = tmp_path / "service-account.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    monkeypatch.setenv(CREDENTIALS_ENV, str(path))

    with pytest.raises(ConfigError, match=r"^push\.firebase\.credentials_env: ") as refused:
        FirebasePush.from_config(firebase_config(), session)

    assert str(path) in str(refused.value)


async def test_from_config_sends_through_the_configured_endpoint(
    session: aiohttp.ClientSession, fcm: RunningFcm, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CREDENTIALS_ENV, str(fcm.credentials_path))
    push = FirebasePush.from_config(firebase_config(fcm.endpoint), session)
    try:
        name = await push.send(warning())
    finally:
        await push.close()

    assert [entry["name"] for entry in fcm.double.accepted] == [name]


# -- nothing but the double is ever contacted --------------------------------------------------


@dataclasses.dataclass
class _Contacts:
    recording: bool = False
    hosts: list[str] = dataclasses.field(default_factory=list)


_CONTACTS = _Contacts()


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _CONTACTS.recording and event == "socket.getaddrinfo":
        _CONTACTS.hosts.append(str(args[0]))
    elif _CONTACTS.recording and event == "socket.connect" and isinstance(args[1], tuple):
        _CONTACTS.hosts.append(str(args[1][0]))


@pytest.fixture(scope="session")
def _audit_hook() -> None:
    # Audit hooks cannot be removed: install one for the session, recording only when asked.
    sys.addaudithook(_audit)


@pytest.fixture
def contacts(_audit_hook: None) -> Iterator[_Contacts]:
    _CONTACTS.hosts.clear()
    _CONTACTS.recording = True
    yield _CONTACTS
    _CONTACTS.recording = False


async def test_firebase_push_contacts_no_host_but_the_configured_ones(
    push: FirebasePush, contacts: _Contacts
) -> None:
    # google-auth's before_request() would also look up the service account's "regional access
    # boundary" at iamcredentials.googleapis.com; FirebasePush refreshes without it.
    await push.send(warning())
    await push.change_topic(TopicChange(TOPIC, (TOKEN,)))

    assert contacts.hosts
    assert set(contacts.hosts) == {"127.0.0.1"}


# -- the real firebase-admin against the double ------------------------------------------------


@pytest.fixture
async def library_app(fcm: RunningFcm, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Any]:
    """A firebase_admin App whose messaging service sends to the double."""
    # On its first request the library's auth flow starts a background lookup at
    # iamcredentials.googleapis.com; send it to a closed local port instead of Google.
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{closed_port()}")
    certificate = credentials.Certificate(str(fcm.credentials_path))
    app = firebase_admin.initialize_app(
        certificate, {"projectId": PROJECT, "httpTimeout": 5}, name=f"test-{uuid.uuid4().hex}"
    )
    service = messaging._get_messaging_service(app)
    # The library has no endpoint option: its send URL is an attribute of the service.
    service._fcm_url = f"{fcm.endpoint}/v1/projects/{PROJECT}/messages:send"
    # Its auth flow refreshes with a blocking `requests` call inside this event loop, which also
    # serves the double: fetch the token in a thread first so the flow finds it valid.
    await asyncio.to_thread(certificate.get_access_token)
    yield app
    # delete_app() closes the service with asyncio.run(), which cannot run inside this loop:
    # close its httpx client here, then let delete_app find it closed, in a thread.
    await service._async_client.aclose()
    await asyncio.to_thread(firebase_admin.delete_app, app)
    await finish_background_lookups()


async def finish_background_lookups() -> None:
    """Wait for google-auth's background regional-access-boundary lookups to give up."""
    for thread in threading.enumerate():
        if type(thread).__name__ == "_RegionalAccessBoundaryRefreshThread":
            await asyncio.to_thread(thread.join, 10)


def library_message(**fields: Any) -> Any:
    with pytest.warns(DeprecationWarning, match="Message.token is deprecated"):
        return messaging.Message(token=TOKEN, **fields)


async def test_firebase_admin_and_firebase_push_send_the_same_json(
    contacts: _Contacts,
    library_app: Any,
    push: FirebasePush,
    fcm: RunningFcm,
    clock: ManualClock,
) -> None:
    expires = str(int(clock.now().timestamp()) + 600)
    by_library = library_message(
        notification=messaging.Notification(title="Cảnh báo lũ", body=warning().body),
        data={"alert": "vn-hue-2025-11-16-001"},
        android=messaging.AndroidConfig(
            priority="high",
            ttl=600,
            collapse_key="hue-flood",
            notification=messaging.AndroidNotification(tag="vn-hue-2025-11-16-001"),
        ),
        apns=messaging.APNSConfig(
            headers={
                "apns-priority": "10",
                "apns-collapse-id": "vn-hue-2025-11-16-001",
                "apns-expiration": expires,
            }
        ),
    )

    batch = await messaging.send_each_async([by_library], app=library_app)
    name = await push.send(
        warning(
            data={"alert": "vn-hue-2025-11-16-001"},
            collapse_key="hue-flood",
            tag="vn-hue-2025-11-16-001",
            ttl_s=600,
        )
    )

    await finish_background_lookups()

    assert set(contacts.hosts) == {"127.0.0.1"}  # the library's lookup went to the dead proxy
    assert batch.success_count == 1
    library_entry, push_entry = fcm.double.accepted
    assert batch.responses[0].message_id == library_entry["name"]
    assert push_entry["name"] == name
    assert push_entry["message"] == library_entry["message"]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (404, messaging.UnregisteredError),
        (429, messaging.QuotaExceededError),
        (403, messaging.SenderIdMismatchError),
        (400, exceptions.InvalidArgumentError),
    ],
)
async def test_firebase_admin_reads_the_doubles_error_bodies(
    library_app: Any, fcm: RunningFcm, status: int, expected: type[Exception]
) -> None:
    fcm.double.fail_next(status, retry_after=3)

    batch = await messaging.send_each_async([library_message()], app=library_app)

    error, http_response = batch.responses[0].exception, batch.responses[0].exception.http_response
    assert type(error) is expected
    assert http_response.headers["Retry-After"] == "3"


# -- the double as a separate process ----------------------------------------------------------


@pytest.mark.slow
async def test_double_runs_as_a_subprocess(
    tmp_path: Path, session: aiohttp.ClientSession, clock: ManualClock
) -> None:
    # The key must be known before the double starts, the port only after: write the file
    # first and point its token_uri at the port once printed.
    service_account = write_service_account(tmp_path / "sa.json", "http://127.0.0.1:1/token")
    public_key = tmp_path / "sa.pub.pem"
    public_key.write_bytes(service_account_public_key(service_account))
    record = tmp_path / "accepted.jsonl"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.doubles.fcm",
        "--port",
        "0",
        "--project",
        PROJECT,
        "--record",
        str(record),
        "--public-key",
        str(public_key),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        first_line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
        assert first_line.startswith(b"PORT ")
        base = f"http://127.0.0.1:{int(first_line.split()[1])}"
        info = json.loads(service_account.read_text(encoding="utf-8"))
        service_account.write_text(json.dumps({**info, "token_uri": f"{base}/token"}))
        push = FirebasePush(
            session,
            credentials_path=service_account,
            project_id=PROJECT,
            endpoint=base,
            timeout_s=5.0,
            max_connections=10,
            clock=clock,
        )
        names = [await push.send(warning(tag=f"t{i}")) for i in range(3)]
        await push.close()
        recorded = (await asyncio.to_thread(record.read_text, encoding="utf-8")).splitlines()
        async with session.get(f"{base}/_double/stats") as response:
            stats = await response.json()

        process.terminate()
        await asyncio.wait_for(process.communicate(), timeout=30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.communicate()

    assert process.returncode == 0
    assert [json.loads(line)["name"] for line in recorded] == names
    assert [json.loads(line)["message"]["android"]["notification"]["tag"] for line in recorded] == [
        "t0",
        "t1",
        "t2",
    ]
    assert stats == {"accepted": 3, "send_requests": 3, "token_requests": 1, "topic_requests": 0}
