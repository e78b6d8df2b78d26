"""The alerting domain's SQL: alerts and their workflow state, auto-draft dedupe, imports."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

import aiosqlite

from alerting.models import Alert, alert_from_dict, alert_to_dict
from canhbao.clock import parse_utc, utc_text
from canhbao.db import Database, Migration

State = Literal["draft", "submitted", "approved", "issued", "expired", "superseded", "withdrawn"]
# Still in the workflow: not yet issued, and neither withdrawn nor superseded.
UNISSUED: tuple[State, ...] = ("draft", "submitted", "approved")
STATES: tuple[State, ...] = get_args(State)
Origin = Literal["staff", "auto", "import"]

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "alerting",
        1,
        "alerts, wards, auto-draft events, imports",
        """
        CREATE TABLE alerting_alerts (
            id INTEGER PRIMARY KEY,
            identifier TEXT NOT NULL UNIQUE,
            state TEXT NOT NULL CHECK (state IN
                ('draft', 'submitted', 'approved', 'issued', 'expired', 'superseded')),
            msg_type TEXT NOT NULL,
            status TEXT NOT NULL,
            -- The identifier of the chain's first message: Updates and Cancels share it
            -- (the FCM collapse key and notification tag).
            chain TEXT NOT NULL,
            -- What an auto-draft is about ("river:71518"); one live chain per hazard.
            hazard TEXT,
            origin TEXT NOT NULL CHECK (origin IN ('staff', 'auto', 'import')),
            -- The CAP alert as JSON (models.alert_to_dict); frozen once issued.
            document TEXT NOT NULL,
            author TEXT NOT NULL,
            submitted_by TEXT,
            approved_by TEXT,
            issued_by TEXT,
            comment TEXT NOT NULL DEFAULT '',
            -- UTC; set at issue. expires drives the expiry job, so it survives restarts.
            sent TEXT,
            expires TEXT,
            superseded_by TEXT,
            -- The CAP document as published, and the targeting plan frozen at issue.
            xml BLOB,
            plan TEXT,
            version INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX alerting_alerts_due ON alerting_alerts (expires) WHERE state = 'issued';
        CREATE INDEX alerting_alerts_state ON alerting_alerts (state, updated_at);
        CREATE INDEX alerting_alerts_hazard ON alerting_alerts (hazard, state);
        CREATE INDEX alerting_alerts_chain ON alerting_alerts (chain);

        -- Ward codes an issued alert covers, for "alerts in force in this area".
        CREATE TABLE alerting_alert_wards (
            code TEXT NOT NULL,
            identifier TEXT NOT NULL REFERENCES alerting_alerts (identifier),
            PRIMARY KEY (code, identifier)
        ) WITHOUT ROWID;

        -- Threshold events already turned into drafts: a repeated event changes nothing.
        CREATE TABLE alerting_auto_events (
            event_key TEXT PRIMARY KEY,
            identifier TEXT,
            created_at TEXT NOT NULL
        );

        -- CAP messages read from upstream systems; (sender, identifier, sent) is unique.
        CREATE TABLE alerting_imports (
            id INTEGER PRIMARY KEY,
            sender TEXT NOT NULL,
            identifier TEXT NOT NULL,
            sent TEXT NOT NULL,
            msg_type TEXT NOT NULL,
            status TEXT NOT NULL,
            source_url TEXT NOT NULL,
            document TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'active'
                CHECK (state IN ('active', 'updated', 'cancelled', 'expired')),
            expires TEXT,
            reissued_as TEXT,
            imported_at TEXT NOT NULL,
            UNIQUE (sender, identifier, sent)
        );
        CREATE INDEX alerting_imports_ref ON alerting_imports (sender, identifier);
        """,
    ),
    Migration(
        "alerting",
        2,
        "fan-out progress: the targeting frozen at issue, enqueued in resumable batches",
        """
        CREATE TABLE alerting_fanout (
            identifier TEXT PRIMARY KEY REFERENCES alerting_alerts (identifier),
            chain TEXT NOT NULL,
            -- Device and contact ids as little-endian int64: who the issued alert targets.
            device_ids BLOB NOT NULL,
            contact_ids BLOB NOT NULL,
            -- How many of each are in the outbox; a batch and its advance commit together.
            devices_done INTEGER NOT NULL,
            contacts_done INTEGER NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            outcome TEXT CHECK (outcome IN ('complete', 'superseded', 'expired'))
        );
        CREATE INDEX alerting_fanout_pending ON alerting_fanout (started_at)
            WHERE finished_at IS NULL;
        """,
    ),
    Migration(
        "alerting",
        3,
        "everyone who changed an alert's content (excluded from approving it)",
        """
        -- A JSON array of actors, the author first; a draft written before this knew only its
        -- author (earlier editors are in the audit log).
        ALTER TABLE alerting_alerts ADD COLUMN editors TEXT NOT NULL DEFAULT '[]';
        UPDATE alerting_alerts SET editors = json_array(author);
        """,
    ),
    Migration(
        "alerting",
        4,
        "a draft whose hazard passed before it was issued is withdrawn, with its reason",
        """
        -- SQLite cannot change a CHECK: the table is rebuilt, and with it the two tables that
        -- reference it (their rows kept aside meanwhile, so dropping it breaks no foreign key).
        CREATE TABLE alerting_alerts_v4 (
            id INTEGER PRIMARY KEY,
            identifier TEXT NOT NULL UNIQUE,
            state TEXT NOT NULL CHECK (state IN ('draft', 'submitted', 'approved', 'issued',
                'expired', 'superseded', 'withdrawn')),
            msg_type TEXT NOT NULL,
            status TEXT NOT NULL,
            chain TEXT NOT NULL,
            hazard TEXT,
            origin TEXT NOT NULL CHECK (origin IN ('staff', 'auto', 'import')),
            document TEXT NOT NULL,
            author TEXT NOT NULL,
            submitted_by TEXT,
            approved_by TEXT,
            issued_by TEXT,
            comment TEXT NOT NULL DEFAULT '',
            sent TEXT,
            expires TEXT,
            superseded_by TEXT,
            xml BLOB,
            plan TEXT,
            version INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            editors TEXT NOT NULL DEFAULT '[]',
            -- Why it was withdrawn (state 'withdrawn'), as staff see it.
            withdrawn_reason TEXT
        );
        INSERT INTO alerting_alerts_v4 (id, identifier, state, msg_type, status, chain, hazard,
            origin, document, author, submitted_by, approved_by, issued_by, comment, sent,
            expires, superseded_by, xml, plan, version, created_at, updated_at, editors)
        SELECT id, identifier, state, msg_type, status, chain, hazard, origin, document, author,
            submitted_by, approved_by, issued_by, comment, sent, expires, superseded_by, xml,
            plan, version, created_at, updated_at, editors FROM alerting_alerts;
        CREATE TABLE alerting_alert_wards_v3 AS SELECT * FROM alerting_alert_wards;
        CREATE TABLE alerting_fanout_v3 AS SELECT * FROM alerting_fanout;
        DROP TABLE alerting_alert_wards;
        DROP TABLE alerting_fanout;
        DROP TABLE alerting_alerts;
        ALTER TABLE alerting_alerts_v4 RENAME TO alerting_alerts;
        CREATE INDEX alerting_alerts_due ON alerting_alerts (expires) WHERE state = 'issued';
        CREATE INDEX alerting_alerts_state ON alerting_alerts (state, updated_at);
        CREATE INDEX alerting_alerts_hazard ON alerting_alerts (hazard, state);
        CREATE INDEX alerting_alerts_chain ON alerting_alerts (chain);
        CREATE TABLE alerting_alert_wards (
            code TEXT NOT NULL,
            identifier TEXT NOT NULL REFERENCES alerting_alerts (identifier),
            PRIMARY KEY (code, identifier)
        ) WITHOUT ROWID;
        INSERT INTO alerting_alert_wards SELECT code, identifier FROM alerting_alert_wards_v3;
        CREATE TABLE alerting_fanout (
            identifier TEXT PRIMARY KEY REFERENCES alerting_alerts (identifier),
            chain TEXT NOT NULL,
            device_ids BLOB NOT NULL,
            contact_ids BLOB NOT NULL,
            devices_done INTEGER NOT NULL,
            contacts_done INTEGER NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            outcome TEXT CHECK (outcome IN ('complete', 'superseded', 'expired'))
        );
        CREATE INDEX alerting_fanout_pending ON alerting_fanout (started_at)
            WHERE finished_at IS NULL;
        INSERT INTO alerting_fanout SELECT identifier, chain, device_ids, contact_ids,
            devices_done, contacts_done, started_at, finished_at, outcome
            FROM alerting_fanout_v3;
        DROP TABLE alerting_alert_wards_v3;
        DROP TABLE alerting_fanout_v3;
        """,
    ),
    Migration(
        "alerting",
        5,
        "the test audience: the only devices and phones a Test alert reaches",
        """
        CREATE TABLE alerting_test_audience (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('device', 'phone')),
            -- A test device's FCM registration token, or a phone number in E.164.
            address TEXT NOT NULL,
            language TEXT NOT NULL DEFAULT 'vi' CHECK (language IN ('vi', 'en')),
            label TEXT NOT NULL DEFAULT '',
            enrolled_by TEXT NOT NULL,
            enrolled_at TEXT NOT NULL,
            UNIQUE (kind, address)
        );
        """,
    ),
)


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


# -- imports: CAP messages read from upstream systems ------------------------------------------

ImportState = Literal["active", "updated", "cancelled", "expired"]
IMPORT_STATES: tuple[ImportState, ...] = get_args(ImportState)


@dataclass(frozen=True)
class StoredImport:
    id: int
    sender: str
    identifier: str
    sent: datetime
    msg_type: str
    status: str
    source_url: str
    document: str  # the CAP XML as received (re-serialised as UTF-8 text)
    state: ImportState
    expires: datetime | None
    reissued_as: str | None
    imported_at: datetime


_IMPORT_COLUMNS = (
    "id, sender, identifier, sent, msg_type, status, source_url, document, state, expires,"
    " reissued_as, imported_at"
)


def _import_row(row: Any) -> StoredImport:
    return StoredImport(
        id=row[0],
        sender=row[1],
        identifier=row[2],
        sent=parse_utc(row[3]),
        msg_type=row[4],
        status=row[5],
        source_url=row[6],
        document=row[7],
        state=row[8],
        expires=parse_utc(row[9]) if row[9] else None,
        reissued_as=row[10],
        imported_at=parse_utc(row[11]),
    )


async def import_by_key(
    conn: aiosqlite.Connection, sender: str, identifier: str, sent: datetime
) -> StoredImport | None:
    """The import CAP names by sender,identifier,sent (sent compared as an instant)."""
    async with conn.execute(
        f"SELECT {_IMPORT_COLUMNS} FROM alerting_imports"  # noqa: S608  # fixed column list
        " WHERE sender = ? AND identifier = ? AND sent = ?",
        (sender, identifier, utc_text(sent)),
    ) as cursor:
        row = await cursor.fetchone()
    return _import_row(row) if row else None


async def insert_import(
    conn: aiosqlite.Connection,
    *,
    sender: str,
    identifier: str,
    sent: datetime,
    msg_type: str,
    status: str,
    source_url: str,
    document: str,
    state: ImportState,
    expires: datetime | None,
    now: datetime,
) -> int:
    async with conn.execute(
        "INSERT INTO alerting_imports (sender, identifier, sent, msg_type, status, source_url,"
        " document, state, expires, imported_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            sender,
            identifier,
            utc_text(sent),
            msg_type,
            status,
            source_url,
            document,
            state,
            utc_text(expires) if expires else None,
            utc_text(now),
        ),
    ) as cursor:
        return int(cursor.lastrowid or 0)


async def set_import_state(conn: aiosqlite.Connection, import_id: int, state: ImportState) -> None:
    await conn.execute("UPDATE alerting_imports SET state = ? WHERE id = ?", (state, import_id))


async def set_import_reissued(conn: aiosqlite.Connection, import_id: int, identifier: str) -> None:
    await conn.execute(
        "UPDATE alerting_imports SET reissued_as = ? WHERE id = ?", (identifier, import_id)
    )


async def later_mentions(
    conn: aiosqlite.Connection, identifier: str, sent: datetime
) -> list[StoredImport]:
    """Updates and Cancels sent after `sent` whose document mentions `identifier`: those that
    may reference a message that arrived after them (the caller checks their references)."""
    async with conn.execute(
        f"SELECT {_IMPORT_COLUMNS} FROM alerting_imports"  # noqa: S608  # fixed column list
        " WHERE msg_type IN ('Update', 'Cancel') AND sent > ? AND instr(document, ?) > 0"
        " ORDER BY sent",
        (utc_text(sent), identifier),
    ) as cursor:
        return [_import_row(row) for row in await cursor.fetchall()]


async def expire_imports(conn: aiosqlite.Connection, now: datetime) -> list[StoredImport]:
    """Mark active imports whose time is up as expired; returns them."""
    async with conn.execute(
        f"SELECT {_IMPORT_COLUMNS} FROM alerting_imports"  # noqa: S608  # fixed column list
        " WHERE state = 'active' AND expires <= ? ORDER BY expires",
        (utc_text(now),),
    ) as cursor:
        due = [_import_row(row) for row in await cursor.fetchall()]
    await conn.executemany(
        "UPDATE alerting_imports SET state = 'expired' WHERE id = ?", [(i.id,) for i in due]
    )
    return due


async def get_import(conn: aiosqlite.Connection, import_id: int) -> StoredImport | None:
    async with conn.execute(
        f"SELECT {_IMPORT_COLUMNS} FROM alerting_imports WHERE id = ?",  # noqa: S608  # fixed column list
        (import_id,),
    ) as cursor:
        row = await cursor.fetchone()
    return _import_row(row) if row else None


async def list_imports(
    db: Database, states: Sequence[str], limit: int, before_id: int | None = None
) -> list[StoredImport]:
    """Imports in these states, newest first; `before_id` pages on by id."""
    marks = ", ".join("?" for _ in states)
    params: list[Any] = list(states)
    where = f"state IN ({marks})"
    if before_id is not None:
        where += " AND id < ?"
        params.append(before_id)
    rows = await db.fetch_all(
        f"SELECT {_IMPORT_COLUMNS} FROM alerting_imports WHERE {where}"  # noqa: S608  # placeholders only
        " ORDER BY id DESC LIMIT ?",
        [*params, limit],
    )
    return [_import_row(row) for row in rows]


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


# -- the test audience ------------------------------------------------------------------------


@dataclass(frozen=True)
class TestMember:
    """An enrolled test device (by its FCM token) or phone: all a Test alert reaches."""

    __test__ = False  # not a pytest class, whatever its name

    id: int
    kind: Literal["device", "phone"]
    address: str
    language: str
    label: str
    enrolled_by: str
    enrolled_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "address": self.address,
            "language": self.language,
            "label": self.label,
            "enrolled_by": self.enrolled_by,
            "enrolled_at": utc_text(self.enrolled_at),
        }


_MEMBER_COLUMNS = "id, kind, address, language, label, enrolled_by, enrolled_at"


def _member(row: Any) -> TestMember:
    return TestMember(row[0], row[1], row[2], row[3], row[4], row[5], parse_utc(row[6]))


async def test_audience(db: Database) -> list[TestMember]:
    rows = await db.fetch_all(
        f"SELECT {_MEMBER_COLUMNS} FROM alerting_test_audience ORDER BY id"  # noqa: S608  # fixed column list
    )
    return [_member(row) for row in rows]


async def add_test_member(
    conn: aiosqlite.Connection,
    kind: str,
    address: str,
    language: str,
    label: str,
    actor: str,
    now: datetime,
) -> TestMember | None:
    """The new member, or None when that device or phone is enrolled already."""
    try:
        async with conn.execute(
            "INSERT INTO alerting_test_audience (kind, address, language, label, enrolled_by,"
            " enrolled_at) VALUES (?, ?, ?, ?, ?, ?)",
            (kind, address, language, label, actor, utc_text(now)),
        ) as cursor:
            member_id = int(cursor.lastrowid or 0)
    except sqlite3.IntegrityError:
        return None
    return await get_test_member(conn, member_id)


async def get_test_member(conn: aiosqlite.Connection, member_id: int) -> TestMember | None:
    async with conn.execute(
        f"SELECT {_MEMBER_COLUMNS} FROM alerting_test_audience WHERE id = ?",  # noqa: S608  # fixed column list
        (member_id,),
    ) as cursor:
        row = await cursor.fetchone()
    return _member(row) if row else None


async def remove_test_member(conn: aiosqlite.Connection, member_id: int) -> None:
    await conn.execute("DELETE FROM alerting_test_audience WHERE id = ?", (member_id,))
