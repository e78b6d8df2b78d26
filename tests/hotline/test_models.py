"""The hotline's pure rules: monotonic call status, SMS keywords, shifts, keypad answers."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from hotline.models import (
    ADDRESS_MAX_CHARS,
    CallStatus,
    Operator,
    Vulnerability,
    attempt_outcome,
    cap_address,
    expected_wait_minutes,
    next_attempt_delay,
    next_status,
    on_shift,
    parse_people,
    parse_sms_people,
    parse_sos,
    parse_vulnerabilities,
)

S = CallStatus


@pytest.mark.parametrize(
    ("current", "current_seq", "incoming", "incoming_seq", "applies"),
    [
        (None, None, S.ringing, 1, True),
        (S.ringing, 1, S.in_progress, 2, True),
        (S.in_progress, 2, S.ringing, 1, False),  # late ringing
        (S.completed, 3, S.ringing, 1, False),  # never back from a final status
        (S.completed, 3, S.in_progress, 4, False),
        (S.completed, 3, S.completed, 3, False),  # repeated
        (S.ringing, 1, S.completed, 0, True),  # a final status wins over progress
        (S.ringing, None, S.in_progress, None, True),  # no sequence: by progress
        (S.in_progress, None, S.ringing, None, False),
    ],
)
def test_status_only_moves_forward(
    current: CallStatus | None,
    current_seq: int | None,
    incoming: CallStatus,
    incoming_seq: int | None,
    applies: bool,
) -> None:
    assert next_status(current, current_seq, incoming, incoming_seq) is applies


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ("SOS 12 Lê Lợi, Phú Hội", "12 Lê Lợi, Phú Hội"),
        ("sos: kiệt 5 Nguyễn Huệ", "kiệt 5 Nguyễn Huệ"),
        ("CỨU nhà 3 người, thôn La Chữ", "nhà 3 người, thôn La Chữ"),
        ("Cứu!", ""),
        ("cuu 45 Phan Bội Châu", "45 Phan Bội Châu"),
        ("CU\u031b\u0301U decomposed 7", "decomposed 7"),  # NFD input from some phones
        ("cỨu 7 Lý Thường Kiệt", "7 Lý Thường Kiệt"),  # any case
        ("CUU: 8 Ngự Bình", "8 Ngự Bình"),
        # Another vowel's marks are another word, not a call for help.
        ("Cửu Long hôm nay mưa to", None),
        ("Cừu nhà tôi bị lạc", None),
        ("CỪU", None),
        ("cưu mang", None),
        ("CƯÚ 5", None),
        ("CU\u031bU\u0301 5", None),  # the same, decomposed
        ("SOS", ""),
        ("xin chào", None),
        ("SOSO 5", None),
        # Any message opening with the keyword is an SOS: a false alarm costs a triage, a
        # missed one may cost a life.
        ("cứu hộ với, 9 Trần Hưng Đạo", "hộ với, 9 Trần Hưng Đạo"),
    ],
)
def test_sms_keywords(body: str, text: str | None) -> None:
    assert parse_sos(body) == text


def test_a_stored_address_is_capped() -> None:
    assert cap_address("  kiệt 3 Huỳnh Thúc Kháng ") == "kiệt 3 Huỳnh Thúc Kháng"
    long = "Lê Lợi " * 1000
    capped = cap_address(long)
    assert len(capped) == ADDRESS_MAX_CHARS
    assert long.startswith(capped)


def _operator(start: str, end: str, active: bool = True) -> Operator:
    h1, m1 = map(int, start.split(":"))
    h2, m2 = map(int, end.split(":"))
    return Operator(1, "Lan", "+84914000001", time(h1, m1), time(h2, m2), active)


@pytest.mark.parametrize(
    ("start", "end", "local_hour", "expected"),
    [
        ("07:00", "19:00", 10, True),
        ("07:00", "19:00", 19, False),
        ("22:00", "06:00", 23, True),  # overnight
        ("22:00", "06:00", 5, True),
        ("22:00", "06:00", 12, False),
        ("00:00", "00:00", 3, True),  # round the clock
    ],
)
def test_shifts_in_local_time(start: str, end: str, local_hour: int, expected: bool) -> None:
    moment = datetime(2025, 11, 16, local_hour, 0, tzinfo=UTC) - timedelta(hours=7)
    assert on_shift(_operator(start, end), moment) is expected
    assert on_shift(_operator(start, end, active=False), moment) is False


@pytest.mark.parametrize(
    ("body", "people"),
    [
        ("SOS 12 Lê Lợi, Phú Hội, 3 người", 3),
        ("cuu 45 Phan Boi Chau 3 nguoi", 3),
        ("CỨU nhà 12 NGƯỜI, có trẻ em", 12),
        ("SOS kiệt 5, 4ng", 4),
        ("SOS 3 người già và 2 trẻ em", 3),  # the first count given
        ("SOS số 7 Lê Lợi", None),
        ("SOS 0 người", None),
        ("SOS 10000 người", None),  # not a count we can believe, nor a 10 and 000
        ("SOS 3 ngựa", None),
        ("SOS \u0663 người", None),  # an Arabic-Indic 3 is not read as a count
    ],
)
def test_people_in_an_sms(body: str, people: int | None) -> None:
    assert parse_sms_people(body) == people


def test_keypad_answers() -> None:
    assert parse_people("4#") == 4
    assert parse_people("") is None
    assert parse_people("0") is None
    assert parse_people("999#") == 999
    assert parse_people("1000#") is None
    assert parse_people("1" * 10_000) is None  # no int() of 10,000 digits
    assert parse_people("\u0663#") is None
    assert parse_people("²") is None
    assert parse_vulnerabilities("31#1") == (Vulnerability.injured, Vulnerability.child)
    assert parse_vulnerabilities("#") == ()


def test_callback_rules() -> None:
    assert attempt_outcome(S.completed, "human") == "reached"
    assert attempt_outcome(S.completed, "machine_end_beep") == "machine"
    assert attempt_outcome(S.no_answer, None) == "no-answer"
    assert attempt_outcome(S.busy, None) == "busy"
    delays = (2.0, 10.0, 30.0)
    assert next_attempt_delay(delays, 1) == timedelta(minutes=10)
    assert next_attempt_delay(delays, 3) is None
    assert expected_wait_minutes(3, 0, 180, 2) == 4.5
    assert expected_wait_minutes(3, 240, 180, 2) == 4.0
