"""The call log as the after-action report reads it: inbound calls in a window, each with when
its callback was first placed and first reached the caller."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from canhbao.clock import utc_text
from canhbao.db import Database

# Attempts that were never a call (being placed, or refused by Twilio) are not callbacks made,
# as in hotline.reports.
_PLACED = "a.outcome NOT IN ('placing', 'not-placed')"


async def inbound_calls(db: Database, since: datetime, until: datetime) -> list[sqlite3.Row]:
    """Inbound calls received in [since, until], oldest first: sid, received_at, answered_at,
    ended_at, enqueued_at, queue_wait_s, outcome, and the callback's first placed attempt
    (callback_at) and first reached one (reached_at), counted from the call on."""
    return await db.fetch_all(
        "SELECT c.sid, c.received_at, c.answered_at, c.ended_at, c.enqueued_at,"  # noqa: S608  # constants
        " c.queue_wait_s, c.outcome,"
        " (SELECT min(a.started_at) FROM hotline_callback_attempts a"
        f"  WHERE a.task_id = c.callback_task_id AND a.started_at >= c.received_at AND {_PLACED})"
        " AS callback_at,"
        " (SELECT min(a.started_at) FROM hotline_callback_attempts a"
        "  WHERE a.task_id = c.callback_task_id AND a.started_at >= c.received_at"
        "  AND a.outcome = 'reached') AS reached_at"
        " FROM hotline_calls c WHERE c.kind = 'inbound'"
        " AND c.received_at >= ? AND c.received_at <= ? ORDER BY c.received_at",
        (utc_text(since), utc_text(until)),
    )
