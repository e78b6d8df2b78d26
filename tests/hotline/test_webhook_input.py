"""Every /twilio/* route refuses bad input with a clear 4xx and no traceback: cheap checks
first (signature header, content type, size), then a strict parse, then the HMAC; ids a
request names must be ours. Property tests drive the form parser with hypothesis."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.routes import _WEBHOOKS
from hotline.signature import MAX_BODY_BYTES, MAX_FIELDS, FormInvalid, parse_form
from tests.hotline.conftest import CALLER, PUBLIC_URL, Line, StartLine

PATHS = sorted(_WEBHOOKS)
# Well-formed (base64 of 20 bytes), so only the checks after it can refuse the request.
WELL_FORMED = "A" * 27 + "="
CALL_SID = "CA" + "a" * 32


def _no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


async def _post(
    line: Line,
    path: str,
    body: bytes,
    *,
    content_type: str = "application/x-www-form-urlencoded",
    signature: str | None = WELL_FORMED,
    sign: bool = False,
) -> tuple[int, str]:
    headers = {"Content-Type": content_type}
    if sign:
        fields = dict(parse_form(body))
        signature = line.sim.validator.compute_signature(PUBLIC_URL + path, fields)
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    response = await line.client.post(path, data=body, headers=headers)
    return response.status, await response.text()


@pytest.mark.parametrize("path", PATHS)
async def test_multipart_without_a_boundary_is_415(
    start_line: StartLine, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    line = await start_line()
    status, body = await _post(line, path, b"--x\r\n", content_type="multipart/form-data")
    assert status == 415
    assert "unsupported_media_type" in body
    _no_traceback(caplog)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"CallSid=CA\xff\xfe&From=x", "not UTF-8"),
        (b"CallSid=%ff%fe", "not UTF-8 once percent-decoded"),
        (b"CallSid", "key=value"),
        (b"CallSid=1&&From=2", "key=value"),
        (b"CallSid=1&CallSid=2", "given twice"),
        (b"CallSid=%00", "NUL"),
        ("&".join(f"F{i}=1" for i in range(MAX_FIELDS + 1)).encode(), "fields"),
        (b"Body=" + b"a" * 9000, "characters"),
    ],
)
async def test_malformed_forms_are_400(
    start_line: StartLine,
    caplog: pytest.LogCaptureFixture,
    path: str,
    raw: bytes,
    why: str,
) -> None:
    line = await start_line()
    status, body = await _post(line, path, raw)
    assert status == 400
    assert why in body
    _no_traceback(caplog)


async def test_an_oversized_body_is_413_by_length_or_while_read(
    start_line: StartLine, caplog: pytest.LogCaptureFixture
) -> None:
    line = await start_line()
    big = b"Body=" + b"a" * MAX_BODY_BYTES
    status, _ = await _post(line, "/twilio/sms", big)
    assert status == 413

    async def chunks():  # type: ignore[no-untyped-def]  # an async generator body
        for _ in range(5):
            yield b"a" * (MAX_BODY_BYTES // 4)

    response = await line.client.post(
        "/twilio/sms",
        data=chunks(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": WELL_FORMED,
        },
    )
    assert response.status == 413
    _no_traceback(caplog)


@pytest.mark.parametrize("signature", [None, "", "not-base64!", "A" * 28, "A" * 200])
async def test_the_signature_header_is_checked_before_the_body(
    start_line: StartLine, caplog: pytest.LogCaptureFixture, signature: str | None
) -> None:
    line = await start_line()
    # A body that every later check would refuse: the header is refused first.
    status, body = await _post(
        line,
        "/twilio/voice",
        b"\xff" * 100,
        content_type="multipart/form-data",
        signature=signature,
    )
    assert status == 403
    assert "invalid_signature" in body
    _no_traceback(caplog)


@pytest.mark.parametrize(
    ("path", "fields", "status"),
    [
        ("/twilio/voice/callback?task=999&attempt=999", {"CallSid": CALL_SID}, 404),
        (
            "/twilio/status?kind=callback&task=999&attempt=1",
            {"CallSid": CALL_SID, "CallStatus": "completed"},
            404,
        ),
        (
            "/twilio/status?kind=operator&operator=999",
            {"CallSid": CALL_SID, "CallStatus": "completed"},
            404,
        ),
        ("/twilio/voice/operator?operator=999", {"CallSid": CALL_SID}, 404),
        ("/twilio/voice/operator/accept?operator=999", {"CallSid": CALL_SID, "Digits": "1"}, 404),
        ("/twilio/voice", {"MessageSid": "SM" + "b" * 32}, 400),  # a call route needs a call
        ("/twilio/sms", {"CallSid": CALL_SID, "Body": "SOS"}, 400),
        ("/twilio/voice", {"CallSid": "CA'; DROP TABLE x"}, 400),
        ("/twilio/voice", {"CallSid": CALL_SID, "AccountSid": "x" * 5000}, 400),
    ],
)
async def test_signed_requests_naming_what_we_never_made_are_refused(
    start_line: StartLine,
    caplog: pytest.LogCaptureFixture,
    path: str,
    fields: dict[str, str],
    status: int,
) -> None:
    line = await start_line()
    got, body = await _post(line, path, urlencode(fields).encode(), sign=True)
    assert got == status, body
    _no_traceback(caplog)
    assert await line.rows("SELECT * FROM hotline_calls") == []


@pytest.mark.parametrize(
    "fields",
    [
        {"CallStatus": "completed", "SequenceNumber": "1e400", "CallDuration": "nan"},
        {"CallStatus": "completed", "SequenceNumber": "9" * 40, "CallDuration": "-1e9999"},
        {"CallStatus": "ringing", "SequenceNumber": "\u0663", "CallDuration": "²"},
        {"CallStatus": "no-such-status"},
    ],
)
async def test_odd_numbers_in_a_status_callback_are_ignored(
    start_line: StartLine, caplog: pytest.LogCaptureFixture, fields: dict[str, str]
) -> None:
    line = await start_line()
    body = urlencode({"CallSid": CALL_SID, "From": CALLER, **fields}).encode()
    status, _ = await _post(line, "/twilio/status", body, sign=True)
    assert status == 204
    _no_traceback(caplog)


async def test_a_people_count_of_thousands_of_digits(
    start_line: StartLine, caplog: pytest.LogCaptureFixture
) -> None:
    line = await start_line()
    call = await line.sim.incoming(CALLER)
    await call.press("1")
    await call.speak("thôn La Chữ")
    await call.silence()
    await call.press("9" * 5000)  # within the form's limits: read as no count at all
    assert "Nếu có người bị thương" in call.transcript
    (request,) = await line.rows("SELECT people FROM dispatch_requests")
    assert request == {"people": None}
    url = PUBLIC_URL + "/twilio/voice/rescue/people"
    status, _ = await line.sim.post(url, call.params(Digits="9" * 10_000))
    assert status == 400  # past the form's limits
    _no_traceback(caplog)


# --- the form parser, property-tested ---------------------------------------------------------

_KEYS = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=20,
)
_VALUES = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=200
)


@given(st.binary(max_size=2000))
@settings(max_examples=300, deadline=None)
def test_any_bytes_parse_or_are_refused_as_invalid(body: bytes) -> None:
    try:
        fields = parse_form(body)
    except FormInvalid:
        return
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in fields.items())
    assert len(fields) <= MAX_FIELDS


@given(st.dictionaries(_KEYS, _VALUES, max_size=30))
@settings(max_examples=300, deadline=None)
def test_a_form_twilio_would_send_parses_back_whole(fields: dict[str, str]) -> None:
    assert parse_form(urlencode(fields).encode()) == fields


@given(st.text(max_size=500))
@settings(max_examples=300, deadline=None)
def test_any_text_parses_or_is_refused_as_invalid(text: str) -> None:
    try:
        parse_form(text.encode("utf-8", "surrogatepass"))
    except FormInvalid:
        pass
