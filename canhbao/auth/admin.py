"""What admins do to other staff accounts: roles (with the two-admin rule), unlock, re-enable,
password reset; each change audited with its actor (SQL over auth's tables, beside store.py)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from datetime import datetime

import aiosqlite

from canhbao.audit import record_audit
from canhbao.auth.grants import active_admins, request_grant, waiting_for_second_admin
from canhbao.auth.models import (
    InvalidAccount,
    Role,
    UnknownUser,
    User,
    check_password,
    parse_roles,
    roles_text,
)
from canhbao.auth.store import Accounts, user_from_row, user_row

log = logging.getLogger(__name__)


class AccountAdmin:
    """Admin actions over the accounts service's database, clock and config."""

    def __init__(self, accounts: Accounts) -> None:
        self.accounts = accounts
        self.db = accounts.db
        self.clock = accounts.clock
        self.config = accounts.config

    async def set_roles(self, username: str, roles: Iterable[object], *, actor: str) -> User:
        """Give `username` exactly `roles`, except what must wait for a second admin.

        With auth.approver_grant_admins = 2, approver or admin added by one admin is recorded as
        pending (the account keeps its other roles meanwhile); the same roles set by a second,
        distinct admin confirm it. Removing an approving role drops a pending grant of it.
        """
        wanted = parse_roles(roles)
        now = self.clock.now()
        async with self.db.transaction() as conn:
            before = await _existing(conn, username)
            if Role.admin in before.roles - wanted:
                await _keep_an_admin(conn, before)
            pending = await waiting_for_second_admin(conn, self.config, before.roles, wanted)
            requested_by = await _requested_by(conn, before)
            confirming = (
                bool(pending)
                and requested_by not in (None, actor)
                and pending <= before.pending_roles
            )
            if confirming:
                pending = frozenset()
            held = wanted - pending
            after = await self._write_roles(conn, before, held, actor=actor, now=now)
            if pending:
                after = await request_grant(conn, after, pending, actor=actor, now=now)
            elif after.pending_roles:
                # Confirmed now, or the roles it waited for were taken out of the request.
                action = "user.grant_confirm" if confirming else "user.grant_cancel"
                after = await self._drop_grant(conn, after, action, actor=actor, now=now)
        return after

    async def confirm_roles(self, username: str, *, actor: str) -> User:
        """A second admin confirms the pending grant: the account gets those roles now."""
        user = await self.accounts.get_user(username)
        if not user.pending_roles:
            raise InvalidAccount(f"{username} has no role grant waiting for confirmation")
        return await self.set_roles(username, user.roles | user.pending_roles, actor=actor)

    async def unlock(self, username: str, *, actor: str) -> User:
        """Clear the account's wrong-password backoff: its owner may try again at once."""
        now = self.clock.now()
        async with self.db.transaction() as conn:
            before = await _existing(conn, username)
            await conn.execute(
                "UPDATE auth_users SET failed_logins = 0, locked_until = NULL WHERE id = ?",
                (before.id,),
            )
            after = dataclasses.replace(before, locked_until=None)
            await _audit(conn, "user.unlock", before, after, actor=actor, now=now)
        log.info("user unlocked", extra={"username": username, "actor": actor})
        return after

    async def enable(self, username: str, *, actor: str) -> User:
        """Re-enable a disabled account (its old sessions stay ended)."""
        now = self.clock.now()
        async with self.db.transaction() as conn:
            before = await _existing(conn, username)
            if before.disabled_at is None:
                return before
            await conn.execute(
                "UPDATE auth_users SET disabled_at = NULL, failed_logins = 0, locked_until = NULL"
                " WHERE id = ?",
                (before.id,),
            )
            after = dataclasses.replace(before, disabled_at=None, locked_until=None)
            await _audit(conn, "user.enable", before, after, actor=actor, now=now)
        log.info("user enabled", extra={"username": username, "actor": actor})
        return after

    async def reset_password(self, username: str, password: object, *, actor: str) -> User:
        """Set a new password, end the account's sessions and clear its backoff."""
        secret = check_password(password, self.config.password_min_length)
        if actor == f"user:{username}":
            raise InvalidAccount("change your own password by logging in, not as an admin")
        await self.accounts.get_user(username)  # 404 before spending a hash on nobody
        password_hash = await self.accounts.passwords.hash(secret)
        now = self.clock.now()
        async with self.db.transaction() as conn:
            before = await _existing(conn, username)
            await conn.execute(
                "UPDATE auth_users SET password_hash = ?, failed_logins = 0, locked_until = NULL"
                " WHERE id = ?",
                (password_hash, before.id),
            )
            await conn.execute("DELETE FROM auth_sessions WHERE user_id = ?", (before.id,))
            after = dataclasses.replace(before, locked_until=None)
            await _audit(conn, "user.password_reset", before, after, actor=actor, now=now)
        log.info("user password reset", extra={"username": username, "actor": actor})
        return after

    async def _write_roles(
        self,
        conn: aiosqlite.Connection,
        before: User,
        roles: frozenset[Role],
        *,
        actor: str,
        now: datetime,
    ) -> User:
        if roles == before.roles:
            return before
        await conn.execute(
            "UPDATE auth_users SET roles = ? WHERE id = ?", (roles_text(roles), before.id)
        )
        after = dataclasses.replace(before, roles=roles)
        await _audit(conn, "user.roles", before, after, actor=actor, now=now)
        log.info(
            "user roles changed",
            extra={"username": before.username, "roles": sorted(roles), "actor": actor},
        )
        return after

    async def _drop_grant(
        self, conn: aiosqlite.Connection, user: User, action: str, *, actor: str, now: datetime
    ) -> User:
        await conn.execute("DELETE FROM auth_role_grants WHERE user_id = ?", (user.id,))
        after = dataclasses.replace(user, pending_roles=frozenset())
        await _audit(conn, action, user, after, actor=actor, now=now)
        return after


async def _existing(conn: aiosqlite.Connection, username: str) -> User:
    row = await user_row(conn, username)
    if row is None:
        raise UnknownUser(f"no user {username!r}")
    return user_from_row(row)


async def _requested_by(conn: aiosqlite.Connection, user: User) -> str | None:
    async with conn.execute(
        "SELECT requested_by FROM auth_role_grants WHERE user_id = ?", (user.id,)
    ) as cursor:
        row = await cursor.fetchone()
    return None if row is None else str(row[0])


async def _keep_an_admin(conn: aiosqlite.Connection, user: User) -> None:
    if user.disabled_at is None and await active_admins(conn) == [user.username]:
        raise InvalidAccount(f"{user.username} is the last enabled admin; make another first")


async def _audit(
    conn: aiosqlite.Connection,
    action: str,
    before: User,
    after: User,
    *,
    actor: str,
    now: datetime,
) -> None:
    await record_audit(
        conn,
        at=now,
        actor=actor,
        action=action,
        entity="user",
        entity_id=before.username,
        before=before.to_json(),
        after=after.to_json(),
    )
