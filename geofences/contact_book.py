"""Phone-only contacts in the registry: stored (audited by counts only) and indexed."""

from __future__ import annotations

from collections.abc import Sequence

from canhbao.audit import record_audit
from canhbao.clock import Clock
from canhbao.db import Database
from geofences import store
from geofences.models import ContactDraft
from geofences.state import RegistryState


class ContactBook:
    """Writes contacts and keeps the contact index in step."""

    def __init__(self, db: Database, clock: Clock, state: RegistryState) -> None:
        self._db = db
        self._clock = clock
        self._state = state

    async def save(
        self, contacts: Sequence[tuple[ContactDraft, int | None]], actor: str, action: str
    ) -> tuple[int, int]:
        """Insert or update contacts by phone (area ids already resolved); (added, updated)."""
        located = [
            self._state.catalog.locate(c.lon, c.lat)
            if c.lon is not None and c.lat is not None
            else -1
            for c, _ in contacts
        ]
        rows = [
            (contact, area_id if area_id is not None else (found if found >= 0 else None))
            for (contact, area_id), found in zip(contacts, located, strict=True)
        ]
        async with self._db.transaction() as conn:
            saved = await store.upsert_contacts(conn, rows, actor, self._clock.now())
            # Counts and ids only: the audit log is read by every admin, and these are the
            # names and numbers of vulnerable people.
            await record_audit(
                conn,
                at=self._clock.now(),
                actor=actor,
                action=action,
                entity="contacts",
                entity_id=",".join(str(contact_id) for contact_id, _ in saved[:50]),
                before=None,
                after={"saved": len(saved), "added": sum(new for _, new in saved)},
            )
            for (contact_id, _), (contact, area_id) in zip(saved, rows, strict=True):
                self._state.remember_contact(contact_id, contact.lon, contact.lat, area_id)
        added = sum(new for _, new in saved)
        return added, len(saved) - added

    async def delete(self, contact_id: int, actor: str) -> bool:
        async with self._db.transaction() as conn:
            deleted = await store.delete_contact(conn, contact_id)
            if deleted:
                await record_audit(
                    conn,
                    at=self._clock.now(),
                    actor=actor,
                    action="contacts.delete",
                    entity="contact",
                    entity_id=str(contact_id),
                    before=None,
                    after=None,
                )
            self._state.forget_contact(contact_id)
        return deleted
