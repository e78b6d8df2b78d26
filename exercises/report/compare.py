"""Two runs of the same scenario side by side: each headline figure now and before, and
whether it got better or worse, in words (not only colour)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

from exercises.report.figures import PRIORITIES, SCHEMA
from exercises.report.models import ReportError

Verdict = Literal["better", "worse", "same", "n/a"]
VERDICT_TEXT: Mapping[Verdict, str] = {
    "better": "tốt hơn / better",
    "worse": "kém hơn / worse",
    "same": "như cũ / same",
    "n/a": "không so được / not comparable",
}
Figures = Mapping[str, Any]
# Bands as spoken, not "II": báo động hai.
BAND_NAMES: Mapping[int, str] = {
    1: "báo động một",
    2: "báo động hai",
    3: "báo động ba",
    4: "trên báo động ba",
}


@dataclass(frozen=True)
class Line:
    label: str  # "Vietnamese / English"
    unit: Literal["s", "share", "count"]
    before: float | None
    now: float | None
    verdict: Verdict


def _get(figures: Figures, *path: str | int) -> float | None:
    value: Any = figures
    for step in path:
        try:
            value = value[step]
        except (KeyError, IndexError, TypeError):
            return None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _crossing(figures: Figures, station: str, band: int, column: str) -> float | None:
    for row in figures.get("crossings", []):
        if isinstance(row, dict) and row.get("station_id") == station and row.get("band") == band:
            value = row.get(column)
            return float(value) if isinstance(value, int | float) else None
    return None


def _stage(figures: Figures, priority: str, stage: str) -> float | None:
    return _get(figures, "rescue", "by_priority", priority, stage, "median_s")


# (label, unit, lower is better, how to read it)
Metric = tuple[str, Literal["s", "share", "count"], bool, Callable[[Figures], float | None]]


def _metrics(now: Figures, before: Figures) -> list[Metric]:
    metrics: list[Metric] = []
    seen: list[tuple[str, int]] = []
    for figures in (now, before):
        for row in figures.get("crossings", []):
            # A previous run's file is read as found: rows not shaped as ours are left out.
            if not isinstance(row, dict) or not isinstance(row.get("band"), int):
                continue
            key = (str(row.get("station_id")), int(row["band"]))
            if key not in seen:
                seen.append(key)
    for station, band in seen:
        for column, vi, en in (
            ("to_draft_s", "đến bản nháp", "to draft"),
            ("to_approval_s", "đến phê duyệt", "to approval"),
            ("to_issue_s", "đến ban hành", "to issue"),
            ("to_90_percent_s", "đến 90 % thiết bị", "to 90 % of devices"),
            ("to_100_percent_s", "đến 100 % thiết bị", "to 100 % of devices"),
        ):
            metrics.append(
                (
                    f"Trạm {station}, {BAND_NAMES.get(band, str(band))}: {vi}"
                    f" / station {station}, alarm level {band}: {en}",
                    "s",
                    True,
                    partial(_crossing, station=station, band=band, column=column),
                )
            )
    metrics += [
        ("Cuộc gọi đến / calls offered", "count", False, lambda f: _get(f, "calls", "offered")),
        (
            "Trả lời trong 15 giây / answered within 15 s",
            "share",
            False,
            lambda f: _get(f, "calls", "answered_within_15s_share"),
        ),
        (
            "Cuộc gọi bỏ dở / abandoned calls",
            "share",
            True,
            lambda f: _get(f, "calls", "abandoned_share"),
        ),
        (
            "Bỏ dở chưa gọi lại / abandoned, not called back",
            "count",
            True,
            lambda f: _get(f, "calls", "abandoned_not_called_back"),
        ),
        (
            "Thời gian đến khi gọi lại (trung vị) / time to callback (median)",
            "s",
            True,
            lambda f: _get(f, "calls", "time_to_callback", "median_s"),
        ),
    ]
    for priority in PRIORITIES:
        for stage, vi, en in (
            ("to_accept", "đến khi nhận", "to accept"),
            ("to_on_scene", "đến hiện trường", "on scene"),
            ("to_resolved", "đến khi xong", "resolved"),
        ):
            metrics.append(
                (
                    f"Cứu hộ {priority}: {vi} (trung vị) / rescue {priority}: {en} (median)",
                    "s",
                    True,
                    partial(_stage, priority=priority, stage=stage),
                )
            )
    metrics.append(
        (
            "Chuyển cấp bị bỏ sót / missed escalations",
            "count",
            True,
            lambda f: _get(f, "rescue", "missed_escalations"),
        )
    )
    return metrics


def check_previous(previous: object) -> Figures:
    """A previous run's figures as read from its JSON, or ReportError saying why not."""
    if not isinstance(previous, dict) or previous.get("format") != SCHEMA:
        raise ReportError(f"the previous run's JSON is not an after-action report ({SCHEMA})")
    return previous


def compare(now: Figures, before: Figures) -> list[Line]:
    """Every headline figure either run has, with its verdict; figures neither has are left out."""
    lines = []
    for label, unit, lower_better, read in _metrics(now, before):
        old, new = read(before), read(now)
        if old is None and new is None:
            continue
        verdict: Verdict
        if old is None or new is None:
            verdict = "n/a"
        elif abs(new - old) < 1e-9:
            verdict = "same"
        elif (new < old) == lower_better:
            verdict = "better"
        else:
            verdict = "worse"
        lines.append(Line(label, unit, old, new, verdict))
    return lines
