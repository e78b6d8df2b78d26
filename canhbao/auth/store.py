"""Staff accounts, login sessions and machine tokens in SQLite; every change is audited."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import aiosqlite

from canhbao.audit import record_audit
from canhbao.auth.grants import request_grant, waiting_for_second_admin
from canhbao.auth.models import (
    MAX_PASSWORD_LENGTH,
    TOKEN_ROLES,
    InvalidAccount,
    LoginRefused,
    Principal,
    Session,
    Token,
    UnknownToken,
    UnknownUser,
    User,
    UserExists,
    check_name,
    check_password,
    check_username,
    parse_roles,
    roles_text,
    stored_roles,
)
from canhbao.auth.passwords import Argon2Parameters, Passwords, digest, new_secret
from canhbao.auth.throttle import FORGET_AFTER, LoginThrottle, LoginThrottled
from canhbao.clock import Clock, parse_utc, utc_text
from canhbao.config import AuthConfig
from canhbao.db import Database, Migration

log = logging.getLogger(__name__)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        domain="auth",
        version=1,
        name="users_sessions_tokens",
        sql="""
        CREATE TABLE auth_users (
            id INTEGER PRIMARY KEY,
            username TEXT NOT NULL UNIQUE,
            display_name TEXT NOT NULL DEFAULT '',
            password_hash TEXT NOT NULL,
            roles TEXT NOT NULL,            -- JSON array of role names
            failed_logins INTEGER NOT NULL DEFAULT 0,
            locked_until TEXT,
            disabled_at TEXT,
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL
        );
        CREATE TABLE auth_sessions (
            id_hash TEXT PRIMARY KEY,       -- SHA-256 of the cookie value; the value is not kept
            user_id INTEGER NOT NULL REFERENCES auth_users (id),
            -- Kept as is: /me hands it back, and alone it opens nothing.
            csrf_token TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        );
        CREATE INDEX auth_sessions_user ON auth_sessions (user_id);
        CREATE INDEX auth_sessions_expires ON auth_sessions (expires_at);
        CREATE TABLE auth_tokens (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            secret_hash TEXT NOT NULL UNIQUE,  -- SHA-256 of the secret shown once at creation
            roles TEXT NOT NULL,
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            revoked_at TEXT,
            last_used_at TEXT
        );
        """,
    ),
    Migration(
        domain="auth",
        version=2,
        name="pending_role_grants",
        sql="""
        -- Approving roles one admin granted, waiting for a second admin to confirm them
        -- (auth.approver_grant_admins = 2). One row per user at most.
        CREATE TABLE auth_role_grants (
            user_id INTEGER PRIMARY KEY REFERENCES auth_users (id),
            roles TEXT NOT NULL,            -- JSON array of role names
            requested_by TEXT NOT NULL,     -- the first admin's actor
            requested_at TEXT NOT NULL
        );
        """,
    ),
    Migration(
        domain="auth",
        version=3,
        name="login_backoff",
        sql="""
        -- failed_logins now counts wrong passwords in a row, forgotten an hour after the last
        -- one; locked_until is when the account's next attempt may be made (login backoff).
        ALTER TABLE auth_users ADD COLUMN last_failed_login_at TEXT;
        """,
    ),
)

TOKEN_PREFIX = "cbt_"  # noqa: S105  # a public prefix, not a secret; lets secret scanners and people recognise a leaked canhbao token
# last_used_at is written at most this often per token: a gauge pushing every few seconds
# must not turn every request into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)
BACKOFF_ACTOR = "system:login-backoff"

_USER_COLUMNS = (
    "id, username, display_name, roles, created_at, disabled_at, locked_until,"
    " password_hash, failed_logins,"
    " (SELECT g.roles FROM auth_role_grants AS g WHERE g.user_id = auth_users.id)"
    " AS pending_roles"
)
_TOKEN_COLUMNS = "id, name, roles, created_at, created_by, revoked_at, last_used_at"  # noqa: S105  # column names


@dataclass(frozen=True)
class LoginResult:
    user: User
    session_id: str  # the cookie value; only its digest is stored
    csrf_token: str
    expires_at: datetime


class Accounts:
    """Users, sessions and tokens over the app's database, with the injected clock."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        config: AuthConfig,
        passwords: Passwords | None = None,
        throttle: LoginThrottle | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.config = config
        self.passwords = passwords or Passwords(Argon2Parameters.from_config(config))
        # The service passes its own, shared by every request; alone (the CLI), a fresh one.
        self.throttle = throttle or LoginThrottle(config)

    # --- users

    async def create_user(
        self,
        username: object,
        password: object,
        roles: Iterable[object],
        *,
        display_name: object = "",
        actor: str,
    ) -> User:
        name = check_username(username.lower() if isinstance(username, str) else username)
        secret = check_password(password, self.config.password_min_length)
        role_set = parse_roles(roles)
        shown = check_name(display_name, "display name", required=False)
        if await self._user_row(self.db.reader, name) is not None:
            raise UserExists(f"user {name} already exists")
        # Hash before taking the write lock: argon2 takes tens of milliseconds by design.
        password_hash = await self.passwords.hash(secret)
        now = self.clock.now()
        async with self.db.transaction() as conn:
            pending = await waiting_for_second_admin(conn, self.config, frozenset(), role_set)
            held = role_set - pending
            try:
                cursor = await conn.execute(
                    "INSERT INTO auth_users (username, display_name, password_hash, roles,"
                    " created_at, created_by) VALUES (?, ?, ?, ?, ?, ?)",
                    (name, shown, password_hash, roles_text(held), utc_text(now), actor),
                )
            except sqlite3.IntegrityError:
                raise UserExists(f"user {name} already exists") from None
            user = User(cursor.lastrowid or 0, name, shown, held, now, None, None)
            await record_audit(
                conn,
                at=now,
                actor=actor,
                action="user.create",
                entity="user",
                entity_id=name,
                before=None,
                after=user.to_json(),
            )
            if pending:
                user = await request_grant(conn, user, pending, actor=actor, now=now)
        log.info(
            "user created",
            extra={"username": name, "roles": sorted(held), "actor": actor},
        )
        return user

    async def list_users(self) -> list[User]:
        rows = await self.db.fetch_all(
            f"SELECT {_USER_COLUMNS} FROM auth_users ORDER BY username"  # noqa: S608  # constant columns
        )
        return [user_from_row(row) for row in rows]

    async def get_user(self, username: str) -> User:
        row = await self._user_row(self.db.reader, username)
        if row is None:
            raise UnknownUser(f"no user {username!r}")
        return user_from_row(row)

    async def disable_user(self, username: str, *, actor: str) -> User:
        """Disable an account and end its sessions at once; disabling twice changes nothing."""
        if actor == f"user:{username}":
            raise InvalidAccount("you cannot disable your own account")
        now = self.clock.now()
        async with self.db.transaction() as conn:
            row = await self._user_row(conn, username)
            if row is None:
                raise UnknownUser(f"no user {username!r}")
            before = user_from_row(row)
            if before.disabled_at is not None:
                return before
            await conn.execute(
                "UPDATE auth_users SET disabled_at = ? WHERE id = ?", (utc_text(now), before.id)
            )
            await conn.execute("DELETE FROM auth_sessions WHERE user_id = ?", (before.id,))
            after = dataclasses.replace(before, disabled_at=now)
            await record_audit(
                conn,
                at=now,
                actor=actor,
                action="user.disable",
                entity="user",
                entity_id=username,
                before=before.to_json(),
                after=after.to_json(),
            )
        log.info("user disabled", extra={"username": username, "actor": actor})
        return after

    # --- sessions

    async def login(
        self, username: object, password: object, *, address: str | None = None
    ) -> LoginResult:
        """Check a password and open a session, or raise LoginRefused whatever the reason, or
        LoginThrottled (before the password is looked at) while this address or this account
        must wait after too many wrong passwords (canhbao.auth.throttle)."""
        now = self.clock.now()
        where = address or "unknown"
        # Counted as a failure before the password is checked, cleared if it was right: many
        # guesses sent at once cannot all slip past the check during the slow hash.
        self._check_wait(self.throttle.addresses.wait(where, now), "address", where)
        self.throttle.addresses.fail(where, now)
        if not isinstance(username, str) or not isinstance(password, str):
            raise LoginRefused()
        if len(password) > MAX_PASSWORD_LENGTH:
            raise LoginRefused()
        name = username.lower()
        async with self.db.transaction() as conn:
            row = await self._user_row(conn, name)
            if row is None:
                self._check_wait(self.throttle.unknown_accounts.wait(name, now), "account", name)
                self.throttle.unknown_accounts.fail(name, now)
                failures = 0
            else:
                self._check_wait(_account_wait(row, now), "account", name)
                failures = await self._count_attempt(conn, row, now)
        if row is None or row["disabled_at"] is not None:
            await self.passwords.verify_nothing(password)
            reason = "unknown_user" if row is None else "disabled"
            log.info("login refused", extra={"username": name, "reason": reason})
            raise LoginRefused()
        if not await self.passwords.verify(row["password_hash"], password):
            if failures == self.config.login_free_failures:
                await self._record_backoff(row, failures, now)
            log.info("login refused", extra={"username": name, "reason": "wrong_password"})
            raise LoginRefused()
        new_hash = None
        if self.passwords.needs_rehash(row["password_hash"]):
            new_hash = await self.passwords.hash(password)
        session_id, csrf_token = new_secret(), new_secret()
        expires_at = now + timedelta(hours=self.config.session_hours)
        async with self.db.transaction() as conn:
            # Look again under the write lock: an admin may have disabled the account or reset
            # its password while this one was being checked.
            current = await self._user_row(conn, name)
            if (
                current is None
                or current["disabled_at"] is not None
                or current["password_hash"] != row["password_hash"]
            ):
                raise LoginRefused()
            await conn.execute(
                "UPDATE auth_users SET failed_logins = 0, locked_until = NULL,"
                " last_failed_login_at = NULL, password_hash = ? WHERE id = ?",
                (new_hash or row["password_hash"], row["id"]),
            )
            # Expired sessions are swept here, at the moment new ones are made, instead of by a
            # job: the table then never holds more than a day of logins.
            await conn.execute("DELETE FROM auth_sessions WHERE expires_at <= ?", (utc_text(now),))
            await conn.execute(
                "INSERT INTO auth_sessions (id_hash, user_id, csrf_token, created_at, expires_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (digest(session_id), row["id"], csrf_token, utc_text(now), utc_text(expires_at)),
            )
            await record_audit(
                conn,
                at=now,
                actor=f"user:{name}",
                action="user.login",
                entity="user",
                entity_id=name,
                before=None,
                after={"session_expires_at": utc_text(expires_at)},
            )
        self.throttle.addresses.clear(where)
        if new_hash is not None:
            log.info("password rehashed with the configured parameters", extra={"username": name})
        log.info("login", extra={"username": name})
        user = dataclasses.replace(user_from_row(row), locked_until=None)
        return LoginResult(user, session_id, csrf_token, expires_at)

    async def resolve_session(self, session_id: str) -> Session | None:
        """The live session behind a cookie value, or None (unknown, expired, user disabled)."""
        row = await self.db.fetch_one(
            "SELECT s.id_hash, s.csrf_token, s.expires_at, u.id, u.username, u.roles,"
            " u.disabled_at FROM auth_sessions AS s JOIN auth_users AS u ON u.id = s.user_id"
            " WHERE s.id_hash = ?",
            (digest(session_id),),
        )
        if row is None or row["disabled_at"] is not None:
            return None
        expires_at = parse_utc(row["expires_at"])
        if expires_at <= self.clock.now():
            return None
        principal = Principal("user", row["id"], row["username"], stored_roles(row["roles"]))
        return Session(principal, row["id_hash"], row["csrf_token"], expires_at)

    async def logout(self, session: Session) -> None:
        now = self.clock.now()
        async with self.db.transaction() as conn:
            await conn.execute("DELETE FROM auth_sessions WHERE id_hash = ?", (session.id_hash,))
            await record_audit(
                conn,
                at=now,
                actor=session.principal.actor,
                action="user.logout",
                entity="user",
                entity_id=session.principal.name,
                before={"session_expires_at": utc_text(session.expires_at)},
                after=None,
            )
        log.info("logout", extra={"username": session.principal.name})

    def _check_wait(self, wait_s: float, what: str, key: str) -> None:
        if wait_s > 0:
            log.info("login throttled", extra={"throttled": what, "key": key, "wait_s": wait_s})
            raise LoginThrottled(wait_s)

    async def _count_attempt(
        self, conn: aiosqlite.Connection, row: sqlite3.Row, now: datetime
    ) -> int:
        """Count an attempt on the account as a failure (undone by a success); its new count."""
        forget_before = utc_text(now - FORGET_AFTER)
        async with conn.execute(
            "UPDATE auth_users SET failed_logins = CASE WHEN last_failed_login_at IS NULL"
            " OR last_failed_login_at < ? THEN 1 ELSE failed_logins + 1 END,"
            " last_failed_login_at = ? WHERE id = ? RETURNING failed_logins",
            (forget_before, utc_text(now), row["id"]),
        ) as cursor:
            counted = await cursor.fetchone()
        failures = int(counted[0]) if counted is not None else 1
        delay = self.throttle.account_delay(failures)
        next_attempt = utc_text(now + timedelta(seconds=delay)) if delay > 0 else None
        await conn.execute(
            "UPDATE auth_users SET locked_until = ? WHERE id = ?", (next_attempt, row["id"])
        )
        return failures

    async def _record_backoff(self, row: sqlite3.Row, failures: int, now: datetime) -> None:
        """Audit and log once, as an account's wrong passwords start to make it wait."""
        username = row["username"]
        delay = self.throttle.account_delay(failures)
        until = now + timedelta(seconds=delay)
        before = user_from_row(row)
        async with self.db.transaction() as conn:
            await record_audit(
                conn,
                at=now,
                actor=BACKOFF_ACTOR,
                action="user.backoff",
                entity="user",
                entity_id=username,
                before={**before.to_json(), "failed_logins": failures - 1},
                after={
                    **dataclasses.replace(before, locked_until=until).to_json(),
                    "failed_logins": failures,
                },
            )
        log.warning(
            "repeated wrong passwords: logins to this account now wait between attempts",
            extra={"username": username, "failures": failures, "wait_s": delay},
        )

    # --- machine tokens

    async def create_token(
        self, name: object, roles: Iterable[object], *, actor: str
    ) -> tuple[Token, str]:
        """A new token and its secret; the secret is returned this once and only its digest kept."""
        label = check_name(name, "token name", required=True)
        role_set = parse_roles(roles, allowed=TOKEN_ROLES)
        secret = TOKEN_PREFIX + new_secret()
        now = self.clock.now()
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                "INSERT INTO auth_tokens (name, secret_hash, roles, created_at, created_by)"
                " VALUES (?, ?, ?, ?, ?)",
                (label, digest(secret), roles_text(role_set), utc_text(now), actor),
            )
            token = Token(cursor.lastrowid or 0, label, role_set, now, actor, None, None)
            await record_audit(
                conn,
                at=now,
                actor=actor,
                action="token.create",
                entity="token",
                entity_id=str(token.id),
                before=None,
                after=token.to_json(),
            )
        log.info("token created", extra={"token_id": token.id, "token_name": label, "actor": actor})
        return token, secret

    async def list_tokens(self) -> list[Token]:
        rows = await self.db.fetch_all(
            f"SELECT {_TOKEN_COLUMNS} FROM auth_tokens ORDER BY id"  # noqa: S608  # constant columns
        )
        return [_token(row) for row in rows]

    async def revoke_token(self, token_id: int, *, actor: str) -> Token:
        """Revoke a token: requests bearing it are refused from now on. Twice is a no-op."""
        now = self.clock.now()
        async with self.db.transaction() as conn:
            async with conn.execute(
                f"SELECT {_TOKEN_COLUMNS} FROM auth_tokens WHERE id = ?",  # noqa: S608  # constant columns
                (token_id,),
            ) as cursor:
                row = await cursor.fetchone()
            if row is None:
                raise UnknownToken(f"no token {token_id}")
            before = _token(row)
            if before.revoked_at is not None:
                return before
            await conn.execute(
                "UPDATE auth_tokens SET revoked_at = ? WHERE id = ?", (utc_text(now), token_id)
            )
            after = dataclasses.replace(before, revoked_at=now)
            await record_audit(
                conn,
                at=now,
                actor=actor,
                action="token.revoke",
                entity="token",
                entity_id=str(token_id),
                before=before.to_json(),
                after=after.to_json(),
            )
        log.info("token revoked", extra={"token_id": token_id, "actor": actor})
        return after

    async def resolve_token(self, secret: str) -> Principal | None:
        """The principal behind a bearer secret, or None if unknown or revoked."""
        row = await self.db.fetch_one(
            "SELECT id, name, roles, revoked_at, last_used_at FROM auth_tokens"
            " WHERE secret_hash = ?",
            (digest(secret),),
        )
        if row is None or row["revoked_at"] is not None:
            return None
        now = self.clock.now()
        last_used = row["last_used_at"]
        if last_used is None or now - parse_utc(last_used) >= LAST_USED_RESOLUTION:
            await self.db.execute(
                "UPDATE auth_tokens SET last_used_at = ? WHERE id = ?", (utc_text(now), row["id"])
            )
        return Principal("token", row["id"], row["name"], stored_roles(row["roles"]))

    # --- rows

    async def _user_row(self, conn: aiosqlite.Connection, username: str) -> sqlite3.Row | None:
        return await user_row(conn, username)


async def user_row(conn: aiosqlite.Connection, username: str) -> sqlite3.Row | None:
    """A user's row (with its pending grant) on `conn`, inside or outside a transaction."""
    async with conn.execute(
        f"SELECT {_USER_COLUMNS} FROM auth_users WHERE username = ?",  # noqa: S608  # constant columns
        (username,),
    ) as cursor:
        return await cursor.fetchone()


def _account_wait(row: sqlite3.Row, now: datetime) -> float:
    """Seconds this account's logins must still wait after its wrong passwords."""
    if row["locked_until"] is None:
        return 0.0
    return max(0.0, (parse_utc(row["locked_until"]) - now).total_seconds())


def _optional_time(text: str | None) -> datetime | None:
    return parse_utc(text) if text is not None else None


def user_from_row(row: sqlite3.Row) -> User:
    pending = row["pending_roles"]
    return User(
        id=row["id"],
        username=row["username"],
        display_name=row["display_name"],
        roles=stored_roles(row["roles"]),
        created_at=parse_utc(row["created_at"]),
        disabled_at=_optional_time(row["disabled_at"]),
        locked_until=_optional_time(row["locked_until"]),
        pending_roles=stored_roles(pending) if pending is not None else frozenset(),
    )


def _token(row: sqlite3.Row) -> Token:
    return Token(
        id=row["id"],
        name=row["name"],
        roles=stored_roles(row["roles"]),
        created_at=parse_utc(row["created_at"]),
        created_by=row["created_by"],
        revoked_at=_optional_time(row["revoked_at"]),
        last_used_at=_optional_time(row["last_used_at"]),
    )


# Staff accounts as an exercise's own database receives them: who they are, their password and
# roles; never their sessions, tokens or pending grants.
_COPIED_USER_COLUMNS = (
    "id",
    "username",
    "display_name",
    "password_hash",
    "roles",
    "disabled_at",
    "created_at",
    "created_by",
)


def read_users(source: Path) -> list[tuple[object, ...]]:
    """The staff accounts of the database at `source`, read-only (it is never written): what
    copy_users writes into an exercise's database."""
    if not source.exists():
        return []
    uri = f"{source.resolve().as_uri()}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as real:
        try:
            return [
                tuple(row)
                for row in real.execute(
                    f"SELECT {', '.join(_COPIED_USER_COLUMNS)} FROM auth_users"  # noqa: S608  # fixed names
                )
            ]
        except sqlite3.OperationalError:
            return []  # a database not migrated yet: no accounts


async def copy_users(conn: aiosqlite.Connection, users: Iterable[tuple[object, ...]]) -> int:
    """Write accounts read by read_users into this (an exercise's, empty) database."""
    rows = list(users)
    placeholders = ", ".join("?" for _ in _COPIED_USER_COLUMNS)
    await conn.executemany(
        f"INSERT INTO auth_users ({', '.join(_COPIED_USER_COLUMNS)})"  # noqa: S608  # fixed names
        f" VALUES ({placeholders})",
        rows,
    )
    return len(rows)
