"""Pure helpers of the public pages: language choice, search without diacritics, times and
numbers as people read them, distances, the CSV of a station. No I/O."""

from __future__ import annotations

import csv
import io
import math
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from canhbao.clock import to_local
from feeds import levels as feed_levels
from public.ports import Language, PublicWard, RainSeries

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
    return _csv(station_id, points, "water_level_m", 3)


def _csv(
    station_id: str, points: Sequence[tuple[datetime, float]], column: str, digits: int
) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["station_id", "observed_at_utc", "observed_at_local", column])
    for at, value in points:
        local = to_local(at).isoformat(timespec="seconds")
        writer.writerow(
            [station_id, at.isoformat(timespec="seconds"), local, f"{value:.{digits}f}"]
        )
    return out.getvalue()


@dataclass(frozen=True)
class RainSummary:
    """What a page says of the rain at a gauge over the 24 h to `now`."""

    gauge_id: str
    gauge_name: str
    distance_km: float
    observed: bool  # False: no amount reported at all (unknown, never "no rain")
    total_24h: float
    total_3h: float
    rain_class: int  # index into texts.RAIN_CLASSES
    intense: bool  # over 100 mm in 3 h
    hourly: tuple[tuple[datetime, float], ...]  # 24 hours, each (its end, mm), oldest first


def rain_class(total_24h: float) -> int:
    """0 no rain, 1 light (under 16 mm), 2-4 mưa vừa / mưa to / mưa rất to."""
    category = feed_levels.rain_category_24h(total_24h)
    if category:
        return 1 + int(category)
    return 1 if total_24h > 0 else 0


def rain_summary(rain: RainSeries, now: datetime) -> RainSummary:
    """Totals over 24 h and 3 h to `now` and one bar per hour (amounts counted in the hour their
    interval ends, by the hour ending after them)."""
    start, recent = now - timedelta(hours=24), now - timedelta(hours=3)
    amounts = [(at, mm) for at, mm in rain.amounts if start < at <= now]
    last = now.replace(minute=0, second=0, microsecond=0)
    if last < now:
        last += timedelta(hours=1)
    ends = [last - timedelta(hours=23 - i) for i in range(24)]
    bars = [0.0] * 24
    for at, mm in amounts:
        # The bar of the first hour mark at or after `at`.
        index = 23 - int((last - at) // timedelta(hours=1))
        bars[max(index, 0)] += mm
    total = sum(mm for _, mm in amounts)
    total_3h = sum(mm for at, mm in amounts if at > recent)
    return RainSummary(
        rain.gauge.id,
        rain.gauge.name,
        rain.distance_km,
        bool(amounts),
        total,
        total_3h,
        rain_class(total),
        feed_levels.intense_rain(total_3h),
        tuple(zip(ends, bars, strict=True)),
    )


def csv_of_rain(station_id: str, points: Sequence[tuple[datetime, float]]) -> str:
    """A gauge's rain: one row per amount, UTC and local times, millimetres."""
    return _csv(station_id, points, "rainfall_mm", 1)
