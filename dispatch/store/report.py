"""Rescue requests as the after-action report reads them: when each reached accepted, on
scene and resolved, and the escalations raised in a window."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from canhbao.clock import utc_text
from dispatch.store.rows import Reader, fetch_all


async def escalations_between(
    reader: Reader, since: datetime, until: datetime
) -> list[sqlite3.Row]:
    """Escalations raised in [since, until] (a request no team took after the configured
    offers): request_id, escalated_at, failed_offers, cleared_at."""
    return await fetch_all(
        reader,
        "SELECT request_id, escalated_at, failed_offers, cleared_at FROM dispatch_escalations"
        " WHERE escalated_at >= ? AND escalated_at <= ? ORDER BY escalated_at",
        (utc_text(since), utc_text(until)),
    )


async def offers_between(reader: Reader, since: datetime, until: datetime) -> list[sqlite3.Row]:
    """Offers made in [since, until]: request_id, status, offered_at, answered_at."""
    return await fetch_all(
        reader,
        "SELECT request_id, status, offered_at, answered_at FROM dispatch_offers"
        " WHERE offered_at >= ? AND offered_at <= ? ORDER BY offered_at",
        (utc_text(since), utc_text(until)),
    )
