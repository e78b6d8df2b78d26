"""The two-admin rule for approving roles (auth.approver_grant_admins): who may grant them
alone, and the grant that waits for a second admin."""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime

import aiosqlite

from canhbao.audit import record_audit
from canhbao.auth.models import APPROVING_ROLES, Role, User, roles_text
from canhbao.clock import utc_text
from canhbao.config import AuthConfig

log = logging.getLogger(__name__)


async def active_admins(conn: aiosqlite.Connection) -> list[str]:
    """Usernames of the enabled accounts holding the admin role."""
    async with conn.execute(
        "SELECT username FROM auth_users, json_each(auth_users.roles) AS r"
        " WHERE r.value = 'admin' AND disabled_at IS NULL ORDER BY username"
    ) as cursor:
        return [row[0] for row in await cursor.fetchall()]


async def waiting_for_second_admin(
    conn: aiosqlite.Connection,
    config: AuthConfig,
    current: frozenset[Role],
    wanted: frozenset[Role],
) -> frozenset[Role]:
    """The approving roles in `wanted` that one admin alone may not grant now.

    With auth.approver_grant_admins = 2, adding approver or admin takes a second admin. While no
    enabled admin exists (the very first account) there is nobody to confirm, so none wait.
    """
    added = (wanted - current) & APPROVING_ROLES
    if config.approver_grant_admins < 2 or not added:
        return frozenset()
    if not await active_admins(conn):
        return frozenset()
    return added


async def request_grant(
    conn: aiosqlite.Connection,
    user: User,
    roles: frozenset[Role],
    *,
    actor: str,
    now: datetime,
) -> User:
    """Record (or replace) the grant of `roles` waiting for a second admin; audited."""
    await conn.execute(
        "INSERT INTO auth_role_grants (user_id, roles, requested_by, requested_at)"
        " VALUES (?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET roles = excluded.roles,"
        " requested_by = excluded.requested_by, requested_at = excluded.requested_at",
        (user.id, roles_text(roles), actor, utc_text(now)),
    )
    after = dataclasses.replace(user, pending_roles=roles)
    await record_audit(
        conn,
        at=now,
        actor=actor,
        action="user.grant_request",
        entity="user",
        entity_id=user.username,
        before=user.to_json(),
        after=after.to_json(),
    )
    log.info(
        "role grant waits for a second admin",
        extra={"username": user.username, "roles": sorted(roles), "actor": actor},
    )
    return after
