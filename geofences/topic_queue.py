"""The FCM topic queue: handing queued (un)subscriptions over for sending, and taking stale
locations out of devices' topics."""

from __future__ import annotations

import logging
from dataclasses import replace

from canhbao.clock import Clock
from canhbao.db import Database
from geofences import store
from geofences.area_sync import REASSIGN_CHUNK
from geofences.ports import TopicSender, TopicSubscriptions
from geofences.state import RegistryState

log = logging.getLogger(__name__)


class TopicQueue:
    """Hands topic changes to the TopicSender port; expires stale locations from topics."""

    def __init__(
        self, db: Database, clock: Clock, state: RegistryState, sender: TopicSender | None
    ) -> None:
        self._db = db
        self._clock = clock
        self._state = state
        self._topics_out = sender

    async def flush(self) -> int:
        """Hand queued topic changes to the outbox, ≤ 1,000 tokens a message; returns messages.

        Taking the rows off the queue and enqueueing them is one transaction, so a crash loses
        nothing and sends nothing twice.
        """
        if self._topics_out is None:
            return 0
        async with self._db.transaction() as conn:
            rows = await store.take_topic_changes(conn, self._state.settings.topic_flush_batch)
            if not rows:
                return 0
            groups: dict[tuple[str, bool], list[str]] = {}
            for topic, token, subscribe in rows:
                groups.setdefault((topic, subscribe), []).append(token)
            hand_over = await store.next_value(conn, "topic_batch")
            changes = [
                TopicSubscriptions(topic=topic, tokens=tuple(tokens), subscribe=subscribe)
                for (topic, subscribe), tokens in sorted(groups.items())
            ]
            messages = await self._topics_out.send_topic_changes(conn, hand_over, changes)
        log.info("topic changes queued", extra={"changes": len(rows), "messages": messages})
        return messages

    async def expire(self, limit: int = REASSIGN_CHUNK) -> int:
        """Stop counting locations that went stale toward topics; returns devices changed."""
        now = self._clock.now()
        cutoff = now - self._state.settings.location_max_age
        async with self._db.transaction() as conn:
            rows = await store.expiring_locations(conn, cutoff, limit)
            updates, queue = [], []
            for row in rows:
                topics = (
                    self._state.topics(-1, False, row.area_ids, row.language)
                    if row.token
                    else frozenset()
                )
                if row.token is not None:
                    queue += [(row.token, topic, False) for topic in row.topics - topics]
                    queue += [(row.token, topic, True) for topic in topics - row.topics]
                updates.append(replace(row, location_topics=False, topics=topics))
            await store.update_devices(conn, updates, now)
            await store.queue_many_topic_changes(conn, queue, now)
        if rows:
            log.info("stale locations expired", extra={"devices": len(rows)})
        return len(rows)
