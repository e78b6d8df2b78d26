"""TwilioTelephony, through the real twilio library, against the local Twilio double."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from canhbao.clock import ManualClock
from canhbao.config import TwilioConfig
from canhbao.errors import ConfigError
from notify.errors import DeliveryDeferred, DeliveryRejected, InvalidMessage, ProviderUnavailable
from notify.models import SmsMessage, VoiceCall
from notify.twilio import CALL_STATUS_EVENTS, FIND_PAGE_SIZE, TwilioTelephony
from tests.conftest import REPO
from tests.doubles.twilio import ACCOUNT_SID, AUTH_TOKEN, TwilioDouble

HOTLINE = "+8419001075"
CITIZEN = "+84905123456"
WARNING_VI = (
    "Cảnh báo lũ: sông Hương tại Kim Long đạt BĐ III (3,6 m). "
    "Người dân vùng trũng di chuyển lên chỗ cao ngay. Gọi 1900 1075 nếu cần cứu hộ."
)
CALLBACK_TWIML = (
    '<Response><Say language="vi-VN" voice="Google.vi-VN-Standard-A">'
    "Tổng đài cứu hộ gọi lại cho bạn.</Say></Response>"
)

ServerFactory = Callable[[web.Application], Awaitable[TestServer]]
Telephony = Callable[..., TwilioTelephony]


@pytest.fixture
def double(clock: ManualClock) -> TwilioDouble:
    return TwilioDouble(clock=clock.now)


@pytest.fixture
async def double_url(aiohttp_server: ServerFactory, double: TwilioDouble) -> str:
    server = await aiohttp_server(double.app)
    return str(server.make_url("/"))


@pytest.fixture
async def make_telephony(double_url: str) -> AsyncIterator[Telephony]:
    """TwilioTelephony pointed at the double; keyword arguments override; all closed after."""
    made: list[TwilioTelephony] = []

    def make(**overrides: object) -> TwilioTelephony:
        options: dict[str, object] = {
            "account_sid": ACCOUNT_SID,
            "auth_token": AUTH_TOKEN,
            "api_base_url": double_url,
            "timeout_s": 5.0,
        }
        options.update(overrides)
        telephony = TwilioTelephony(**options)  # type: ignore[arg-type]  # test-only overrides
        made.append(telephony)
        return telephony

    yield make
    for telephony in made:
        await telephony.close()


@pytest.fixture
def telephony(make_telephony: Telephony) -> TwilioTelephony:
    return make_telephony()


def sms(**overrides: str) -> SmsMessage:
    fields = {"to": CITIZEN, "body": WARNING_VI, "sender": HOTLINE}
    fields.update(overrides)
    return SmsMessage(**fields)


def call(**overrides: object) -> VoiceCall:
    fields: dict[str, object] = {"to": CITIZEN, "caller_id": HOTLINE, "twiml": CALLBACK_TWIML}
    fields.update(overrides)
    return VoiceCall(**fields)  # type: ignore[arg-type]  # test-only overrides


# --- sending ---------------------------------------------------------------------------------


async def test_sms_reaches_twilio_with_its_vietnamese_body_intact(
    telephony: TwilioTelephony, double: TwilioDouble
) -> None:
    callback = "https://canhbao.example.vn/twilio/sms-status"

    sid = await telephony.send_sms(sms(status_callback=callback))

    assert sid.startswith("SM")
    assert len(sid) == 34
    [message] = double.messages
    assert message["sid"] == sid
    assert message["body"] == WARNING_VI
    assert message["num_segments"] == "3"  # UCS-2: Vietnamese diacritics leave GSM-7
    params = double.params[sid]
    assert params["To"] == CITIZEN
    assert params["From"] == HOTLINE
    assert params["Body"] == WARNING_VI
    assert params["StatusCallback"] == callback


async def test_sms_without_status_callback_sends_none(
    telephony: TwilioTelephony, double: TwilioDouble
) -> None:
    sid = await telephony.send_sms(sms())

    assert "StatusCallback" not in double.params[sid]


@pytest.mark.parametrize(
    ("source", "field"),
    [
        ({"twiml": CALLBACK_TWIML}, "Twiml"),
        ({"twiml": None, "url": "https://canhbao.example.vn/twilio/callback/17"}, "Url"),
    ],
)
@pytest.mark.parametrize("machine_detection", [False, True])
async def test_call_is_placed_with_twiml_or_url_and_every_status_event(
    telephony: TwilioTelephony,
    double: TwilioDouble,
    source: dict[str, str | None],
    field: str,
    machine_detection: bool,
) -> None:
    status = "https://canhbao.example.vn/twilio/status"

    sid = await telephony.place_call(
        call(**source, status_callback=status, machine_detection=machine_detection, timeout_s=25)
    )

    assert sid.startswith("CA")
    assert len(sid) == 34
    assert [c["sid"] for c in double.calls] == [sid]
    params = double.params[sid]
    assert params[field] == source[field.lower()]
    assert ({"Twiml", "Url"} - {field}).isdisjoint(params)
    assert (params["To"], params["From"], params["Timeout"]) == (CITIZEN, HOTLINE, "25")
    assert params["StatusCallback"] == status
    assert params.getall("StatusCallbackEvent") == list(CALL_STATUS_EVENTS)
    assert params["StatusCallbackMethod"] == "POST"
    assert params.get("MachineDetection") == ("Enable" if machine_detection else None)


async def test_call_without_status_callback_asks_for_no_events(
    telephony: TwilioTelephony, double: TwilioDouble
) -> None:
    sid = await telephony.place_call(call())

    assert "StatusCallback" not in double.params[sid]
    assert "StatusCallbackEvent" not in double.params[sid]


# --- refusals before sending -----------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        sms(to="0905123456"),
        sms(sender="19001075"),
        sms(body="   "),
        sms(body="x" * 1601),
    ],
)
async def test_invalid_sms_is_refused_and_nothing_reaches_twilio(
    telephony: TwilioTelephony, double: TwilioDouble, message: SmsMessage
) -> None:
    with pytest.raises(InvalidMessage):
        await telephony.send_sms(message)

    assert double.requests == 0


@pytest.mark.parametrize(
    "voice_call",
    [
        call(to="905 123 456"),
        call(twiml=None),
        call(url="https://canhbao.example.vn/twiml"),
        call(timeout_s=1),
    ],
)
async def test_invalid_call_is_refused_and_nothing_reaches_twilio(
    telephony: TwilioTelephony, double: TwilioDouble, voice_call: VoiceCall
) -> None:
    with pytest.raises(InvalidMessage):
        await telephony.place_call(voice_call)

    assert double.requests == 0


# --- Twilio's errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, None), (7, 7.0), ("Wed, 21 Oct 2025 07:28:00 GMT", None)],
)
async def test_429_is_deferred_honouring_retry_after(
    telephony: TwilioTelephony,
    double: TwilioDouble,
    header: int | str | None,
    expected: float | None,
) -> None:
    double.fail_next(429, code=20429, retry_after=header)

    with pytest.raises(DeliveryDeferred) as caught:
        await telephony.send_sms(sms())

    assert type(caught.value) is DeliveryDeferred
    assert caught.value.code == "20429"
    assert caught.value.retry_after == expected
    assert double.messages == []
    assert await telephony.send_sms(sms())  # the next attempt goes through


@pytest.mark.parametrize("status", [500, 503, 404, 408, 409])
async def test_server_errors_and_retryable_client_errors_are_deferred(
    telephony: TwilioTelephony, double: TwilioDouble, status: int
) -> None:
    double.fail_next(status)

    with pytest.raises(DeliveryDeferred) as caught:
        await telephony.place_call(call())

    assert type(caught.value) is DeliveryDeferred
    assert caught.value.code == str(20000 + status)
    assert caught.value.retry_after is None


@pytest.mark.parametrize(
    ("refuse", "code"),
    [
        (lambda d: d.invalid_numbers.add(CITIZEN), "21211"),
        (lambda d: d.unsubscribed_numbers.add(CITIZEN), "21610"),
        (lambda d: d.fail_next(400, code=21614, message="'To' number is not a mobile"), "21614"),
    ],
)
async def test_permanent_refusals_are_rejected_with_twilios_code(
    telephony: TwilioTelephony,
    double: TwilioDouble,
    refuse: Callable[[TwilioDouble], None],
    code: str,
) -> None:
    refuse(double)

    with pytest.raises(DeliveryRejected) as caught:
        await telephony.send_sms(sms())

    assert caught.value.code == code
    assert double.messages == []


async def test_refused_credentials_are_deferred_and_logged_once_per_outage(
    telephony: TwilioTelephony, double: TwilioDouble, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="notify.twilio")
    double.auth_token = "rotated-in-the-console"

    for _ in range(2):
        with pytest.raises(DeliveryDeferred) as caught:
            await telephony.send_sms(sms())
        assert caught.value.code == "AUTH"
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert errors[0].twilio_code == 20003  # type: ignore[attr-defined]  # from extra=
    assert double.messages == []

    double.auth_token = AUTH_TOKEN
    await telephony.send_sms(sms())

    assert [r.getMessage() for r in caplog.records if r.levelno == logging.INFO] == [
        "Twilio accepts our credentials again"
    ]


async def test_a_forbidden_account_is_deferred_as_auth(
    telephony: TwilioTelephony, double: TwilioDouble
) -> None:
    double.fail_next(403, code=20003, message="Permission Denied")

    with pytest.raises(DeliveryDeferred) as caught:
        await telephony.send_sms(sms())

    assert caught.value.code == "AUTH"


async def test_a_wrong_auth_token_is_refused_by_twilio(
    make_telephony: Telephony, double: TwilioDouble
) -> None:
    telephony = make_telephony(auth_token="not-the-token")

    with pytest.raises(DeliveryDeferred) as caught:
        await telephony.place_call(call())

    assert caught.value.code == "AUTH"
    assert double.calls == []


async def test_connection_refused_is_provider_unavailable(make_telephony: Telephony) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The port is closed again: nothing listens there.
    telephony = make_telephony(api_base_url=f"http://127.0.0.1:{port}")

    with pytest.raises(ProviderUnavailable):
        await telephony.send_sms(sms())


async def test_a_stalled_twilio_times_out_as_provider_unavailable(
    make_telephony: Telephony, double: TwilioDouble
) -> None:
    # twilio's own AsyncTwilioHttpClient never applies its timeout: this would hang.
    double.stall_next(30)
    telephony = make_telephony(timeout_s=0.3)
    started = time.monotonic()

    with pytest.raises(ProviderUnavailable):
        await telephony.send_sms(sms())

    assert time.monotonic() - started < 5


async def test_twilio_region_in_the_environment_does_not_redirect_the_base_url(
    make_telephony: Telephony, double: TwilioDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWILIO_EDGE", "singapore")
    monkeypatch.setenv("TWILIO_REGION", "sg1")
    telephony = make_telephony()

    sid = await telephony.send_sms(sms())

    assert [m["sid"] for m in double.messages] == [sid]


async def test_a_closed_telephony_refuses_to_send(make_telephony: Telephony) -> None:
    telephony = make_telephony()
    await telephony.send_sms(sms())
    await telephony.close()

    with pytest.raises(RuntimeError, match="closed"):
        await telephony.send_sms(sms())


# --- reconciling after a crash ---------------------------------------------------------------


async def test_find_sms_finds_a_message_twilio_still_holds_queued(
    telephony: TwilioTelephony, double: TwilioDouble, clock: ManualClock
) -> None:
    clock.advance(timedelta(microseconds=700_000))  # Twilio stamps whole seconds
    since = clock.now()
    sid = await telephony.send_sms(sms())
    clock.advance(timedelta(minutes=3))

    assert double.messages[0]["date_sent"] is None
    assert await telephony.find_sms(sms(), since) == sid
    double.set_status(sid, "delivered")
    assert await telephony.find_sms(sms(), since) == sid


@pytest.mark.parametrize(
    "other",
    [
        sms(body="Cảnh báo lũ: nước đã rút."),
        sms(to="+84905999888"),
        sms(sender="+842343822000"),
    ],
)
async def test_find_sms_ignores_other_messages(
    telephony: TwilioTelephony, clock: ManualClock, other: SmsMessage
) -> None:
    since = clock.now()
    await telephony.send_sms(other)

    assert await telephony.find_sms(sms(), since) is None


async def test_find_sms_ignores_the_same_text_sent_before_since(
    telephony: TwilioTelephony, clock: ManualClock
) -> None:
    await telephony.send_sms(sms())
    clock.advance(timedelta(hours=6))

    assert await telephony.find_sms(sms(), clock.now()) is None


async def test_find_sms_reads_past_the_first_page(
    telephony: TwilioTelephony, double: TwilioDouble, clock: ManualClock
) -> None:
    since = clock.now()
    sid = await telephony.send_sms(sms())
    for n in range(FIND_PAGE_SIZE + 5):
        clock.advance(timedelta(seconds=1))
        await telephony.send_sms(sms(body=f"Mực nước lúc {n} giờ"))

    assert await telephony.find_sms(sms(), since) == sid
    assert double.requests == FIND_PAGE_SIZE + 6 + 2  # the sends, then two pages


async def test_find_sms_needs_an_aware_time(telephony: TwilioTelephony) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await telephony.find_sms(sms(), datetime(2025, 11, 16, 3, 0))  # noqa: DTZ001  # the point


async def test_find_call_finds_a_placed_call_and_nothing_else(
    telephony: TwilioTelephony, double: TwilioDouble, clock: ManualClock
) -> None:
    since = clock.now()
    sid = await telephony.place_call(call())
    await telephony.place_call(call(to="+84905999888"))

    assert await telephony.find_call(call(), since) == sid
    double.set_status(sid, "completed")
    assert await telephony.find_call(call(), since) == sid
    assert await telephony.find_call(call(caller_id="+842343822000"), since) is None
    clock.advance(timedelta(hours=1))
    assert await telephony.find_call(call(), clock.now()) is None


async def test_find_fails_like_a_send_when_twilio_fails(
    telephony: TwilioTelephony, double: TwilioDouble, clock: ManualClock
) -> None:
    double.fail_next(503)

    with pytest.raises(DeliveryDeferred):
        await telephony.find_call(call(), clock.now())


# --- configuration ---------------------------------------------------------------------------


async def test_from_config_names_the_missing_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    config = TwilioConfig(account_sid_env="CANHBAO_TEST_SID", auth_token_env="CANHBAO_TEST_TOKEN")
    monkeypatch.delenv("CANHBAO_TEST_SID", raising=False)
    monkeypatch.delenv("CANHBAO_TEST_TOKEN", raising=False)

    with pytest.raises(ConfigError, match=r"telephony\.twilio\.account_sid_env.*CANHBAO_TEST_SID"):
        TwilioTelephony.from_config(config)
    monkeypatch.setenv("CANHBAO_TEST_SID", ACCOUNT_SID)
    with pytest.raises(ConfigError, match=r"telephony\.twilio\.auth_token_env.*CANHBAO_TEST_TOKEN"):
        TwilioTelephony.from_config(config)


async def test_from_config_sends_with_the_secrets_from_the_environment(
    double: TwilioDouble, double_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CANHBAO_TEST_SID", ACCOUNT_SID)
    monkeypatch.setenv("CANHBAO_TEST_TOKEN", AUTH_TOKEN)
    config = TwilioConfig(
        account_sid_env="CANHBAO_TEST_SID",
        auth_token_env="CANHBAO_TEST_TOKEN",
        api_base_url=double_url,
        timeout_s=5.0,
    )
    telephony = TwilioTelephony.from_config(config)
    try:
        sid = await telephony.send_sms(sms())
    finally:
        await telephony.close()

    assert [m["sid"] for m in double.messages] == [sid]


# --- the double as a subprocess --------------------------------------------------------------


@pytest.mark.slow
async def test_the_double_runs_as_a_subprocess_records_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    record = tmp_path / "twilio.jsonl"
    sid_arg, token = "AC" + "9" * 32, "subprocess-token"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.doubles.twilio",
        "--port",
        "0",
        "--record",
        str(record),
        "--account-sid",
        sid_arg,
        "--auth-token",
        token,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        assert line.startswith("PORT ")
        telephony = TwilioTelephony(
            account_sid=sid_arg,
            auth_token=token,
            api_base_url=f"http://127.0.0.1:{int(line.split()[1])}",
            timeout_s=5.0,
        )
        try:
            sms_sid = await telephony.send_sms(sms(status_callback="https://e.vn/s"))
            call_sid = await telephony.place_call(call())
        finally:
            await telephony.close()

        entries = [json.loads(x) for x in record.read_text(encoding="utf-8").splitlines()]
        assert [(e["kind"], e["resource"]["sid"]) for e in entries] == [
            ("message", sms_sid),
            ("call", call_sid),
        ]
        assert entries[0]["resource"]["body"] == WARNING_VI
        assert entries[0]["params"]["StatusCallback"] == ["https://e.vn/s"]
        assert entries[1]["params"]["Twiml"] == [CALLBACK_TWIML]

        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 20) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@pytest.mark.parametrize(
    ("resource", "send", "moved_on", "field"),
    [
        ("Messages", lambda t: t.send_sms(sms()), "sent", "DateSent"),
        ("Calls", lambda t: t.place_call(call()), "in-progress", "StartTime"),
    ],
)
async def test_the_doubles_date_filters_use_whole_dates_and_skip_what_has_not_started(
    telephony: TwilioTelephony,
    double: TwilioDouble,
    double_url: str,
    clock: ManualClock,
    resource: str,
    send: Callable[[TwilioTelephony], Awaitable[str]],
    moved_on: str,
    field: str,
) -> None:
    """Why find_sms/find_call filter by date_created themselves: Twilio's date filters don't."""
    sid = await send(telephony)
    url = f"{double_url}2010-04-01/Accounts/{ACCOUNT_SID}/{resource}.json"
    auth = {"Authorization": aiohttp.encode_basic_auth(ACCOUNT_SID, AUTH_TOKEN)}
    # What the twilio library sends for date_sent_after / start_time_after: a full timestamp.
    query = {f"{field}>": "2025-11-16T23:59:59Z", "To": CITIZEN}

    async def listed() -> list[str]:
        async with (
            aiohttp.ClientSession() as session,
            session.get(url, params=query, headers=auth) as response,
        ):
            page = await response.json()
        return [r["sid"] for r in page[resource.lower()]]

    assert await listed() == []  # queued: no date_sent / start_time yet
    double.set_status(sid, moved_on)
    assert await listed() == [sid]  # 03:00 passes ">= 23:59:59": only the date counts
