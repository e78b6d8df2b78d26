"""What the geofences domain needs from other domains, as typed Protocols; create_app wires them.

TopicSender: FCM topic (un)subscriptions, handed over inside the registry's own transaction so
that taking changes off the topic queue and queueing them for sending commit together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import aiosqlite

# Topic changes yield to warnings when sent: a flood warning must not wait behind them.
TOPIC_PRIORITY = -10
# What groups topic changes among everything queued for sending (for counts).
TOPIC_REFERENCE = "geofences:topics"


@dataclass(frozen=True)
class TopicSubscriptions:
    """Subscribe (or unsubscribe) these tokens to one FCM topic; any number of tokens."""

    topic: str
    tokens: tuple[str, ...]
    subscribe: bool


class TopicSender(Protocol):
    async def send_topic_changes(
        self, conn: aiosqlite.Connection, hand_over: int, changes: Sequence[TopicSubscriptions]
    ) -> int:
        """Queue the changes for sending within `conn`'s transaction, as many requests as FCM's
        per-request token limit needs; `hand_over` numbers this call (for idempotency).
        Returns the requests queued."""
        ...
