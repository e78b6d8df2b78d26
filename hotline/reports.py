"""Call-log figures and CSV export, as pure functions over call rows."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from canhbao.clock import parse_utc, to_local
from hotline.store import CallRow

# NENA: 90% of emergency calls answered within 15 s.
ANSWER_TARGET_S = 15.0
ANSWER_NORM = 0.90
CSV_COLUMNS = (
    "sid",
    "parent_sid",
    "kind",
    "direction",
    "from",
    "to",
    "status",
    "received_at_local",
    "answered_at_local",
    "ended_at_local",
    "queue_wait_s",
    "duration_s",
    "menu_path",
    "answered_by",
    "outcome",
    "rescue_request_id",
    "operator_id",
    "callback_task_id",
    "notes",
)


def figures(calls: Sequence[CallRow], attempts: Iterable[Any]) -> dict[str, Any]:
    """Per local day and in total: inbound calls, the share of callers who asked for an
    operator and got one within 15 s of joining the queue (the emergency-centre norm is 90%),
    the share of calls the system itself answered within 15 s, abandonment, and callbacks."""
    days: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for call in calls:
        if call.kind != "inbound":
            continue
        day = days[to_local(call.received_at).date().isoformat()]
        day["calls"] += 1
        if call.answered_at is not None and (
            (call.answered_at - call.received_at).total_seconds() <= ANSWER_TARGET_S
        ):
            day["answered_15s"] += 1
        if call.enqueued_at is not None:
            day["queued"] += 1
            if (
                call.outcome == "handled"
                and call.queue_wait_s is not None
                and call.queue_wait_s <= ANSWER_TARGET_S
            ):
                day["operator_15s"] += 1
        if call.outcome == "abandoned":
            day["abandoned"] += 1
    for row in attempts:
        day = days[to_local(parse_utc(row["started_at"])).date().isoformat()]
        if row["outcome"] not in ("placing", "not-placed"):
            day["callbacks_made"] += 1
        if row["outcome"] == "reached":
            day["callbacks_reached"] += 1
    per_day = [_shares(day, dict(values)) for day, values in sorted(days.items())]
    total: dict[str, int] = defaultdict(int)
    for values in days.values():
        for key, value in values.items():
            total[key] += value
    return {
        "answer_target_s": ANSWER_TARGET_S,
        "answer_norm": ANSWER_NORM,
        "days": per_day,
        "total": _shares(None, dict(total)),
    }


def _shares(day: str | None, values: dict[str, int]) -> dict[str, Any]:
    calls = values.get("calls", 0)
    queued = values.get("queued", 0)
    body: dict[str, Any] = {
        "calls": calls,
        "answered_within_15s": _ratio(values.get("answered_15s", 0), calls),
        "queued": queued,
        "operator_within_15s": _ratio(values.get("operator_15s", 0), queued),
        "abandoned": values.get("abandoned", 0),
        "abandonment_rate": _ratio(values.get("abandoned", 0), calls),
        "callbacks_made": values.get("callbacks_made", 0),
        "callbacks_reached": values.get("callbacks_reached", 0),
    }
    if day is not None:
        body = {"day": day, **body}
    return body


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def calls_csv(calls: Iterable[CallRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for call in calls:
        writer.writerow(
            [
                call.sid,
                call.parent_sid or "",
                call.kind,
                call.direction,
                call.from_number,
                call.to_number,
                call.status.value if call.status else "",
                _local(call.received_at),
                _local(call.answered_at),
                _local(call.ended_at),
                "" if call.queue_wait_s is None else f"{call.queue_wait_s:g}",
                "" if call.duration_s is None else call.duration_s,
                call.menu_path,
                call.answered_by or "",
                call.outcome or "",
                call.rescue_request_id or "",
                call.operator_id or "",
                call.callback_task_id or "",
                _cell(call.notes),
            ]
        )
    return out.getvalue()


def _local(moment: Any) -> str:
    return "" if moment is None else to_local(moment).isoformat()


def _cell(text: str) -> str:
    # A cell starting with = + - @ is run as a formula by spreadsheet programs.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
