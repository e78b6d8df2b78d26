"""The in-process event bus: domains publish frozen dataclasses, others subscribe by type.

For events nothing durable depends on (metrics, tests); an event another domain acts on goes
through the durable event log (canhbao.eventlog), which no crash can lose.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

log = logging.getLogger(__name__)

E = TypeVar("E")
Handler = Callable[[Any], Awaitable[None]]


class EventBus:
    """Delivers each event to its subscribers in subscription order.

    A failing handler is logged and does not stop the others: one domain's bug must not keep
    another domain from hearing about a flood.
    """

    def __init__(self) -> None:
        self._handlers: dict[type, list[Handler]] = defaultdict(list)

    def subscribe(self, event_type: type[E], handler: Callable[[E], Awaitable[None]]) -> None:
        self._handlers[event_type].append(handler)

    async def publish(self, event: object) -> None:
        for handler in list(self._handlers.get(type(event), ())):
            try:
                await handler(event)
            except Exception:
                log.exception(
                    "event handler failed",
                    extra={"event": type(event).__name__, "handler": _name(handler)},
                )


def _name(handler: Handler) -> str:
    return getattr(handler, "__qualname__", repr(handler))
