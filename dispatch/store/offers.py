"""Offers' and escalations' rows (the tables are created by dispatch.store.teams' migration;
the audited operations that use these are dispatch.offers)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import aiosqlite

from canhbao.clock import parse_utc, utc_text
from dispatch.models import OPEN_STATES
from dispatch.store.rows import Reader, fetch_all, parse_time

OfferStatus = Literal[
    "pending",  # sent, waiting for the team's answer until expires_at
    "accepted",  # the team holds the job (counts against its capacity)
    "declined",
    "timed_out",
    "withdrawn",  # a dispatcher released or reassigned it, or the request closed
    "done",  # the team finished the job
]
# Offers that count as a failure towards escalation.
FAILED: tuple[OfferStatus, ...] = ("declined", "timed_out")

OPEN_MARKS = ", ".join(f"'{s.value}'" for s in OPEN_STATES)  # our own constants

_COLUMNS = (
    "o.id, o.request_id, o.team_id, t.name AS team_name, o.status, o.offered_at, o.expires_at,"
    " o.offered_by, o.reason, o.answered_at, o.answered_via, o.answered_by, o.ended_at"
)
_FROM = "dispatch_offers o JOIN dispatch_teams t ON t.id = o.team_id"


@dataclass(frozen=True)
class Offer:
    id: int
    request_id: int
    team_id: int
    team_name: str
    status: OfferStatus
    offered_at: datetime
    expires_at: datetime
    offered_by: str
    reason: str
    answered_at: datetime | None
    answered_via: str | None
    answered_by: str | None
    ended_at: datetime | None

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "request_id": self.request_id,
            "team": {"id": self.team_id, "name": self.team_name},
            "status": self.status,
            "offered_at": utc_text(self.offered_at),
            "expires_at": utc_text(self.expires_at),
            "offered_by": self.offered_by,
            "reason": self.reason,
            "answered_at": None if self.answered_at is None else utc_text(self.answered_at),
            "answered_via": self.answered_via,
            "answered_by": self.answered_by,
            "ended_at": None if self.ended_at is None else utc_text(self.ended_at),
        }


@dataclass(frozen=True)
class Escalation:
    request_id: int
    escalated_at: datetime
    failed_offers: int
    reason: str


def _offer(row: sqlite3.Row) -> Offer:
    return Offer(
        id=row["id"],
        request_id=row["request_id"],
        team_id=row["team_id"],
        team_name=row["team_name"],
        status=row["status"],
        offered_at=parse_utc(row["offered_at"]),
        expires_at=parse_utc(row["expires_at"]),
        offered_by=row["offered_by"],
        reason=row["reason"],
        answered_at=parse_time(row["answered_at"]),
        answered_via=row["answered_via"],
        answered_by=row["answered_by"],
        ended_at=parse_time(row["ended_at"]),
    )


async def insert_offer(
    conn: aiosqlite.Connection,
    request_id: int,
    team_id: int,
    *,
    at: datetime,
    expires_at: datetime,
    actor: str,
    reason: str,
) -> int:
    async with conn.execute(
        "INSERT INTO dispatch_offers (request_id, team_id, status, offered_at, expires_at,"
        " offered_by, reason) VALUES (?, ?, 'pending', ?, ?, ?, ?)",
        (request_id, team_id, utc_text(at), utc_text(expires_at), actor, reason),
    ) as cursor:
        offer_id = cursor.lastrowid
    assert offer_id is not None  # noqa: S101  # an INSERT always has a rowid
    return offer_id


async def get_offer(reader: Reader, offer_id: int) -> Offer | None:
    rows = await fetch_all(reader, f"SELECT {_COLUMNS} FROM {_FROM} WHERE o.id = ?", (offer_id,))  # noqa: S608  # constant
    return _offer(rows[0]) if rows else None


async def live_offer(reader: Reader, request_id: int) -> Offer | None:
    """The request's pending or accepted offer, if it has one (at most one: a unique index)."""
    rows = await fetch_all(
        reader,
        f"SELECT {_COLUMNS} FROM {_FROM} WHERE o.request_id = ?"  # noqa: S608  # constant
        " AND o.status IN ('pending', 'accepted')",
        (request_id,),
    )
    return _offer(rows[0]) if rows else None


async def offers_for(reader: Reader, request_id: int) -> list[Offer]:
    rows = await fetch_all(
        reader,
        f"SELECT {_COLUMNS} FROM {_FROM} WHERE o.request_id = ? ORDER BY o.id",  # noqa: S608  # constant
        (request_id,),
    )
    return [_offer(row) for row in rows]


async def offers_of_team(
    reader: Reader, team_id: int, statuses: Sequence[OfferStatus]
) -> list[Offer]:
    marks = ", ".join("?" for _ in statuses)
    rows = await fetch_all(
        reader,
        f"SELECT {_COLUMNS} FROM {_FROM} WHERE o.team_id = ?"  # noqa: S608  # placeholders only
        f" AND o.status IN ({marks}) ORDER BY o.id",
        (team_id, *statuses),
    )
    return [_offer(row) for row in rows]


async def offered_teams(reader: Reader, request_id: int) -> dict[int, OfferStatus]:
    """Team id → its latest offer's status, for every team this request was offered to."""
    rows = await fetch_all(
        reader,
        "SELECT team_id, status FROM dispatch_offers WHERE request_id = ? ORDER BY id",
        (request_id,),
    )
    return {row["team_id"]: row["status"] for row in rows}


async def offered_teams_all(reader: Reader) -> dict[int, set[int]]:
    """Request id → the teams it was offered to, for every request with an offer."""
    found: dict[int, set[int]] = {}
    for row in await fetch_all(reader, "SELECT request_id, team_id FROM dispatch_offers", ()):
        found.setdefault(row["request_id"], set()).add(row["team_id"])
    return found


async def count_failed(reader: Reader, request_id: int) -> int:
    marks = ", ".join("?" for _ in FAILED)
    rows = await fetch_all(
        reader,
        f"SELECT COUNT(*) FROM dispatch_offers WHERE request_id = ? AND status IN ({marks})",  # noqa: S608  # placeholders only
        (request_id, *FAILED),
    )
    return int(rows[0][0])


async def due_offers(reader: Reader, now: datetime, limit: int = 100) -> list[Offer]:
    rows = await fetch_all(
        reader,
        f"SELECT {_COLUMNS} FROM {_FROM} WHERE o.status = 'pending' AND o.expires_at <= ?"  # noqa: S608  # constant
        " ORDER BY o.expires_at LIMIT ?",
        (utc_text(now), limit),
    )
    return [_offer(row) for row in rows]


async def pending_of_off_duty(reader: Reader) -> list[Offer]:
    """Offers still waiting for an answer from a team that has gone off duty."""
    rows = await fetch_all(
        reader,
        f"SELECT {_COLUMNS} FROM {_FROM} WHERE o.status = 'pending' AND t.on_duty = 0"  # noqa: S608  # constant
        " ORDER BY o.id",
        (),
    )
    return [_offer(row) for row in rows]


async def next_deadline(reader: Reader) -> datetime | None:
    rows = await fetch_all(
        reader, "SELECT min(expires_at) FROM dispatch_offers WHERE status = 'pending'", ()
    )
    return parse_time(rows[0][0]) if rows else None


async def set_status(
    conn: aiosqlite.Connection,
    offer_id: int,
    status: OfferStatus,
    *,
    at: datetime,
    via: str | None = None,
    by: str | None = None,
    expect: Sequence[OfferStatus],
) -> bool:
    """Move an offer on, only from one of `expect` (so two answers racing change it once)."""
    answered = status in ("accepted", "declined", "timed_out")
    ended = status in ("withdrawn", "done", "declined", "timed_out")
    marks = ", ".join("?" for _ in expect)
    async with conn.execute(
        "UPDATE dispatch_offers SET status = ?,"  # noqa: S608  # placeholders only
        " answered_at = CASE WHEN ? THEN ? ELSE answered_at END,"
        " answered_via = CASE WHEN ? THEN ? ELSE answered_via END,"
        " answered_by = CASE WHEN ? THEN ? ELSE answered_by END,"
        " ended_at = CASE WHEN ? THEN ? ELSE ended_at END"
        f" WHERE id = ? AND status IN ({marks})",
        (
            status,
            answered,
            utc_text(at),
            answered,
            via,
            answered,
            by,
            ended,
            utc_text(at),
            offer_id,
            *expect,
        ),
    ) as cursor:
        return cursor.rowcount == 1


# -- escalations ------------------------------------------------------------------------------


async def escalate(
    conn: aiosqlite.Connection, request_id: int, at: datetime, failed: int, reason: str
) -> bool:
    """Mark the request escalated; False when it already is (and not cleared)."""
    async with conn.execute(
        "INSERT INTO dispatch_escalations (request_id, escalated_at, failed_offers, reason)"
        " VALUES (?, ?, ?, ?) ON CONFLICT (request_id) DO UPDATE SET"
        " escalated_at = excluded.escalated_at, failed_offers = excluded.failed_offers,"
        " reason = excluded.reason, cleared_at = NULL, cleared_by = NULL"
        " WHERE dispatch_escalations.cleared_at IS NOT NULL",
        (request_id, utc_text(at), failed, reason),
    ) as cursor:
        return cursor.rowcount == 1


async def clear_escalation(
    conn: aiosqlite.Connection, request_id: int, at: datetime, by: str
) -> bool:
    async with conn.execute(
        "UPDATE dispatch_escalations SET cleared_at = ?, cleared_by = ?"
        " WHERE request_id = ? AND cleared_at IS NULL",
        (utc_text(at), by, request_id),
    ) as cursor:
        return cursor.rowcount == 1


async def open_escalations(reader: Reader) -> list[Escalation]:
    rows = await fetch_all(
        reader,
        "SELECT e.request_id, e.escalated_at, e.failed_offers, e.reason"  # noqa: S608  # constants
        " FROM dispatch_escalations e JOIN dispatch_requests r ON r.id = e.request_id"
        f" WHERE e.cleared_at IS NULL AND r.state IN ({OPEN_MARKS})"
        " ORDER BY e.escalated_at",
        (),
    )
    return [
        Escalation(r["request_id"], parse_utc(r["escalated_at"]), r["failed_offers"], r["reason"])
        for r in rows
    ]


async def is_escalated(reader: Reader, request_id: int) -> bool:
    rows = await fetch_all(
        reader,
        "SELECT 1 FROM dispatch_escalations WHERE request_id = ? AND cleared_at IS NULL",
        (request_id,),
    )
    return bool(rows)
