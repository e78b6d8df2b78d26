"""The fan-out runner in `canhbao serve`'s own process, beside the outbox sender: alerting's
Recipients port over geofences' stored devices and contacts (that process builds no device
index), and the context that runs it there (README, "Processes")."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence

from aiohttp import web

from alerting.fanout import fanout_ctx
from alerting.ports import ContactTarget, DeviceTarget
from canhbao import keys
from canhbao.config import Config
from canhbao.db import Database
from geofences import store as geofences_store
from notify import keys as notify_keys


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


def sender_fanout_ctx(config: Config) -> Callable[[web.Application], AsyncIterator[None]]:
    """For the sender's app (notify.process.create_sender_app): the fan-out runner, over the
    sender's outbox, woken by the web process's kicks."""
    return fanout_ctx(
        config,
        lambda app: StoredRecipients(app[keys.DB]),
        lambda app: app[notify_keys.OUTBOX],
        lambda app, kick: app[notify_keys.ON_KICK].append(kick),
    )
