"""Who vouched for an account lately: its creator, who granted it an approving role, who reset
its password — read from the audit log, for the two-person rule's "no approving through an
account you just made" check."""

from __future__ import annotations

import json
from datetime import datetime

from canhbao.auth.models import APPROVING_ROLES
from canhbao.clock import utc_text
from canhbao.db import Database

USER_ACTOR_PREFIX = "user:"
# Audit actions on an account that put it in someone's hands whatever it held before.
_ALWAYS = frozenset({"user.create", "user.grant_request", "user.password_reset"})
# Audit actions that count only when they add an approving role (approver or admin).
_ROLE_CHANGES = frozenset({"user.roles"})


async def approver_sponsors(db: Database, username: str, since: datetime) -> frozenset[str]:
    """The usernames who, at or after `since`, created the account `username`, granted it
    approver (or admin, which passes every role check) — as the admin who asked or the one
    who confirmed — or reset its password (which hands them the account).

    Only staff users are named: actors that are not users (`cli:<os user>`, `system:…`) cannot
    author a draft, so they can never be the author such a check looks for.
    """
    rows = await db.fetch_all(
        'SELECT actor, action, "before", "after" FROM audit_log'
        " WHERE entity = 'user' AND entity_id = ? AND at >= ? AND action IN"
        " ('user.create', 'user.grant_request', 'user.password_reset', 'user.roles')",
        (username, utc_text(since)),
    )
    sponsors: set[str] = set()
    for row in rows:
        if row["action"] not in _ALWAYS | _ROLE_CHANGES:
            continue
        actor: str = row["actor"]
        if not actor.startswith(USER_ACTOR_PREFIX):
            continue
        if row["action"] in _ROLE_CHANGES and not _adds_approving_role(row["before"], row["after"]):
            continue
        sponsors.add(actor.removeprefix(USER_ACTOR_PREFIX))
    return frozenset(sponsors)


def _adds_approving_role(before: str | None, after: str | None) -> bool:
    def approving(state: str | None) -> set[str]:
        roles = json.loads(state).get("roles", []) if state else []
        return {role for role in roles if role in APPROVING_ROLES}

    return bool(approving(after) - approving(before))
