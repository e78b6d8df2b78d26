"""A token bucket per client address, in process, for the public citizen API.

It guards against floods of requests from one place (a script, a broken app), not against a
distributed attack.

Buckets refill continuously at `rate` per second up to `burst`. Memory is bounded: past
`max_clients` addresses, the buckets untouched longest are dropped (a dropped bucket is full
again, so eviction only ever errs on the side of letting a request through).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable


class RateLimiter:
    def __init__(self, rate: float, burst: int, max_clients: int, now: Callable[[], float]) -> None:
        if rate <= 0 or burst < 1 or max_clients < 1:
            raise ValueError("rate must be positive, burst and max_clients at least 1")
        self._rate = rate
        self._burst = float(burst)
        self._max_clients = max_clients
        self._now = now
        # address → (tokens left, time of last refill); most recently used last
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def acquire(self, client: str) -> float:
        """Take one token; returns 0 if allowed, else the seconds until one is available."""
        now = self._now()
        tokens, last = self._buckets.pop(client, (self._burst, now))
        tokens = min(self._burst, tokens + max(0.0, now - last) * self._rate)
        if tokens >= 1.0:
            self._buckets[client] = (tokens - 1.0, now)
            wait = 0.0
        else:
            self._buckets[client] = (tokens, now)
            wait = (1.0 - tokens) / self._rate
        while len(self._buckets) > self._max_clients:
            self._buckets.popitem(last=False)
        return wait

    @staticmethod
    def retry_after(wait: float) -> str:
        """The Retry-After header value: whole seconds, rounded up, at least 1."""
        return str(max(1, math.ceil(wait)))

    def __len__(self) -> int:
        return len(self._buckets)
