"""The imported alerts: what the sources bring, kept for staff, and re-issued as our drafts.

Deduplicated on (sender, identifier, sent); Update and Cancel applied to the messages they
reference (also when they arrive first); expired and non-Actual messages skipped unless
configured. A re-issue is our own draft, which needs the usual two-person approval before
anyone is warned.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

import aiosqlite

from alerting import store
from alerting.cap import parse_cap
from alerting.errors import CapDocumentRefused, ImportNotFound, ReissueRefused
from alerting.imports.formats import ApplyReport, Received, received_reference
from alerting.imports.reissue import reissue_draft
from alerting.imports.source import ImportSource
from alerting.json_form import alert_to_dict
from alerting.models import LANGUAGE_VI, Alert, cap_time
from alerting.store import ImportState, StoredAlert, StoredImport
from alerting.workflow import Workflow
from canhbao.audit import record_audit
from canhbao.clock import Clock, utc_text
from canhbao.db import Database

log = logging.getLogger(__name__)

AUDIT_ENTITY = "alert_import"


class Importer:
    """The imported alerts: what the sources bring, staff's view of them, and re-issue."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        workflow: Workflow,
        *,
        statuses: Sequence[str] = ("Actual",),
        include_expired: bool = False,
        default_life: timedelta = timedelta(hours=24),
    ) -> None:
        self.db = db
        self.clock = clock
        self.workflow = workflow
        self.statuses = frozenset(statuses)
        self.include_expired = include_expired
        # How long a message that says nothing about its expiry counts as in force.
        self.default_life = default_life
        self.sources: dict[str, ImportSource] = {}

    async def poll_all(self) -> dict[str, ApplyReport | None]:
        """Poll every source once, one after another (each failure stays in its own state)."""
        return {name: await source.poll() for name, source in self.sources.items()}

    async def apply(self, received: Sequence[Received]) -> ApplyReport:
        """Store what is new, oldest first, and apply Updates and Cancels (one transaction)."""
        report = ApplyReport()
        if not received:
            return report
        now = self.clock.now()
        stored: list[tuple[int, Received, ImportState]] = []
        changes: list[tuple[StoredImport, ImportState, Alert]] = []
        async with self.db.transaction() as conn:
            for item in sorted(received, key=lambda r: r.alert.sent):
                alert = item.alert
                if alert.status not in self.statuses:
                    report.skipped_status += 1
                    continue
                if await store.import_by_key(conn, alert.sender, alert.identifier, alert.sent):
                    report.known += 1
                    continue
                expires = alert.expires or alert.sent + self.default_life
                expired = expires <= now
                if expired and not self.include_expired:
                    report.skipped_expired += 1
                    # Not kept, but what it supersedes is superseded all the same.
                    changes.extend(await self._supersede(conn, alert, report))
                    continue
                state: ImportState = (
                    "cancelled"
                    if alert.msg_type == "Cancel"
                    else "expired"
                    if expired
                    else await self._superseded_already(conn, alert)
                )
                import_id = await store.insert_import(
                    conn,
                    sender=alert.sender,
                    identifier=alert.identifier,
                    sent=alert.sent,
                    msg_type=alert.msg_type,
                    status=alert.status,
                    source_url=item.url,
                    document=item.document,
                    state=state,
                    expires=expires,
                    now=now,
                )
                report.stored += 1
                stored.append((import_id, item, state))
                changes.extend(await self._supersede(conn, alert, report))
        for import_id, item, state in stored:
            log.info(
                "alert imported",
                extra={
                    "import_id": import_id,
                    "sender": item.alert.sender,
                    "identifier": item.alert.identifier,
                    "msgType": item.alert.msg_type,
                    "state": state,
                    "source_url": item.url,
                },
            )
        for target, state, by in changes:
            extra = {
                "import_id": target.id,
                "sender": target.sender,
                "identifier": target.identifier,
                "by": by.identifier,
                "state": state,
                "reissued_as": target.reissued_as,
            }
            if target.reissued_as:
                # Our re-issue still says what upstream has now changed: staff must act on it.
                log.warning(f"imported alert we re-issued was {state} upstream", extra=extra)
            else:
                log.info(f"imported alert {state} upstream", extra=extra)
        return report

    async def _supersede(
        self, conn: aiosqlite.Connection, alert: Alert, report: ApplyReport
    ) -> list[tuple[StoredImport, ImportState, Alert]]:
        """An Update marks the active messages it references updated; a Cancel marks the
        active or updated ones cancelled."""
        if alert.msg_type not in ("Update", "Cancel"):
            return []
        changes: list[tuple[StoredImport, ImportState, Alert]] = []
        for reference in alert.references:
            target = await store.import_by_key(
                conn, reference.sender, reference.identifier, reference.sent
            )
            if target is None or target.identifier == alert.identifier:
                continue
            if alert.msg_type == "Update" and target.state == "active":
                state: ImportState = "updated"
                report.updated += 1
            elif alert.msg_type == "Cancel" and target.state in ("active", "updated"):
                state = "cancelled"
                report.cancelled += 1
            else:
                continue
            await store.set_import_state(conn, target.id, state)
            changes.append((target, state, alert))
        return changes

    async def _superseded_already(self, conn: aiosqlite.Connection, alert: Alert) -> ImportState:
        """The state of a message whose Update or Cancel may have come in before it."""
        state: ImportState = "active"
        for later in await store.later_mentions(conn, alert.identifier, alert.sent):
            try:
                references = parse_cap(later.document.encode("utf-8")).references
            except CapDocumentRefused:  # pragma: no cover  # stored documents were checked
                continue
            if alert.reference in references:
                if later.msg_type == "Cancel":
                    return "cancelled"
                state = "updated"
        return state

    async def expire_due(self) -> list[int]:
        """Mark active imports past their expiry expired (scheduled; also run at start)."""
        async with self.db.transaction() as conn:
            due = await store.expire_imports(conn, self.clock.now())
        for found in due:
            log.info(
                "imported alert expired",
                extra={"import_id": found.id, "sender": found.sender,
                       "identifier": found.identifier},
            )  # fmt: skip
        return [found.id for found in due]

    # -- staff -----------------------------------------------------------------------------------

    async def get(self, import_id: int) -> StoredImport:
        found = await store.get_import(self.db.reader, import_id)
        if found is None:
            raise ImportNotFound(str(import_id))
        return found

    async def reissue(self, import_id: int, actor: str) -> StoredAlert:
        """A draft of ours from an import, for our audience, referencing it; audited.

        A new Alert, or an Update of our earlier re-issue when the import updates a message we
        re-issued before. Without a Vietnamese block the draft's vi-VN texts are placeholders
        staff must write before it can be submitted.
        """
        now = self.clock.now()
        async with self.db.transaction() as conn:
            found = await store.get_import(conn, import_id)
            if found is None:
                raise ImportNotFound(str(import_id))
            if found.reissued_as:
                raise ReissueRefused(
                    f"import {import_id} is already re-issued as {found.reissued_as}"
                )
            if found.state != "active" or found.msg_type == "Cancel":
                what = "a Cancel" if found.msg_type == "Cancel" else found.state
                raise ReissueRefused(
                    f"import {import_id} is {what}; only an active alert or update can be re-issued"
                )
            imported = parse_cap(found.document.encode("utf-8"))
            upstream = received_reference(imported, found.document)
            draft = reissue_draft(imported, upstream, now, self.workflow.settings.max_expiry)
            earlier = await self._our_earlier(conn, imported)
            if earlier is None:
                stored = await self.workflow.create(draft, actor, origin="import", conn=conn)
            else:
                references = (*earlier.alert.references, earlier.alert.reference, upstream)
                stored = await self.workflow.create(
                    replace(draft, msg_type="Update", references=tuple(dict.fromkeys(references))),
                    actor,
                    origin="import",
                    hazard=earlier.hazard,
                    chain=earlier.chain,
                    conn=conn,
                )
            await store.set_import_reissued(conn, import_id, stored.identifier)
            await record_audit(
                conn,
                at=now,
                actor=actor,
                action="import.reissue",
                entity=AUDIT_ENTITY,
                entity_id=str(import_id),
                before={"reissued_as": None, **_key(found)},
                after={"reissued_as": stored.identifier, **_key(found)},
            )
        log.info(
            "imported alert re-issued as a draft",
            extra={"import_id": import_id, "identifier": stored.identifier,
                   "msgType": stored.alert.msg_type, "actor": actor},
        )  # fmt: skip
        return stored

    async def _our_earlier(self, conn: aiosqlite.Connection, imported: Alert) -> StoredAlert | None:
        """Our issued message that re-issued what this import updates, if any."""
        if imported.msg_type != "Update":
            return None
        for reference in imported.references:
            earlier = await store.import_by_key(
                conn, reference.sender, reference.identifier, reference.sent
            )
            if earlier is None or earlier.reissued_as is None:
                continue
            ours = await store.get_alert(conn, earlier.reissued_as)
            # Follow our own Updates to the message in force now (a bounded walk).
            for _ in range(100):
                if ours is None or ours.state != "superseded" or not ours.superseded_by:
                    break
                ours = await store.get_alert(conn, ours.superseded_by)
            if ours is None or ours.state == "expired":
                continue
            if ours.state != "issued":
                raise ReissueRefused(
                    f"our re-issue {ours.identifier} of the message this updates is still"
                    f" {ours.state}; edit that draft instead"
                )
            pending = await store.pending_in_chain(conn, ours.chain)
            if pending:
                raise ReissueRefused(f"{pending[0]} already continues {ours.identifier}")
            return ours
        return None


def _key(found: StoredImport) -> dict[str, str]:
    return {
        "sender": found.sender,
        "identifier": found.identifier,
        "sent": cap_time(found.sent),
    }


def import_view(found: StoredImport, *, with_document: bool = False) -> dict[str, Any]:
    """An import for staff: its key and state, and the gist of its first (or Vietnamese) block."""
    alert = parse_cap(found.document.encode("utf-8"))
    info = alert.info(LANGUAGE_VI)
    view: dict[str, Any] = {
        "id": found.id,
        "sender": found.sender,
        "identifier": found.identifier,
        "sent": cap_time(found.sent),
        "msgType": found.msg_type,
        "status": found.status,
        "state": found.state,
        "expires": cap_time(found.expires) if found.expires else None,
        "reissued_as": found.reissued_as,
        "imported_at": utc_text(found.imported_at),
        "source_url": found.source_url,
        "references": [r.text for r in alert.references],
        "languages": [i.language for i in alert.infos],
        "event": info.event if info else "",
        "headline": info.headline if info else "",
        "severity": info.severity if info else "",
        "urgency": info.urgency if info else "",
        "certainty": info.certainty if info else "",
        "areas": [a.description for a in info.areas] if info else [],
    }
    if with_document:
        view["alert"] = alert_to_dict(alert)
        view["xml"] = found.document
    return view
