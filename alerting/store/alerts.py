"""Alerts and their workflow state, their wards, auto-draft dedupe, fan-out progress."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

import aiosqlite

from alerting.json_form import alert_from_dict, alert_to_dict
from alerting.models import Alert
from canhbao.clock import parse_utc, utc_text
from canhbao.db import Database

State = Literal["draft", "submitted", "approved", "issued", "expired", "superseded", "withdrawn"]
# Still in the workflow: not yet issued, and neither withdrawn nor superseded.
UNISSUED: tuple[State, ...] = ("draft", "submitted", "approved")
STATES: tuple[State, ...] = get_args(State)
Origin = Literal["staff", "auto", "import"]


@dataclass(frozen=True)
class StoredAlert:
    id: int
    identifier: str
    state: State
    alert: Alert
    chain: str
    hazard: str | None
    origin: Origin
    author: str
    submitted_by: str | None
    approved_by: str | None
    issued_by: str | None
    comment: str
    superseded_by: str | None
    plan: dict[str, Any] | None
    version: int
    created_at: datetime
    updated_at: datetime
    # Everyone who wrote or changed its content, the author first (none of them may approve).
    editors: tuple[str, ...] = ()
    withdrawn_reason: str | None = None

    def summary(self) -> dict[str, Any]:
        """Workflow fields, JSON-ready (for the staff API and the audit log)."""
        return {
            "identifier": self.identifier,
            "state": self.state,
            "msgType": self.alert.msg_type,
            "status": self.alert.status,
            "chain": self.chain,
            "hazard": self.hazard,
            "origin": self.origin,
            "author": self.author,
            "editors": list(self.editors),
            "submitted_by": self.submitted_by,
            "approved_by": self.approved_by,
            "issued_by": self.issued_by,
            "comment": self.comment,
            "superseded_by": self.superseded_by,
            "withdrawn_reason": self.withdrawn_reason,
            "version": self.version,
        }


_COLUMNS = (
    "id, identifier, state, chain, hazard, origin, document, author, submitted_by,"
    " approved_by, issued_by, comment, superseded_by, plan, version, created_at, updated_at,"
    " editors, withdrawn_reason"
)


def _row(row: Any) -> StoredAlert:
    return StoredAlert(
        id=row[0],
        identifier=row[1],
        state=row[2],
        chain=row[3],
        hazard=row[4],
        origin=row[5],
        alert=alert_from_dict(json.loads(row[6])),
        author=row[7],
        submitted_by=row[8],
        approved_by=row[9],
        issued_by=row[10],
        comment=row[11],
        superseded_by=row[12],
        plan=json.loads(row[13]) if row[13] else None,
        version=row[14],
        created_at=parse_utc(row[15]),
        updated_at=parse_utc(row[16]),
        editors=tuple(json.loads(row[17])),
        withdrawn_reason=row[18],
    )


def _dump(alert: Alert) -> str:
    return json.dumps(alert_to_dict(alert), ensure_ascii=False, separators=(",", ":"))


async def next_sequence(conn: aiosqlite.Connection, stem: str) -> int:
    """1 + the identifiers already made in the same second (inside the write transaction)."""
    async with conn.execute(
        "SELECT COUNT(*) FROM alerting_alerts WHERE identifier >= ? AND identifier < ?",
        (f"{stem}.", f"{stem}/"),  # '/' sorts right after '.': every "<stem>.<n>"
    ) as cursor:
        row = await cursor.fetchone()
    return int(row[0] if row else 0) + 1


async def insert_alert(
    conn: aiosqlite.Connection,
    alert: Alert,
    *,
    chain: str,
    hazard: str | None,
    origin: Origin,
    author: str,
    now: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO alerting_alerts (identifier, state, msg_type, status, chain, hazard, origin,"
        " document, author, editors, created_at, updated_at)"
        " VALUES (?, 'draft', ?, ?, ?, ?, ?, ?, ?, json_array(?), ?, ?)",
        (
            alert.identifier,
            alert.msg_type,
            alert.status,
            chain,
            hazard,
            origin,
            _dump(alert),
            author,
            author,
            utc_text(now),
            utc_text(now),
        ),
    )


async def get_alert(conn: aiosqlite.Connection, identifier: str) -> StoredAlert | None:
    async with conn.execute(
        f"SELECT {_COLUMNS} FROM alerting_alerts WHERE identifier = ?",  # noqa: S608  # fixed column list
        (identifier,),
    ) as cursor:
        row = await cursor.fetchone()
    return _row(row) if row else None


async def update_alert(
    conn: aiosqlite.Connection, identifier: str, now: datetime, **changes: Any
) -> None:
    """Set columns (names fixed by callers in this package) and bump the version."""
    if "document" in changes and isinstance(changes["document"], Alert):
        changes["document"] = _dump(changes["document"])
    if isinstance(changes.get("editors"), tuple):
        changes["editors"] = json.dumps(list(changes["editors"]), ensure_ascii=False)
    for key in ("sent", "expires"):
        if isinstance(changes.get(key), datetime):
            changes[key] = utc_text(changes[key])
    assignments = ", ".join(f"{name} = ?" for name in changes)
    await conn.execute(
        f"UPDATE alerting_alerts SET {assignments}, version = version + 1, updated_at = ?"  # noqa: S608  # column names come from this package, values are bound
        " WHERE identifier = ?",
        (*changes.values(), utc_text(now), identifier),
    )


async def set_wards(conn: aiosqlite.Connection, identifier: str, codes: Sequence[str]) -> None:
    await conn.executemany(
        "INSERT OR IGNORE INTO alerting_alert_wards (code, identifier) VALUES (?, ?)",
        [(code, identifier) for code in codes],
    )


async def list_alerts(
    db: Database, states: Sequence[str], limit: int = 100, hazard: str | None = None
) -> list[StoredAlert]:
    marks = ", ".join("?" for _ in states)
    where = f"state IN ({marks})"
    params: list[Any] = list(states)
    if hazard is not None:
        where += " AND hazard = ?"
        params.append(hazard)
    rows = await db.fetch_all(
        f"SELECT {_COLUMNS} FROM alerting_alerts WHERE {where} ORDER BY id DESC LIMIT ?",  # noqa: S608  # placeholders only
        [*params, limit],
    )
    return [_row(row) for row in rows]


async def live_for_hazard(conn: aiosqlite.Connection, hazard: str) -> list[StoredAlert]:
    """Messages about this hazard that are issued (in force) or still in the workflow."""
    async with conn.execute(
        f"SELECT {_COLUMNS} FROM alerting_alerts WHERE hazard = ?"  # noqa: S608  # fixed column list
        " AND state IN ('draft', 'submitted', 'approved', 'issued') ORDER BY id",
        (hazard,),
    ) as cursor:
        return [_row(row) for row in await cursor.fetchall()]


async def issued(db: Database, limit: int) -> list[StoredAlert]:
    """Issued alerts the public may see: Test and Exercise alerts are for the test audience."""
    rows = await db.fetch_all(
        f"SELECT {_COLUMNS} FROM alerting_alerts WHERE state = 'issued'"  # noqa: S608  # fixed column list
        " AND status NOT IN ('Test', 'Exercise') ORDER BY sent DESC LIMIT ?",
        (limit,),
    )
    return [_row(row) for row in rows]


async def issued_in_ward(db: Database, code: str) -> list[StoredAlert]:
    rows = await db.fetch_all(
        f"SELECT {', '.join('a.' + c.strip() for c in _COLUMNS.split(','))}"  # noqa: S608  # fixed column list
        " FROM alerting_alerts AS a JOIN alerting_alert_wards AS w"
        " ON w.identifier = a.identifier WHERE w.code = ? AND a.state = 'issued'"
        " AND a.status NOT IN ('Test', 'Exercise') ORDER BY a.sent DESC",
        (code,),
    )
    return [_row(row) for row in rows]


async def due_for_expiry(conn: aiosqlite.Connection, now: datetime) -> list[StoredAlert]:
    async with conn.execute(
        f"SELECT {_COLUMNS} FROM alerting_alerts WHERE state = 'issued' AND expires <= ?"  # noqa: S608  # fixed column list
        " ORDER BY expires",
        (utc_text(now),),
    ) as cursor:
        return [_row(row) for row in await cursor.fetchall()]


async def published(db: Database, identifier: str) -> tuple[bytes, datetime] | None:
    """The frozen CAP document of a message that was issued, and when it last changed."""
    row = await db.fetch_one(
        "SELECT xml, sent FROM alerting_alerts WHERE identifier = ? AND xml IS NOT NULL",
        (identifier,),
    )
    return (bytes(row["xml"]), parse_utc(row["sent"])) if row else None


async def feed_updated(db: Database) -> datetime | None:
    """When the set of alerts in force last changed (issue, update, cancel, expiry)."""
    row = await db.fetch_one(
        "SELECT MAX(updated_at) AS at FROM alerting_alerts"
        " WHERE state IN ('issued', 'expired', 'superseded')"
    )
    return parse_utc(row["at"]) if row and row["at"] else None


async def public_version(db: Database) -> tuple[str | None, int]:
    """Changes whenever a message is issued, replaced or expires: the latest such change and
    how many messages were ever issued (two issued in the same instant still differ)."""
    row = await db.fetch_one(
        "SELECT MAX(updated_at), COUNT(*) FROM alerting_alerts"
        " WHERE state IN ('issued', 'expired', 'superseded')"
    )
    return (row[0], int(row[1])) if row else (None, 0)


async def claim_event(conn: aiosqlite.Connection, key: str, now: datetime) -> bool:
    """Record a threshold event; False when it was seen before."""
    try:
        await conn.execute(
            "INSERT INTO alerting_auto_events (event_key, created_at) VALUES (?, ?)",
            (key, utc_text(now)),
        )
    except sqlite3.IntegrityError:
        return False
    return True


async def note_event_draft(conn: aiosqlite.Connection, key: str, identifier: str) -> None:
    await conn.execute(
        "UPDATE alerting_auto_events SET identifier = ? WHERE event_key = ?", (identifier, key)
    )


async def chain_start(conn: aiosqlite.Connection, chain: str) -> str | None:
    """The key of the threshold event that drafted a chain's first message (None when staff
    started it)."""
    async with conn.execute(
        "SELECT event_key FROM alerting_auto_events WHERE identifier = ? ORDER BY rowid LIMIT 1",
        (chain,),
    ) as cursor:
        row = await cursor.fetchone()
    return str(row[0]) if row else None


async def pending_in_chain(conn: aiosqlite.Connection, chain: str) -> list[str]:
    """Identifiers of this chain's messages still in the workflow (not yet issued)."""
    async with conn.execute(
        "SELECT identifier FROM alerting_alerts WHERE chain = ?"
        " AND state IN ('draft', 'submitted', 'approved') ORDER BY id",
        (chain,),
    ) as cursor:
        return [row[0] for row in await cursor.fetchall()]


@dataclass(frozen=True)
class Fanout:
    """An issued alert's fan-out: its frozen targets and how far their enqueueing has got."""

    identifier: str
    chain: str
    device_ids: bytes
    contact_ids: bytes
    devices_done: int
    contacts_done: int
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None

    def progress(self) -> dict[str, Any]:
        return {
            "devices": len(self.device_ids) // 8,
            "devices_enqueued": self.devices_done,
            "contacts": len(self.contact_ids) // 8,
            "contacts_enqueued": self.contacts_done,
            "started_at": utc_text(self.started_at),
            "finished_at": utc_text(self.finished_at) if self.finished_at else None,
            "outcome": self.outcome,
        }


_FANOUT_COLUMNS = (
    "identifier, chain, device_ids, contact_ids, devices_done, contacts_done, started_at,"
    " finished_at, outcome"
)


def _fanout(row: Any) -> Fanout:
    return Fanout(
        identifier=row[0],
        chain=row[1],
        device_ids=bytes(row[2]),
        contact_ids=bytes(row[3]),
        devices_done=row[4],
        contacts_done=row[5],
        started_at=parse_utc(row[6]),
        finished_at=parse_utc(row[7]) if row[7] else None,
        outcome=row[8],
    )


async def insert_fanout(conn: aiosqlite.Connection, fanout: Fanout) -> None:
    await conn.execute(
        f"INSERT INTO alerting_fanout ({_FANOUT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608  # fixed column list
        (
            fanout.identifier,
            fanout.chain,
            fanout.device_ids,
            fanout.contact_ids,
            fanout.devices_done,
            fanout.contacts_done,
            utc_text(fanout.started_at),
            utc_text(fanout.finished_at) if fanout.finished_at else None,
            fanout.outcome,
        ),
    )


async def pending_fanouts(conn: aiosqlite.Connection) -> list[str]:
    """Identifiers of fan-outs still enqueueing, oldest first (read through the writer, so a
    fan-out committed a moment ago is seen)."""
    async with conn.execute(
        "SELECT identifier FROM alerting_fanout WHERE finished_at IS NULL ORDER BY started_at"
    ) as cursor:
        return [row[0] for row in await cursor.fetchall()]


async def get_fanout(db: Database, identifier: str) -> Fanout | None:
    row = await db.fetch_one(
        f"SELECT {_FANOUT_COLUMNS} FROM alerting_fanout WHERE identifier = ?",  # noqa: S608  # fixed column list
        (identifier,),
    )
    return _fanout(row) if row else None


async def fanout_progress(
    db: Database, identifier: str
) -> tuple[int, int, datetime | None, str | None] | None:
    """(devices_done, contacts_done, finished_at, outcome): a fan-out's progress alone, without
    its frozen targets (which never change: a runner keeps them)."""
    row = await db.fetch_one(
        "SELECT devices_done, contacts_done, finished_at, outcome FROM alerting_fanout"
        " WHERE identifier = ?",
        (identifier,),
    )
    if row is None:
        return None
    return row[0], row[1], parse_utc(row[2]) if row[2] else None, row[3]


async def alert_version(conn: aiosqlite.Connection, identifier: str) -> tuple[State, int] | None:
    """(state, version) of an alert: whether a copy read earlier is still its current one."""
    async with conn.execute(
        "SELECT state, version FROM alerting_alerts WHERE identifier = ?", (identifier,)
    ) as cursor:
        row = await cursor.fetchone()
    return (row[0], row[1]) if row else None


async def advance_fanout(
    conn: aiosqlite.Connection,
    fanout: Fanout,
    devices_done: int,
    contacts_done: int,
    finished_at: datetime | None,
    outcome: str | None,
) -> bool:
    """Move the fan-out on from where `fanout` says it was; False if it was not there any more
    (another task advanced it first), so the caller's batch must not be enqueued."""
    async with conn.execute(
        "UPDATE alerting_fanout SET devices_done = ?, contacts_done = ?, finished_at = ?,"
        " outcome = ? WHERE identifier = ? AND devices_done = ? AND contacts_done = ?"
        " AND finished_at IS NULL",
        (
            devices_done,
            contacts_done,
            utc_text(finished_at) if finished_at else None,
            outcome,
            fanout.identifier,
            fanout.devices_done,
            fanout.contacts_done,
        ),
    ) as cursor:
        return cursor.rowcount == 1


async def stop_fanout(
    conn: aiosqlite.Connection, identifier: str, now: datetime, outcome: str
) -> bool:
    """End a fan-out still enqueueing (its alert was superseded); False if it had ended."""
    async with conn.execute(
        "UPDATE alerting_fanout SET finished_at = ?, outcome = ?"
        " WHERE identifier = ? AND finished_at IS NULL",
        (utc_text(now), outcome, identifier),
    ) as cursor:
        return cursor.rowcount == 1


async def fanout_backlog(db: Database) -> tuple[int, int]:
    """(fan-outs still enqueueing, devices and contacts they have left to enqueue)."""
    row = await db.fetch_one(
        "SELECT COUNT(*) AS n, COALESCE(SUM(length(device_ids) / 8 - devices_done"
        " + length(contact_ids) / 8 - contacts_done), 0) AS left FROM alerting_fanout"
        " WHERE finished_at IS NULL"
    )
    return (row["n"], row["left"]) if row else (0, 0)


# -- the after-action report ----------------------------------------------------------------


@dataclass(frozen=True)
class AlertTimes:
    """An alert with when it was approved and issued (the audit log's last such transition)
    and the threshold events it was drafted or rewritten for, with when (alerting_auto_events:
    the key is claimed in the transaction that writes the draft)."""

    stored: StoredAlert
    approved_at: datetime | None
    issued_at: datetime | None
    event_keys: tuple[tuple[str, datetime], ...]


async def alert_times(db: Database, since: datetime, until: datetime) -> list[AlertTimes]:
    """Alerts created or issued in [since, until], oldest first, with their approval and issue
    times: the after-action report's warning figures."""
    columns = ", ".join(f"a.{c.strip()}" for c in _COLUMNS.split(","))
    rows = await db.fetch_all(
        f"SELECT {columns},"  # noqa: S608  # constant columns; values bound
        " (SELECT max(l.at) FROM audit_log l WHERE l.entity = 'alert'"
        "  AND l.entity_id = a.identifier AND l.action = 'alert.approve'),"
        " (SELECT max(l.at) FROM audit_log l WHERE l.entity = 'alert'"
        "  AND l.entity_id = a.identifier AND l.action IN ('alert.issue', 'alert.auto_issue')),"
        " (SELECT group_concat(e.event_key || char(9) || e.created_at, char(10))"
        "  FROM alerting_auto_events e"
        "  WHERE e.identifier = a.identifier), a.sent"
        " FROM alerting_alerts a WHERE a.origin != 'import'"
        " AND ((a.created_at >= ? AND a.created_at <= ?) OR (a.sent >= ? AND a.sent <= ?))"
        " ORDER BY a.created_at, a.id",
        (utc_text(since), utc_text(until)) * 2,
    )
    return [
        AlertTimes(
            _row(row),
            parse_utc(row[19]) if row[19] else None,
            # An alert issued without the audit line (none today) still has its CAP sent time.
            parse_utc(row[20]) if row[20] else (parse_utc(row[22]) if row[22] else None),
            tuple(
                (key, parse_utc(at))
                for key, at in (line.split("\t") for line in (row[21] or "").split("\n") if line)
            ),
        )
        for row in rows
    ]
