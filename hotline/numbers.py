"""Numbers as spoken Vietnamese words (so_thanh_chu): counts, water levels, minutes, digits.

The reading rules that make a number sound natural, not machine-read:

- mốt: a unit 1 after a tens word of twenty or more (hai mươi mốt), but "mười một";
- tư: a unit 4 after a tens word of twenty or more (hai mươi tư), but "mười bốn";
- lăm: a unit 5 after any tens word (mười lăm, hai mươi lăm), but "năm" on its own or after linh;
- linh: a zero tens digit between hundreds and a unit (một trăm linh năm);
- không trăm: a group of three after a higher group keeps its hundreds (một nghìn không trăm
  hai mươi).
"""

from __future__ import annotations

DIGITS = ("không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín")
# Group words for 10^3, 10^6, 10^9; past that "tỷ" repeats (nghìn tỷ, triệu tỷ).
_GROUPS = ("", "nghìn", "triệu", "tỷ")


def so_thanh_chu(number: int) -> str:
    """A whole number in Vietnamese words: 21 → "hai mươi mốt", 105 → "một trăm linh năm"."""
    if number < 0:
        return "âm " + so_thanh_chu(-number)
    if number == 0:
        return DIGITS[0]
    if number >= 1_000_000_000:
        billions, rest = divmod(number, 1_000_000_000)
        head = so_thanh_chu(billions) + " tỷ"
        if rest == 0:
            return head
        return head + " " + _below_billion(rest, leading=False)
    return _below_billion(number, leading=True)


def _below_billion(number: int, *, leading: bool) -> str:
    groups: list[int] = []
    while number:
        number, group = divmod(number, 1000)
        groups.append(group)
    words: list[str] = []
    for index in range(len(groups) - 1, -1, -1):
        group = groups[index]
        if group == 0:
            continue
        first = leading and not words
        words.append(_three_digits(group, full=not first))
        if _GROUPS[index]:
            words.append(_GROUPS[index])
    return " ".join(words)


def _three_digits(number: int, *, full: bool) -> str:
    """0 < number < 1000; `full` reads the hundreds even when zero (after a higher group)."""
    hundreds, rest = divmod(number, 100)
    tens, unit = divmod(rest, 10)
    words: list[str] = []
    if hundreds or full:
        words += [DIGITS[hundreds], "trăm"]
    if tens == 0:
        if unit:
            if words:
                words.append("linh")
            words.append(DIGITS[unit])
        return " ".join(words)
    words.append("mười" if tens == 1 else f"{DIGITS[tens]} mươi")
    if unit == 1 and tens >= 2:
        words.append("mốt")
    elif unit == 4 and tens >= 2:
        words.append("tư")
    elif unit == 5:
        words.append("lăm")
    elif unit:
        words.append(DIGITS[unit])
    return " ".join(words)


def doc_muc_nuoc(metres: float) -> str:
    """A water level as a person says it: 3.20 → "ba mét hai mươi", 0.85 → "tám mươi lăm
    xăng-ti-mét", 3.05 → "ba mét linh năm", 2.0 → "hai mét"; centimetre precision."""
    centimetres = round(metres * 100)
    if centimetres < 0:
        return "âm " + doc_muc_nuoc(-centimetres / 100)
    whole, rest = divmod(centimetres, 100)
    if whole == 0:
        return f"{so_thanh_chu(rest)} xăng-ti-mét"
    if rest == 0:
        return f"{so_thanh_chu(whole)} mét"
    if rest < 10:
        # "ba mét năm" would be heard as 3.50 m: the zero is spoken as linh.
        return f"{so_thanh_chu(whole)} mét linh {DIGITS[rest]}"
    return f"{so_thanh_chu(whole)} mét {so_thanh_chu(rest)}"


def doc_toc_do(metres_per_hour: float) -> str:
    """A rate of rise or fall: 0.12 → "mười hai xăng-ti-mét mỗi giờ"."""
    return f"{doc_muc_nuoc(abs(metres_per_hour))} mỗi giờ"


def doc_phut(minutes: float) -> str:
    """A duration in whole minutes, at least one: 0.4 → "một phút", 12.6 → "mười ba phút"."""
    return f"{so_thanh_chu(max(1, round(minutes)))} phút"


def doc_tung_so(text: str) -> str:
    """Digits read one by one, with pauses, for numbers a caller must note down: "1024" →
    "một, không, hai, bốn"; anything not a digit is left out."""
    return ", ".join(DIGITS[int(ch)] for ch in text if ch.isdigit())
