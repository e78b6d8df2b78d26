"""What alerting needs from other domains, as Protocols in alerting's own types.

The composition root (canhbao.app.create_app) builds their implementations from the other
domains' objects and hands them to alerting; alerting never looks another domain up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from aiohttp import web


class Sponsors(Protocol):
    """Who vouched for an account lately (auth): the two-person rule's check that an author
    did not make their own approver."""

    async def sponsors(self, username: str, since: datetime) -> frozenset[str]:
        """Usernames of those who, at or after `since`, created the account `username` or
        granted it an approving role (or otherwise put it in their hands)."""
        ...


@dataclass(frozen=True)
class AlertingPorts:
    """Everything alerting receives from other domains, built by the composition root."""

    sponsors: Sponsors


# Called when alerting's context starts (the other domains' contexts have run by then).
PortsFactory = Callable[[web.Application], AlertingPorts]
