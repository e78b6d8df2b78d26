"""A caller asks where their request stands: SMS `TINH TRANG 1001` (with or without marks, any
case), and the voice menu's flood information; nobody hears another number's request."""

from __future__ import annotations

import pytest

from dispatch import texts as dispatch_texts
from dispatch.keys import DISPATCH_MERGER, DISPATCH_REQUESTS
from dispatch.models import NewRequest, State
from hotline import texts as hotline_texts
from hotline.models import parse_status_query
from tests.geofences.conftest import eventually
from tests.hotline.conftest import CALLER, StartLine, double_server, start_line, twilio_env

__all__ = ["double_server", "start_line", "twilio_env"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("TINH TRANG 1001", (True, "1001")),
        ("tình trạng 1001", (True, "1001")),
        ("  Tình Trạng:1001 ", (True, "1001")),
        ("TINHTRANG #1001", (True, "1001")),
        ("tinh trang", (True, None)),
        ("TÌNH TRẠNG?", (True, None)),
        ("tinh trang nha toi ngap", (False, None)),
        ("SOS tinh trang 1001", (False, None)),
        ("trang 1001", (False, None)),
    ],
)
def test_status_queries_are_read_with_or_without_marks(
    body: str, expected: tuple[bool, str | None]
) -> None:
    assert parse_status_query(body) == expected


async def test_a_caller_texts_for_the_state_of_their_request(start_line: StartLine) -> None:
    line = await start_line()
    await line.sim.sms(CALLER, "SOS kiệt 5 Chi Lăng, 3 người")
    _, reply = await line.sim.sms(CALLER, "tình trạng 1001")
    assert "Yêu cầu cứu hộ số 1001: đã tiếp nhận, đang chờ xử lý." in reply
    await line.app[DISPATCH_REQUESTS].transition(1, State.offered, actor="test")
    _, reply = await line.sim.sms(CALLER, "TINH TRANG")
    assert "đang chờ đội cứu hộ xác nhận" in reply
    _, reply = await line.sim.sms("+84914000009", "TINH TRANG 1001")
    assert "Không tìm thấy yêu cầu cứu hộ số 1001" in reply
    # The question is not news about the request: its address is as it was.
    (request,) = await line.rows("SELECT address FROM dispatch_requests")
    assert request["address"] == "kiệt 5 Chi Lăng, 3 người"


async def test_flood_information_tells_a_caller_where_their_request_stands(
    start_line: StartLine,
) -> None:
    line = await start_line()
    await line.sim.sms(CALLER, "SOS kiệt 5 Chi Lăng")
    call = await line.sim.incoming(CALLER)
    await call.press("2")
    assert "Yêu cầu cứu hộ số một, không, không, một của quý vị: đã tiếp nhận" in call.transcript
    other = await line.sim.incoming("+84914000009")
    await other.press("2")
    assert "Yêu cầu cứu hộ số" not in other.transcript


async def test_a_caller_is_texted_the_number_through_the_twilio_double(
    start_line: StartLine,
) -> None:
    """Through notify's outbox and the real twilio library: the SMS reaches the double."""
    line = await start_line()
    call = await line.sim.incoming(CALLER)
    await call.press("1")
    await call.speak("số 12 Lê Lợi, phường Phú Hội")

    async def texted() -> bool:
        return any(m.get("to") == CALLER for m in line.double.messages)

    await eventually(texted)
    (message,) = [m for m in line.double.messages if m.get("to") == CALLER]
    assert "đã nhận yêu cầu số 1001" in message["body"]
    assert message["from"] == line.config.telephony.hotline_number


async def test_a_merged_request_names_the_request_it_went_into(start_line: StartLine) -> None:
    line = await start_line()
    requests = line.app[DISPATCH_REQUESTS]
    here = {"lat": 16.4637, "lon": 107.5909}
    await requests.create(NewRequest(source="operator", caller=CALLER, **here), actor="test")
    neighbour = "+84914000009"
    await requests.create(NewRequest(source="operator", caller=neighbour, **here), actor="test")
    (proposal,) = await line.app[DISPATCH_MERGER].listing("proposed", 10)
    await line.app[DISPATCH_MERGER].merge(proposal.id, actor="user:minh")
    _, reply = await line.sim.sms(neighbour, "TINH TRANG 1002")
    assert "Yêu cầu cứu hộ số 1002: đã gộp vào yêu cầu số 1001." in reply


async def test_the_english_half_of_a_status_says_the_state_in_english(
    start_line: StartLine,
) -> None:
    """English readers get English words for the state, never the Vietnamese ones inserted."""
    line = await start_line()
    await line.sim.sms(CALLER, "SOS kiệt 5 Chi Lăng")
    requests = line.app[DISPATCH_REQUESTS]
    seen: set[str] = set()
    for state in (State.offered, State.accepted, State.en_route, State.on_scene, State.resolved):
        await requests.transition(1, state, actor="test")
        request = await requests.get(1)
        vi, en = dispatch_texts.state_words(request), dispatch_texts.state_words_en(request)
        text = hotline_texts.sms_request_status(request.number, vi, en)
        assert text.vi == f"Yêu cầu cứu hộ số 1001: {vi}. Nếu nguy hiểm tăng, gọi 1900 1075."
        assert text.en == f"Rescue request 1001: {en}. If the danger grows, call 1900 1075."
        assert en.isascii()
        seen.add(en)
    assert len(seen) == 5
