"""The call and SMS simulators through the real app: our own webhooks, signed as Twilio signs
them, the TwiML lived as a caller lives it, the call log and the live stream seeing it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from canhbao.clock import ManualClock
from tests.conftest import AppClient, StaffFactory, StaffLogin, make_config
from tests.dispatch.conftest import rows
from tests.sse import STREAM, SseReader

CALLER = "+84905123456"
API = "/api/v1/simulator"


async def call(user: StaffLogin, caller: str = CALLER) -> dict[str, Any]:
    response = await user.post(f"{API}/calls", json={"from": caller})
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def press(user: StaffLogin, sid: str, digits: str = "", **body: str) -> dict[str, Any]:
    response = await user.post(f"{API}/calls/{sid}/digits", json={"digits": digits, **body})
    assert response.status == 200, await response.text()
    answer: dict[str, Any] = await response.json()
    return answer


async def test_a_call_hears_the_greeting_and_goes_through_the_menu_to_the_queue(
    app_client: AppClient, staff: StaffFactory
) -> None:
    client = await app_client()
    tuan = await staff(client, "tuan", roles=["operator"])
    started = await call(tuan)
    assert started["status"] == "in-progress"
    assert started["expects"] == "digits"
    assert any("Để yêu cầu cứu hộ, xin bấm phím 1" in p for p in started["prompts"])
    # The webhook saw a signed call: the call log has it, from our caller.
    logged = await (await tuan.get(f"/api/v1/hotline/calls/{started['call_sid']}")).json()
    assert logged["from"] == CALLER
    # 3: an operator. Nobody is on duty, so the queue offers its way out at once.
    queued = await press(tuan, started["call_sid"], "3")
    assert queued["status"] == "queued"
    assert queued["queue_position"] == 1
    assert queued["expects"] == "digits"
    assert queued["prompts"]
    hung = await tuan.post(f"{API}/calls/{started['call_sid']}/hangup")
    assert hung.status == 200
    assert (await hung.json())["status"] == "completed"
    ended = await (await tuan.get(f"/api/v1/hotline/calls/{started['call_sid']}")).json()
    assert ended["status"] == "completed"
    again = await tuan.post(f"{API}/calls/{started['call_sid']}/digits", json={"digits": "1"})
    assert again.status == 409
    assert (await again.json())["error"]["code"] == "call_over"


async def test_silence_at_the_menu_goes_on_as_twilio_would(
    app_client: AppClient, staff: StaffFactory
) -> None:
    client = await app_client()
    tuan = await staff(client, "tuan", roles=["operator"])
    started = await call(tuan)
    silent = await press(tuan, started["call_sid"])
    # The gather timed out: the document's <Redirect> asks the menu again.
    assert silent["status"] != "completed"
    assert silent["prompts"]


async def test_a_rescue_call_gives_speech_then_digits_and_makes_a_rescue_request(
    app_client: AppClient, staff: StaffFactory
) -> None:
    client = await app_client()
    tuan = await staff(client, "tuan", roles=["operator"])
    stream_response = await tuan.get(STREAM)
    stream = SseReader(stream_response)
    started = await call(tuan)
    turn = await press(tuan, started["call_sid"], "1")
    assert turn["expects"] in ("speech", "digits_or_speech")
    turn = await press(tuan, started["call_sid"], speech="kiệt 5 Chi Lăng, phường Phú Xuân")
    # The words make the request at once; then the address is asked as a recording too.
    created = await stream.until("rescue.created")
    assert created.data["source"] == "call"
    assert turn["expects"] == "recording"
    # No microphone: nothing recorded, and Twilio goes on to the number of people.
    turn = await press(tuan, started["call_sid"])
    assert turn["expects"] == "digits"
    turn = await press(tuan, started["call_sid"], "4#")
    assert turn["expects"] == "digits"
    assert turn["status"] == "in-progress"


async def test_an_sms_goes_through_the_sms_webhook_and_its_reply_comes_back(
    app_client: AppClient, staff: StaffFactory
) -> None:
    client = await app_client()
    tuan = await staff(client, "tuan", roles=["operator"])
    response = await tuan.post(
        f"{API}/sms", json={"from": CALLER, "body": "CỨU nhà tôi ngập tới mái, kiệt 5 Chi Lăng"}
    )
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["message_sid"].startswith("SM")
    assert any("1001" in reply for reply in body["replies"])
    (request,) = (await (await tuan.get("/api/v1/dispatch/requests")).json())["rescue_requests"]
    assert (request["number"], request["source"]) == ("1001", "sms")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("calls", {"from": "0905123456"}),
        ("calls", {"from": CALLER, "extra": 1}),
        ("sms", {"from": CALLER, "body": ""}),
        ("sms", {"from": CALLER}),
    ],
)
async def test_bad_input_is_a_422(
    app_client: AppClient, staff: StaffFactory, path: str, body: dict[str, Any]
) -> None:
    client = await app_client()
    tuan = await staff(client, "tuan", roles=["operator"])
    response = await tuan.post(f"{API}/{path}", json=body)
    assert response.status == 422


async def test_unknown_calls_and_bad_sids_are_404(
    app_client: AppClient, staff: StaffFactory
) -> None:
    client = await app_client()
    tuan = await staff(client, "tuan", roles=["operator"])
    unknown = "CA" + "0" * 32
    assert (await tuan.post(f"{API}/calls/{unknown}/digits", json={"digits": "1"})).status == 404
    assert (await tuan.post(f"{API}/calls/not-a-sid/hangup")).status == 404


async def test_the_simulators_are_off_without_the_local_providers(
    app_client: AppClient, staff: StaffFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "a-real-token-for-this-test")
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "1" * 32)
    config = make_config(tmp_path, {"telephony": {"provider": "twilio"}})
    client = await app_client(config=config)
    tuan = await staff(client, "tuan", roles=["operator"])
    off = await tuan.post(f"{API}/calls", json={"from": CALLER})
    assert off.status == 404
    assert (await off.json())["error"]["code"] == "simulator_off"
    assert (await tuan.post(f"{API}/sms", json={"from": CALLER, "body": "CỨU"})).status == 404
    # Push is still Local here: the phone simulator stays on.
    assert (await tuan.get(f"{API}/devices")).status == 200


async def test_only_staff_use_the_simulators_and_each_use_is_audited(
    app_client: AppClient, staff: StaffFactory, bearer: Any, clock: ManualClock
) -> None:
    client = await app_client()
    assert (await client.post(f"{API}/calls", json={"from": CALLER})).status == 401
    team = await bearer(client, roles=["team"])
    assert (await client.post(f"{API}/calls", json={"from": CALLER}, headers=team)).status == 403
    boss = await staff(client, "boss", roles=["admin"])
    await call(boss)
    audited = await rows(client, "SELECT actor, action FROM audit_log WHERE entity = 'simulator'")
    assert audited == [{"actor": "user:boss", "action": "simulator.call"}]


async def test_leaving_the_queue_for_voicemail_with_nothing_recorded_ends_with_a_promise(
    app_client: AppClient, staff: StaffFactory
) -> None:
    client = await app_client()
    tuan = await staff(client, "tuan", roles=["operator"])
    started = await call(tuan)
    sid = started["call_sid"]
    await press(tuan, sid, "3")
    # 2: voicemail. The wait music's <Leave> takes the caller out of the queue; the queue's
    # action (QueueResult=leave) answers with the voicemail prompt and a <Record>.
    voicemail = await press(tuan, sid, "2")
    assert voicemail["status"] == "in-progress"
    assert voicemail["expects"] == "recording"
    assert any("lời nhắn sau tiếng bíp" in p for p in voicemail["prompts"])
    # Nothing recorded: Twilio goes on to the <Redirect>, which promises a callback and ends.
    ended = await press(tuan, sid)
    assert ended["status"] == "completed"
    assert any("sẽ gọi lại" in p for p in ended["prompts"])
    callbacks = await (await tuan.get("/api/v1/hotline/callbacks")).json()
    assert [c["status"] for c in callbacks["callbacks"]] == ["open"]
