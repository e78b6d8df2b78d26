"""Alerting's ports (alerting.ports) over auth."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from alerting.ports import AlertingPorts
from canhbao import keys
from canhbao.auth.sponsors import approver_sponsors
from canhbao.db import Database


def alerting_ports(app: web.Application) -> AlertingPorts:
    """Built when alerting's context starts: the contexts it depends on ran before it."""
    return AlertingPorts(sponsors=AuthSponsors(app[keys.DB]))


class AuthSponsors:
    """Alerting's Sponsors over the audit log of account changes (auth.sponsors)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def sponsors(self, username: str, since: datetime) -> frozenset[str]:
        return await approver_sponsors(self._db, username, since)
