"""Alerting's Recipients port over geofences' stored devices and contacts, for the fan-out
runner in the outbox sender's process (which builds no device index)."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from alerting.ports import ContactTarget, DeviceTarget
from canhbao import keys
from canhbao.db import Database
from geofences import store as geofences_store


class StoredRecipients:
    """Devices' tokens and contacts' phones by id, read from geofences' tables (its store), as
    geofences' DeviceRegistry reads them for the web process."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def devices(self, device_ids: Sequence[int]) -> list[DeviceTarget]:
        if not len(device_ids):
            return []
        found = await geofences_store.push_targets(self._db, device_ids)
        return [DeviceTarget(device_id, token, language) for device_id, token, language in found]

    async def contacts(self, contact_ids: Sequence[int]) -> list[ContactTarget]:
        if not len(contact_ids):
            return []
        found = await geofences_store.contact_targets(self._db, contact_ids)
        return [ContactTarget(*row) for row in found]


def stored_recipients(app: web.Application) -> StoredRecipients:
    return StoredRecipients(app[keys.DB])
