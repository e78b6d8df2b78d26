"""What the outbox sent for one reference (an alert's identifier), and when: read by the
after-action report to time how fast a warning reached its devices."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from canhbao.clock import parse_utc
from canhbao.db import Database


@dataclass(frozen=True, slots=True)
class SentPush:
    """One push message of a reference: its target kind and target (a token, a topic or a
    condition), and when the provider accepted it (None: not sent, or not yet)."""

    target_kind: str
    target: str
    sent_at: datetime | None


async def push_sends(db: Database, reference: str) -> list[SentPush]:
    """Every push message enqueued under `reference`, sent or not."""
    rows = await db.fetch_all(
        "SELECT json_extract(payload, '$.target_kind'), json_extract(payload, '$.target'),"
        " CASE WHEN status = 'sent' THEN sent_at END"
        " FROM outbox WHERE reference = ? AND channel = 'push'",
        (reference,),
    )
    return [
        SentPush(str(row[0]), str(row[1]), parse_utc(row[2]) if row[2] else None) for row in rows
    ]
