"""Pure helpers of the public pages: language choice, search without diacritics, times and
numbers as people read them, distances, the CSV of a station. No I/O."""

from __future__ import annotations

import csv
import io
import math
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import datetime

from canhbao.clock import to_local
from public.ports import Language, PublicWard

LANGUAGES: tuple[Language, ...] = ("vi", "en")
QUERY_MAX = 100  # characters of a search kept; the rest is cut, never refused
SEVERITY_ORDER = {"Extreme": 0, "Severe": 1, "Moderate": 2, "Minor": 3, "Unknown": 4}


def choose_language(asked: str | None, cookie: str | None, accept: str | None) -> Language:
    """`?lang=` wins, then the cookie a choice left, then Accept-Language; Vietnamese else."""
    for value in (asked, cookie):
        if value in LANGUAGES:
            return "en" if value == "en" else "vi"
    for part in (accept or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("vi"):
            return "vi"
        if tag.startswith("en"):
            return "en"
    return "vi"


def fold(text: str) -> str:
    """Lower case without diacritics: "Phú Xuân" and "phu xuan" fold alike (đ → d too)."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    bare = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return " ".join(bare.casefold().split())


_CONTROL = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})


def clean_query(raw: str) -> str:
    """A search as typed, without control or format characters, spaces collapsed, cut short."""
    kept = "".join(
        " " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c
        for c in raw[: 4 * QUERY_MAX]
    )
    return " ".join(kept.split())[:QUERY_MAX].strip()


_PREFIXES = ("phuong ", "xa ", "thi tran ", "ward ", "commune ")


def search_wards(wards: Iterable[PublicWard], query: str, limit: int = 50) -> list[PublicWard]:
    """Wards whose name holds the query, with or without diacritics; names starting with it
    first. "Phường"/"Xã" before a name may be typed or left out."""
    wanted = fold(query)
    for prefix in _PREFIXES:
        if wanted.startswith(prefix):
            wanted = wanted.removeprefix(prefix)
            break
    if not wanted:
        return []
    found: list[tuple[int, str, PublicWard]] = []
    for ward in wards:
        name = fold(ward.name)
        for prefix in _PREFIXES:
            name = name.removeprefix(prefix)
        if wanted in name:
            found.append((0 if name.startswith(wanted) else 1, name, ward))
    found.sort(key=lambda item: (item[0], item[1]))
    return [ward for _, _, ward in found[:limit]]


def local_time(moment: datetime, language: Language) -> str:
    """A time in Asia/Ho_Chi_Minh, as a reader there writes it."""
    local = to_local(moment)
    if language == "vi":
        return f"{local:%H:%M} ngày {local.day}/{local.month}/{local.year}"
    return f"{local:%H:%M} on {local.day}/{local.month}/{local.year} (UTC+7)"


def short_time(moment: datetime) -> str:
    local = to_local(moment)
    return f"{local:%H:%M} {local.day}/{local.month}"


def number(value: float, language: Language, digits: int = 2) -> str:
    """3.62 as "3,62" in Vietnamese, "3.62" in English."""
    text = f"{value:.{digits}f}"
    return text.replace(".", ",") if language == "vi" else text


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance between two (lon, lat) points, in km."""
    lon1, lat1, lon2, lat2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(h)))


def csv_of_levels(station_id: str, points: Sequence[tuple[datetime, float]]) -> str:
    """The chart's data: one row per reading, UTC and local times, metres."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["station_id", "observed_at_utc", "observed_at_local", "water_level_m"])
    for at, value in points:
        writer.writerow(
            [
                station_id,
                at.isoformat(timespec="seconds"),
                to_local(at).isoformat(timespec="seconds"),
                f"{value:.3f}",
            ]
        )
    return out.getvalue()
