"""geofences' TopicSender port over notify's outbox."""

from __future__ import annotations

from collections.abc import Sequence

import aiosqlite

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
