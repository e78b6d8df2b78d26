"""geofences' TopicSender port over notify's outbox; the ward locator other domains' ports read
over geofences' area catalogue."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import aiosqlite

from geofences.devices import DeviceRegistry
from geofences.ports import TOPIC_PRIORITY, TOPIC_REFERENCE, TopicSubscriptions
from notify.models import FCM_TOPIC_BATCH, OutboxItem, TopicChange
from notify.outbox import Outbox


class OutboxTopicSender:
    """FCM topic (un)subscriptions queued in the outbox: ≤ 1,000 tokens per FCM request."""

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    async def send_topic_changes(
        self, conn: aiosqlite.Connection, hand_over: int, changes: Sequence[TopicSubscriptions]
    ) -> int:
        items: list[OutboxItem] = []
        for change in changes:
            for start in range(0, len(change.tokens), FCM_TOPIC_BATCH):
                chunk = change.tokens[start : start + FCM_TOPIC_BATCH]
                items.append(
                    OutboxItem(
                        channel="topic",
                        message=TopicChange(change.topic, chunk, change.subscribe),
                        idempotency_key=f"geofences:topics:{hand_over}:{len(items)}",
                        reference=TOPIC_REFERENCE,
                        priority=TOPIC_PRIORITY,
                    )
                )
        await self._outbox.enqueue_in(conn, items)
        return len(items)


_Ward = TypeVar("_Ward")


class GeofencesWards(Generic[_Ward]):
    """A domain's WardLocator over geofences' area catalogue: the deepest area covering the
    point, as that domain's own Ward type (`ward(code, name)`), or None outside every area."""

    def __init__(self, registry: DeviceRegistry, ward: Callable[[str, str], _Ward]) -> None:
        self._registry = registry
        self._ward = ward

    async def ward_at(self, lon: float, lat: float) -> _Ward | None:
        catalog = self._registry.catalog  # replaced whole when areas are re-imported
        area_id = catalog.locate(lon, lat)
        if area_id < 0:
            return None
        area = catalog.areas[area_id]
        return self._ward(area.code, area.name)
