"""Webhook guarantees: signatures, retried steps, out-of-order status callbacks, restarts, SMS."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest

from canhbao import keys
from canhbao.app import create_app
from canhbao.errors import ConfigError
from hotline.keys import HOTLINE
from tests.conftest import AppClient, make_config
from tests.doubles.twilio import TwilioDouble
from tests.hotline.conftest import CALLER, PUBLIC_URL, StartLine, hotline_config
from tests.hotline.simulator import SignatureMode, TwilioSimulator


@pytest.mark.parametrize("mode", ["missing", "forged", "wrong-url"])
@pytest.mark.parametrize("path", ["/twilio/voice", "/twilio/status", "/twilio/sms"])
async def test_unsigned_or_wrongly_signed_webhooks_get_403_and_a_log_line(
    start_line: StartLine, caplog: pytest.LogCaptureFixture, mode: SignatureMode, path: str
) -> None:
    line = await start_line()
    params = {
        "CallSid": "CA" + "1" * 32,
        "MessageSid": "SM" + "1" * 32,
        "From": CALLER,
        "CallStatus": "ringing",
        "Body": "SOS 1 Lê Lợi",
    }
    with caplog.at_level(logging.WARNING, logger="hotline.signature"):
        status, body = await line.sim.post(PUBLIC_URL + path, params, signature=mode)
    assert status == 403
    assert "invalid_signature" in body
    assert any("Twilio webhook refused" in r.getMessage() for r in caplog.records)
    assert await line.rows("SELECT * FROM hotline_calls") == []
    assert await line.rows("SELECT * FROM dispatch_requests") == []


async def test_a_tampered_field_breaks_the_signature(start_line: StartLine) -> None:
    line = await start_line()
    url = PUBLIC_URL + "/twilio/sms"
    params = {"MessageSid": "SM" + "2" * 32, "From": CALLER, "Body": "SOS 1 Lê Lợi"}
    signature = line.sim.validator.compute_signature(url, params)
    response = await line.client.post(
        "/twilio/sms",
        data={**params, "Body": "SOS 99 Lê Lợi"},
        headers={"X-Twilio-Signature": signature},
    )
    assert response.status == 403


def test_production_without_the_auth_token_refuses_to_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "0" * 32)
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    config = make_config(tmp_path, {"telephony": {"provider": "twilio"}})
    with pytest.raises(ConfigError, match="TWILIO_AUTH_TOKEN"):
        create_app(config)


async def test_local_provider_checks_signatures_with_the_development_token(
    app_client: AppClient, tmp_path: Path, clock: object
) -> None:
    config = make_config(tmp_path, {"hotline": {"local_auth_token": "dev-token-for-tests"}})
    client = await app_client(config=config)
    sim = TwilioSimulator(
        client,
        public_base_url=config.server.public_base_url,
        auth_token="dev-token-for-tests",
        hotline_number=config.telephony.hotline_number,
        clock=clock,  # type: ignore[arg-type]  # the ManualClock fixture
    )
    call = await sim.incoming(CALLER)
    assert call.transcript.startswith("Xin chào")
    status, _ = await sim.post(
        config.server.public_base_url + "/twilio/voice",
        {"CallSid": "CA" + "3" * 32, "From": CALLER},
        signature="forged",
    )
    assert status == 403


async def test_a_retried_step_does_not_act_twice(start_line: StartLine) -> None:
    line = await start_line()
    call = await line.sim.incoming(CALLER)
    await call.press("1")
    url = PUBLIC_URL + "/twilio/voice/rescue/address"
    params = call.params(SpeechResult="kiệt 3 Huỳnh Thúc Kháng", Confidence="0.9")
    first = await line.sim.post(url, params)
    again = await line.sim.post(url, params)  # Twilio retrying after a dropped connection
    assert first == again
    assert first[0] == 200
    assert len(await line.rows("SELECT * FROM dispatch_requests")) == 1
    # The first webhook of a call too: one greeting row, one call.
    await line.sim.post(PUBLIC_URL + "/twilio/voice", call.params())
    assert len(await line.rows("SELECT * FROM hotline_calls")) == 1


async def test_status_callbacks_out_of_order_and_repeated_leave_the_log_right(
    start_line: StartLine,
) -> None:
    line = await start_line()
    await line.add_operator()
    call = await line.sim.incoming(CALLER)
    await call.press("3")
    (leg,) = line.sim.placed_calls()
    line.clock.advance(timedelta(seconds=5))
    # completed (3) arrives before ringing (1) and in-progress (2), then completed again.
    await leg.send_status("completed", sequence=3, duration=40)
    await leg.send_status("ringing", sequence=1)
    await leg.send_status("in-progress", sequence=2)
    await leg.send_status("completed", sequence=3, duration=40)
    row = await line.call_row(leg.sid)
    assert row["status"] == "completed"
    assert row["status_sequence"] == 3
    assert row["duration_s"] == 40
    assert row["ended_at"] is not None
    # The operator is free again and is rung once more for the caller still waiting.
    assert len(line.sim.placed_calls()) == 1
    # An inbound call's repeated final callback creates one callback task, not two.
    await call.hang_up()
    await call.send_status("completed", sequence=call.sequence)
    assert len(await line.rows("SELECT * FROM hotline_callbacks")) == 1


async def test_callbacks_pending_at_a_restart_still_run(
    start_line: StartLine,
    app_client: AppClient,
    tmp_path: Path,
    double_server: tuple[TwilioDouble, str],
) -> None:
    line = await start_line()
    call = await line.sim.incoming(CALLER)
    await call.hang_up()
    await line.client.close()  # the process stops with the task open

    config = hotline_config(tmp_path, double_server[1])
    client = await app_client(config=config)
    assert client.app is not None
    scheduled = client.app[keys.SCHEDULER]
    assert scheduled.get_job("hotline-callbacks") is not None
    hotline = client.app[HOTLINE]
    line.clock.advance(timedelta(minutes=2))
    assert await hotline.run_due_callbacks() == 1
    assert [c["to"] for c in double_server[0].calls] == [CALLER]


async def test_an_attempt_interrupted_by_a_crash_is_reconciled_not_repeated(
    start_line: StartLine,
    app_client: AppClient,
    tmp_path: Path,
    double_server: tuple[TwilioDouble, str],
) -> None:
    line = await start_line()
    call = await line.sim.incoming(CALLER)
    await call.hang_up()
    line.clock.advance(timedelta(minutes=2))
    await line.hotline.run_due_callbacks()
    (placed,) = line.sim.placed_calls()
    # As if the process died after Twilio accepted the call but before the sid was written.
    await line.app[keys.DB].execute(
        "UPDATE hotline_callback_attempts SET outcome = 'placing', call_sid = NULL"
    )
    await line.client.close()
    client = await app_client(config=hotline_config(tmp_path, double_server[1]))
    assert client.app is not None
    (attempt,) = [
        dict(r)
        for r in await client.app[keys.DB].fetch_all(
            "SELECT call_sid, outcome FROM hotline_callback_attempts"
        )
    ]
    assert attempt == {"call_sid": placed.sid, "outcome": "ringing"}
    assert len(double_server[0].calls) == 1


@pytest.mark.parametrize(
    ("body", "created"),
    [("SOS 12 Lê Lợi, Phú Hội, 3 người", True), ("CỨU thôn La Chữ", True), ("xin chào", False)],
)
async def test_sms_sos_creates_a_request_and_replies_in_vietnamese(
    start_line: StartLine, body: str, created: bool
) -> None:
    line = await start_line()
    status, reply = await line.sim.sms(CALLER, body)
    assert status == 200
    assert reply.startswith("<?xml")
    requests = await line.rows("SELECT number, source, address FROM dispatch_requests")
    if created:
        (request,) = requests
        assert request["source"] == "sms"
        assert f"đã nhận yêu cầu số {request['number']}" in reply
    else:
        assert requests == []
        assert "Cần cứu hộ, nhắn: SOS" in reply


async def test_a_repeated_sms_creates_one_request(start_line: StartLine) -> None:
    line = await start_line()
    first = await line.sim.sms(CALLER, "SOS 5 Nguyễn Huệ", sid="SM" + "4" * 32)
    again = await line.sim.sms(CALLER, "SOS 5 Nguyễn Huệ", sid="SM" + "4" * 32)
    assert first == again
    assert len(await line.rows("SELECT * FROM dispatch_requests")) == 1


async def test_the_fallback_url_keeps_the_caller_talking_to_someone(start_line: StartLine) -> None:
    line = await start_line(fallback_number="+842343822222")
    status, body = await line.sim.post(
        PUBLIC_URL + "/twilio/fallback",
        {"CallSid": "CA" + "5" * 32, "From": CALLER, "ErrorCode": "11200"},
    )
    assert status == 200
    assert "<Number>" not in body
    assert "+842343822222" in body
