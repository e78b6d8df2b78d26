"""The team SMS keywords: a table of what teams really type, and properties over any text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatch.keywords import TeamReply, fold, parse_team_reply


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("NHAN 1023", TeamReply("accept", "1023")),
        ("nhận 1023", TeamReply("accept", "1023")),
        ("Nhận  1023 ", TeamReply("accept", "1023")),
        ("  NHẬN\t1023\n", TeamReply("accept", "1023")),
        ("nhan1023", TeamReply("accept", "1023")),
        ("NHAN #1023", TeamReply("accept", "1023")),
        ("nhan 1023.", TeamReply("accept", "1023")),
        ("OK 1023", TeamReply("accept", "1023")),
        ("ok 1023", TeamReply("accept", "1023")),
        ("Ok", TeamReply("accept", None)),
        ("KHONG 1023", TeamReply("decline", "1023")),
        ("không 1023", TeamReply("decline", "1023")),
        ("KHÔNG NHẬN 1023", TeamReply("decline", "1023")),
        ("ko 1023", TeamReply("decline", "1023")),
        ("từ chối 1023", TeamReply("decline", "1023")),
        ("DEN 1023", TeamReply("on_scene", "1023")),
        ("Đến 1023", TeamReply("on_scene", "1023")),
        ("đến nơi 1023", TeamReply("on_scene", "1023")),
        ("đã đến 1023", TeamReply("on_scene", "1023")),
        ("XONG 1023", TeamReply("done", "1023")),
        ("xong", TeamReply("done", None)),
        ("Hoàn thành 1023", TeamReply("done", "1023")),
        # Decomposed marks (as some phones send them) read the same.
        ("nha\u0323\u0302n 1023", TeamReply("accept", "1023")),
        # Full-width digits and letters (an East Asian keyboard).
        ("\uff2e\uff28\uff21\uff2e \uff11\uff10\uff12\uff13", TeamReply("accept", "1023")),
        # Not answers: other words, a sentence, an SOS, a number that is not ASCII.
        ("nhanh lên 1023", None),
        ("OK chúng tôi đến", None),
        ("SOS 12 Lê Lợi", None),
        ("Cứu, nhà có 5 người", None),
        ("", None),
        ("   ", None),
        ("NHAN ١٠٢٣", None),
        ("NHAN 1023 1024", None),
        ("NHAN " + "1" * 13, None),
        ("x" * 500, None),
    ],
)
def test_what_teams_type(body: str, expected: TeamReply | None) -> None:
    assert parse_team_reply(body) == expected


def test_fold_strips_marks_and_spaces() -> None:
    assert fold("  Đến   nơi ") == "DEN NOI"


@given(st.text(max_size=300))
def test_any_text_parses_or_is_not_an_answer(body: str) -> None:
    found = parse_team_reply(body)
    if found is not None:
        assert found.action in ("accept", "decline", "on_scene", "done")
        assert found.number is None or (found.number.isascii() and found.number.isdigit())


@given(
    st.sampled_from(["NHAN", "nhận", "Nhận", "OK", "ok", "KHONG", "không", "DEN", "đến", "XONG"]),
    st.integers(min_value=1001, max_value=10**11),
    st.text(alphabet=" \t", max_size=3),
    st.text(alphabet=" \t.,#", min_size=1, max_size=3),
    st.text(alphabet=" \t.!", max_size=3),
)
def test_a_keyword_and_a_number_always_read_back(
    keyword: str, number: int, before: str, between: str, after: str
) -> None:
    found = parse_team_reply(f"{before}{keyword}{between}{number}{after}")
    assert found is not None
    assert found.number == str(number)
