"""The append-only audit log: who changed what, when, with the state before and after."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiosqlite

from canhbao.clock import parse_utc, utc_text
from canhbao.db import Database, Migration
from canhbao.logs import request_id_var

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        domain="audit",
        version=1,
        name="audit_log",
        sql="""
        CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            entity TEXT NOT NULL,
            entity_id TEXT NOT NULL,
            "before" TEXT,
            "after" TEXT,
            request_id TEXT
        );
        CREATE INDEX audit_log_entity ON audit_log (entity, entity_id, id);
        CREATE INDEX audit_log_actor ON audit_log (actor, id);
        -- The log is evidence: SQLite itself refuses to rewrite or remove a row.
        CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN
            SELECT RAISE(ABORT, 'audit_log is append-only');
        END;
        CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN
            SELECT RAISE(ABORT, 'audit_log is append-only');
        END;
        """,
    ),
)

# Keys that must never reach the log, at any depth: the log is read by every admin and copied
# into backups, so a secret written here would outlive its rotation.
SECRET_KEYS = frozenset(
    {"password", "password_hash", "secret", "secret_hash", "session_id", "csrf_token"}
)


_COLUMNS = 'id, at, actor, action, entity, entity_id, "before", "after", request_id'


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": utc_text(self.at),
            "actor": self.actor,
            "action": self.action,
            "entity": self.entity,
            "entity_id": self.entity_id,
            "before": self.before,
            "after": self.after,
            "request_id": self.request_id,
        }


async def record_audit(
    conn: aiosqlite.Connection,
    *,
    at: datetime,
    actor: str,
    action: str,
    entity: str,
    entity_id: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    request_id: str | None = None,
) -> None:
    """Append one row inside the caller's write transaction, so it commits with the change.

    `request_id` defaults to the id of the HTTP request being served, if any.
    """
    _refuse_secrets([before, after], action)
    await conn.execute(
        'INSERT INTO audit_log (at, actor, action, entity, entity_id, "before", "after",'
        " request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            utc_text(at),
            actor,
            action,
            entity,
            entity_id,
            _dump(before),
            _dump(after),
            request_id if request_id is not None else request_id_var.get(),
        ),
    )


async def list_audit(
    db: Database,
    *,
    entity: str | None = None,
    entity_id: str | None = None,
    actor: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[AuditEntry]:
    """Newest first; page by passing the last entry's id as `before_id` (stable while appending)."""
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (
        ("entity", entity),
        ("entity_id", entity_id),
        ("actor", actor),
    ):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if before_id is not None:
        clauses.append("id < ?")
        params.append(before_id)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = await db.fetch_all(
        f"SELECT {_COLUMNS} FROM audit_log {where} ORDER BY id DESC LIMIT ?",  # noqa: S608  # only fixed clauses are formatted in; values are bound
        [*params, limit],
    )
    return [
        AuditEntry(
            id=row["id"],
            at=parse_utc(row["at"]),
            actor=row["actor"],
            action=row["action"],
            entity=row["entity"],
            entity_id=row["entity_id"],
            before=json.loads(row["before"]) if row["before"] is not None else None,
            after=json.loads(row["after"]) if row["after"] is not None else None,
            request_id=row["request_id"],
        )
        for row in rows
    ]


def _refuse_secrets(state: object, action: str) -> None:
    if isinstance(state, Mapping):
        for key, value in state.items():
            if key in SECRET_KEYS:
                raise ValueError(f"audit {action}: refusing to log secret field {key!r}")
            _refuse_secrets(value, action)
    elif isinstance(state, list | tuple):
        for item in state:
            _refuse_secrets(item, action)


def _dump(state: Mapping[str, Any] | None) -> str | None:
    if state is None:
        return None
    return json.dumps(state, ensure_ascii=False, sort_keys=True, default=_json_default)


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return utc_text(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"cannot store {type(value).__name__} in the audit log")
