"""Per-channel send pacing: token buckets that keep each provider under its rate limit."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable

from canhbao.config import OutboxConfig
from notify.models import Channel

TimeSource = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class TokenBucket:
    """Lets `rate` acquisitions through per second, with bursts of up to `capacity`.

    Each caller reserves the next token at once (the balance may go negative) and sleeps until
    it is due, so waiters are served in arrival order and an acquisition costs O(1) no matter
    how many are waiting.
    """

    def __init__(
        self,
        rate: float,
        capacity: float | None = None,
        *,
        time_source: TimeSource = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"a token bucket needs a positive rate, got {rate}")
        self.rate = rate
        self.capacity = max(1.0, capacity if capacity is not None else rate)
        self._time = time_source
        self._sleep = sleep
        self._tokens = self.capacity
        self._updated = time_source()

    def _refill(self) -> None:
        now = self._time()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    async def acquire(self) -> None:
        self._refill()
        self._tokens -= 1
        if self._tokens >= 0:
            return
        try:
            await self._sleep(-self._tokens / self.rate)
        except asyncio.CancelledError:
            # Give the reserved token back: a cancelled send did not use the provider's quota.
            self._tokens += 1
            raise

    def hold(self, seconds: float) -> None:
        """Let nothing through for `seconds` (a provider answered 429 with Retry-After)."""
        self._refill()
        self._tokens = min(self._tokens, -seconds * self.rate)


class ChannelPacing:
    """One bucket per provider quota; topic changes spend the push budget (both are FCM)."""

    def __init__(
        self,
        config: OutboxConfig,
        *,
        time_source: TimeSource = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        push = TokenBucket(config.push_per_minute / 60, time_source=time_source, sleep=sleep)
        sms = TokenBucket(config.sms_per_second, time_source=time_source, sleep=sleep)
        voice = TokenBucket(config.voice_per_second, time_source=time_source, sleep=sleep)
        self._buckets: dict[Channel, TokenBucket] = {
            "push": push,
            "topic": push,
            "sms": sms,
            "voice": voice,
        }

    def bucket(self, channel: Channel) -> TokenBucket:
        return self._buckets[channel]

    async def acquire(self, channel: Channel) -> None:
        await self._buckets[channel].acquire()

    def in_hand(self, channel: Channel, lookahead_s: float) -> int:
        """How many sends this channel's pace allows in `lookahead_s` seconds (at least 1)."""
        return max(1, math.ceil(self._buckets[channel].rate * lookahead_s))
