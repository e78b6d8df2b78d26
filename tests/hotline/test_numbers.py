"""Vietnamese number words: the mốt/tư/lăm/linh rules, groups, water levels, digits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotline.numbers import doc_muc_nuoc, doc_phut, doc_toc_do, doc_tung_so, so_thanh_chu


@pytest.mark.parametrize(
    ("number", "words"),
    [
        (0, "không"),
        (1, "một"),
        (5, "năm"),
        (10, "mười"),
        (11, "mười một"),
        (14, "mười bốn"),
        (15, "mười lăm"),
        (20, "hai mươi"),
        (21, "hai mươi mốt"),
        (24, "hai mươi tư"),
        (25, "hai mươi lăm"),
        (55, "năm mươi lăm"),
        (100, "một trăm"),
        (101, "một trăm linh một"),
        (104, "một trăm linh bốn"),
        (105, "một trăm linh năm"),
        (110, "một trăm mười"),
        (115, "một trăm mười lăm"),
        (121, "một trăm hai mươi mốt"),
        (999, "chín trăm chín mươi chín"),
        (1000, "một nghìn"),
        (1005, "một nghìn không trăm linh năm"),
        (1024, "một nghìn không trăm hai mươi tư"),
        (2020, "hai nghìn không trăm hai mươi"),
        (15_000, "mười lăm nghìn"),
        (1_433_465, "một triệu bốn trăm ba mươi ba nghìn bốn trăm sáu mươi lăm"),
        (1_000_001, "một triệu không trăm linh một"),
        (3_321_000_000, "ba tỷ ba trăm hai mươi mốt triệu"),
        (-3, "âm ba"),
    ],
)
def test_so_thanh_chu(number: int, words: str) -> None:
    assert so_thanh_chu(number) == words


@pytest.mark.parametrize(
    ("metres", "words"),
    [
        (3.20, "ba mét hai mươi"),
        (4.96, "bốn mét chín mươi sáu"),
        (3.05, "ba mét linh năm"),
        (2.0, "hai mét"),
        (1.15, "một mét mười lăm"),
        (5.81, "năm mét tám mươi mốt"),
        (0.85, "tám mươi lăm xăng-ti-mét"),
        (-0.3, "âm ba mươi xăng-ti-mét"),
    ],
)
def test_water_levels_read_as_people_say_them(metres: float, words: str) -> None:
    assert doc_muc_nuoc(metres) == words


def test_rates_minutes_and_digits() -> None:
    assert doc_toc_do(-0.12) == "mười hai xăng-ti-mét mỗi giờ"
    assert doc_phut(0.2) == "một phút"
    assert doc_phut(24.6) == "hai mươi lăm phút"
    assert doc_tung_so("1024") == "một, không, hai, bốn"


@given(st.integers(min_value=0, max_value=10**12))
def test_every_number_reads_without_gaps_or_bare_teens(number: int) -> None:
    words = so_thanh_chu(number)
    assert "  " not in words
    assert words == words.strip()
    # "mươi năm" and "mười năm" would be heard as a different number; "linh lăm" is wrong.
    assert "mươi năm" not in words
    assert "mười năm" not in words
    assert "linh lăm" not in words
    assert "mươi một" not in words
    assert "mươi bốn" not in words
