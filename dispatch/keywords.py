"""A rescue team's SMS answer to an offer: `NHAN 1023` (or `OK 1023`) accept, `KHONG 1023`
decline, `DEN 1023` on scene, `XONG 1023` done; read with or without diacritics, in any case,
with stray spaces and punctuation. A pure parser: who sent it and what it does is dispatch.offers'.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

TeamAction = Literal["accept", "decline", "on_scene", "done"]

# Each keyword as it reads once marks are stripped and letters upper-cased ("Đến" → "DEN").
# "KHONG NHAN" is a refusal, not an acceptance: the longer phrases are tried first. "KO" and
# "K" are how "không" is commonly texted.
KEYWORDS: dict[str, TeamAction] = {
    "KHONG NHAN": "decline",
    "TU CHOI": "decline",
    "KHONG": "decline",
    "KO": "decline",
    "NHAN": "accept",
    "OK": "accept",
    "DEN NOI": "on_scene",
    "DA DEN": "on_scene",
    "DEN": "on_scene",
    "XONG": "done",
    "HOAN THANH": "done",
}
_PHRASES = sorted(KEYWORDS, key=len, reverse=True)
# Separators a phone keyboard puts between a keyword and its number (or around them).
_SPLIT = re.compile(r"[\s.,:;#\-_!?/()\[\]\"']+")
# A request number: ASCII digits (what we send), at most 12.
_NUMBER = re.compile(r"[0-9]{1,12}")
MAX_BODY = 160  # a team's answer is one short SMS; anything longer is something else


@dataclass(frozen=True)
class TeamReply:
    """What a team's SMS says: the action, and the request number it names (None: none given)."""

    action: TeamAction
    number: str | None


def fold(text: str) -> str:
    """Marks stripped, đ → d, upper case, one space between words: 'Đến  nơi' → 'DEN NOI'."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    bare = bare.replace("đ", "d").replace("Đ", "D")
    return " ".join(_SPLIT.split(bare.upper())).strip()


def parse_team_reply(body: str) -> TeamReply | None:
    """The team answer `body` is, or None when it is not one (free text, an SOS)."""
    if len(body) > MAX_BODY:
        return None
    words = fold(body)
    for phrase in _PHRASES:
        if words == phrase:
            return TeamReply(KEYWORDS[phrase], None)
        if not words.startswith(phrase):
            continue
        following = words[len(phrase)]
        if following != " " and not following.isdigit():
            continue  # "NHANH" is another word, not NHAN
        rest = words[len(phrase) :].strip()
        if _NUMBER.fullmatch(rest):
            return TeamReply(KEYWORDS[phrase], str(int(rest)))
        return None  # the keyword and then other words: a sentence, not an answer
    return None
