"""The report's figures, as JSON-ready data: pure functions over what the ports read, and
`collect`, which reads them. Times are UTC ISO-8601 in the JSON; the HTML shows them local."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from canhbao.clock import utc_text
from exercises.report.models import (
    CallRecord,
    Crossing,
    EscalationRecord,
    RescueRecord,
    RiverStation,
    WarningRecord,
    Window,
)
from exercises.report.ports import ReportSources

SCHEMA = "canhbao.after-action/1"
ANSWER_TARGET_S = 15.0  # NENA: 90 % of emergency calls answered within 15 s
PRIORITIES = ("emergency", "high", "medium", "low")
HOUR = timedelta(hours=1)
# The timeline: hourly (a flood rises over hours), or coarser past this many points.
MAX_TIMELINE_POINTS = 2_000


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile (0 < fraction ≤ 1), None when there are no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def summary(values: Sequence[float]) -> dict[str, Any]:
    median, p90 = percentile(values, 0.5), percentile(values, 0.9)
    return {
        "count": len(values),
        "median_s": None if median is None else round(median, 1),
        "p90_s": None if p90 is None else round(p90, 1),
    }


def _span(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 3)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def reach_times(warning: WarningRecord) -> tuple[datetime | None, datetime | None]:
    """When 90 % and when 100 % of the targeted devices had been reached (None: not yet)."""
    total = warning.targeted_devices
    if total <= 0:
        return None, None
    done = 0
    at_90: datetime | None = None
    for moment, count in sorted(warning.reached):
        done += count
        if at_90 is None and done >= math.ceil(0.9 * total):
            at_90 = moment
        if done >= total:
            return at_90, moment
    return at_90, None


def crossing_figures(
    crossings: Sequence[Crossing],
    warnings: Sequence[WarningRecord],
    stations: Sequence[RiverStation],
) -> list[dict[str, Any]]:
    """Per upward band crossing: the warning it drafted, and the time from the crossing to the
    draft, approval, issue, and 90 % / 100 % of targeted devices reached."""
    # A draft nobody issued yet is rewritten by the next crossing: each crossing is timed to
    # when the drafter wrote it into the draft, not to when the draft was first made.
    by_key = {key: (w, at) for w in warnings for key, at in w.drafted}
    names = {s.id: s.name for s in stations}
    rows = []
    for crossing in crossings:
        found = by_key.get(crossing.key)
        row: dict[str, Any] = {
            "station_id": crossing.station_id,
            "station": names.get(crossing.station_id, crossing.station_id),
            "band": crossing.to_level,
            "from_band": crossing.from_level,
            "value_m": crossing.value,
            "observed_at": utc_text(crossing.observed_at),
            "warning": None,
            "to_draft_s": None,
            "to_approval_s": None,
            "to_issue_s": None,
            "to_90_percent_s": None,
            "to_100_percent_s": None,
            "targeted_devices": 0,
        }
        if found is not None:
            warning, drafted_at = found
            at_90, at_100 = reach_times(warning)
            start = crossing.observed_at
            row.update(
                warning=warning.identifier,
                headline=warning.headline,
                state=warning.state,
                to_draft_s=_span(start, drafted_at),
                to_approval_s=_span(start, warning.approved_at),
                to_issue_s=_span(start, warning.issued_at),
                to_90_percent_s=_span(start, at_90),
                to_100_percent_s=_span(start, at_100),
                targeted_devices=warning.targeted_devices,
            )
        rows.append(row)
    return rows


def call_figures(calls: Sequence[CallRecord]) -> dict[str, Any]:
    """Calls offered; of those that asked for a person (queued for an operator), how many an
    operator answered within 15 s (NENA's norm: 90 %); abandoned; called back; and the time
    from hang-up to the callback. (The voice menu itself answers every call at once: counting
    that as "answered" would say nothing.)"""
    queued = [c for c in calls if c.enqueued_at is not None]
    answered = sum(
        1
        for c in queued
        if c.outcome == "handled" and c.queue_wait_s is not None
        and c.queue_wait_s <= ANSWER_TARGET_S
    )  # fmt: skip
    abandoned = [c for c in calls if c.outcome == "abandoned"]
    called_back = [c for c in abandoned if c.callback_at is not None]
    reached = [c for c in abandoned if c.callback_reached_at is not None]
    waits = [
        max(0.0, (c.callback_at - (c.ended_at or c.received_at)).total_seconds())
        for c in called_back
        if c.callback_at is not None
    ]
    return {
        "offered": len(calls),
        "queued_for_operator": len(queued),
        "answered_within_15s": answered,
        "answered_within_15s_share": _share(answered, len(queued)),
        "abandoned": len(abandoned),
        "abandoned_share": _share(len(abandoned), len(calls)),
        "called_back": len(called_back),
        "callback_reached": len(reached),
        "abandoned_not_called_back": len(abandoned) - len(called_back),
        "time_to_callback": summary(waits),
    }


def rescue_figures(
    requests: Sequence[RescueRecord], escalations: Sequence[EscalationRecord], window: Window
) -> dict[str, Any]:
    """Requests by priority with time to accept, on scene and resolved; escalations, and the
    missed ones: not cleared by staff before the window ends, while nobody had accepted the
    request either (an escalated request a team then took was not missed)."""

    def group(rows: Sequence[RescueRecord]) -> dict[str, Any]:
        def times(column: str) -> list[float]:
            return [
                (getattr(r, column) - r.created_at).total_seconds()
                for r in rows
                if getattr(r, column) is not None
            ]

        return {
            "requests": len(rows),
            "to_accept": summary(times("accepted_at")),
            "to_on_scene": summary(times("on_scene_at")),
            "to_resolved": summary(times("resolved_at")),
        }

    accepted = {r.id: r.accepted_at for r in requests}

    def missed_one(escalation: EscalationRecord) -> bool:
        if escalation.cleared_at is not None and escalation.cleared_at <= window.end:
            return False
        taken = accepted.get(escalation.request_id)
        return taken is None or taken > window.end

    missed = [e for e in escalations if missed_one(e)]
    return {
        "by_priority": {p: group([r for r in requests if r.priority == p]) for p in PRIORITIES},
        "total": group(requests),
        "escalations": len(escalations),
        "missed_escalations": len(missed),
        "missed_escalation_requests": sorted(e.request_id for e in missed),
    }


def timeline_step(window: Window) -> timedelta:
    """Hours, or as many whole hours as keep the timeline within MAX_TIMELINE_POINTS."""
    hours = math.ceil((window.end - window.start) / HOUR / MAX_TIMELINE_POINTS)
    return HOUR * max(1, hours)


def _slots(window: Window, step: timedelta) -> list[datetime]:
    start = window.start.replace(minute=0, second=0, microsecond=0)
    return [start + i * step for i in range(int((window.end - start) / step) + 1)]


def calls_per_slot(
    calls: Sequence[CallRecord], slots: Sequence[datetime], step: timedelta
) -> list[int]:
    counts = [0] * len(slots)
    for call in calls:
        if slots:
            slot = int((call.received_at - slots[0]) / step)
            if 0 <= slot < len(counts):
                counts[slot] += 1
    return counts


async def collect(sources: ReportSources, window: Window) -> dict[str, Any]:
    """Read everything the report shows for the window, and compute its figures."""
    stations = list(await sources.rivers.stations())
    crossings = await sources.rivers.crossings(window)
    warnings = await sources.warnings.warnings(window)
    calls = await sources.calls.calls(window)
    requests = await sources.rescues.requests(window)
    escalations = await sources.rescues.escalations(window)
    step = timeline_step(window)
    slots = _slots(window, step)
    series = []
    for station in stations:
        points = await sources.rivers.levels(station.id, window, int(step.total_seconds()))
        series.append(
            {
                "id": station.id,
                "name": station.name,
                "river": station.river,
                "bao_dong": list(station.bao_dong),
                "points": [[utc_text(p.at), round(p.value, 3)] for p in points],
            }
        )
    return {
        "format": SCHEMA,
        "window": {"from": utc_text(window.start), "to": utc_text(window.end)},
        "crossings": crossing_figures(crossings, warnings, stations),
        "warnings": [
            {
                "identifier": w.identifier,
                "headline": w.headline,
                "msg_type": w.msg_type,
                "status": w.status,
                "origin": w.origin,
                "state": w.state,
                "created_at": utc_text(w.created_at),
                "issued_at": None if w.issued_at is None else utc_text(w.issued_at),
            }
            for w in warnings
        ],
        "calls": call_figures(calls),
        "rescue": rescue_figures(requests, escalations, window),
        "timeline": {
            "step_s": int(step.total_seconds()),
            "slots": [utc_text(h) for h in slots],
            "calls_per_slot": calls_per_slot(calls, slots, step),
            "stations": [s for s in series if s["points"]],
        },
    }
