"""Roles, principals, staff accounts and machine tokens, and the auth errors; pure, no I/O.

CanhbaoError
└── AuthError
    ├── LoginRefused      unknown user, wrong password, disabled or locked account: one
    │                     answer for all four on purpose, so usernames cannot be probed
    ├── InvalidAccount    bad username, unknown role, short password, bad token name
    ├── UserExists        the username is taken
    ├── UnknownUser       no such user
    └── UnknownToken      no such token
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal

from canhbao.clock import utc_text
from canhbao.errors import CanhbaoError


class Role(StrEnum):
    admin = "admin"  # manages users and tokens, reads the audit log; passes every role check
    issuer = "issuer"  # drafts alerts
    approver = "approver"  # approves alerts drafted by someone else
    operator = "operator"  # answers the hotline
    dispatcher = "dispatcher"  # assigns rescue requests to teams
    team = "team"  # a rescue team's account
    gauge = "gauge"  # a machine client that pushes readings


ROLE_NAMES = frozenset(role.value for role in Role)
# Roles that can approve an alert: admin passes every role check, so granting admin grants
# approval too. Grants of these are what the two-admin rule and the sponsor check look at.
APPROVING_ROLES = frozenset({Role.approver, Role.admin})
# Roles a machine token may carry: a leaked machine secret must not administer the system.
TOKEN_ROLES = frozenset(Role) - {Role.admin}

USERNAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
MAX_NAME_LENGTH = 200
# Longer passwords are refused before hashing: argon2 would hash a megabyte without complaint,
# which would make the login form a CPU sink.
MAX_PASSWORD_LENGTH = 1024


class AuthError(CanhbaoError):
    """Base of the auth errors; `status` and `code` are how the API answers each."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "auth_error"


class LoginRefused(AuthError):
    status = 401
    code = "login_refused"

    def __init__(self) -> None:
        super().__init__("wrong username or password, or the account is locked")


class InvalidAccount(AuthError):
    status = 400
    code = "invalid_account"


class UserExists(AuthError):
    status = 409
    code = "user_exists"


class UnknownUser(AuthError):
    status = 404
    code = "unknown_user"


class UnknownToken(AuthError):
    status = 404
    code = "unknown_token"


@dataclass(frozen=True)
class Principal:
    """Who is making a request: a staff user (cookie session) or a machine token (bearer)."""

    kind: Literal["user", "token"]
    id: int
    name: str
    roles: frozenset[Role]

    @property
    def actor(self) -> str:
        """How the audit log names this principal."""
        return f"user:{self.name}" if self.kind == "user" else f"token:{self.id}"

    def has_any(self, roles: Iterable[Role]) -> bool:
        """Whether this principal holds one of `roles`; admin holds them all."""
        return Role.admin in self.roles or not self.roles.isdisjoint(roles)


@dataclass(frozen=True)
class User:
    id: int
    username: str
    display_name: str
    roles: frozenset[Role]
    created_at: datetime
    disabled_at: datetime | None
    locked_until: datetime | None
    # Approving roles granted by one admin and waiting for a second (auth.approver_grant_admins).
    pending_roles: frozenset[Role] = frozenset()

    def to_json(self) -> dict[str, Any]:
        """The public view; also what the audit log records (no password hash by design)."""
        return {
            "id": self.id,
            "username": self.username,
            "display_name": self.display_name,
            "roles": sorted(self.roles),
            "pending_roles": sorted(self.pending_roles),
            "created_at": utc_text(self.created_at),
            "disabled_at": utc_text(self.disabled_at) if self.disabled_at else None,
            "locked_until": utc_text(self.locked_until) if self.locked_until else None,
        }


@dataclass(frozen=True)
class Token:
    id: int
    name: str
    roles: frozenset[Role]
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    last_used_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        """The public view; the secret is shown once at creation and never stored."""
        return {
            "id": self.id,
            "name": self.name,
            "roles": sorted(self.roles),
            "created_at": utc_text(self.created_at),
            "created_by": self.created_by,
            "revoked_at": utc_text(self.revoked_at) if self.revoked_at else None,
            "last_used_at": utc_text(self.last_used_at) if self.last_used_at else None,
        }


@dataclass(frozen=True)
class Session:
    """A logged-in staff session as the middleware resolved it."""

    principal: Principal
    id_hash: str  # the stored digest of the cookie value
    csrf_token: str
    expires_at: datetime


def parse_roles(
    values: Iterable[object], *, allowed: frozenset[Role] = frozenset(Role)
) -> frozenset[Role]:
    """Role names → Roles; at least one, each known and allowed, or InvalidAccount."""
    roles: set[Role] = set()
    for value in values:
        if not isinstance(value, str) or value not in ROLE_NAMES:
            known = ", ".join(Role)
            raise InvalidAccount(f"unknown role {value!r}; roles are {known}")
        role = Role(value)
        if role not in allowed:
            raise InvalidAccount(f"role {role} is not allowed here")
        roles.add(role)
    if not roles:
        raise InvalidAccount("at least one role is required")
    return frozenset(roles)


def roles_text(roles: frozenset[Role]) -> str:
    return json.dumps(sorted(roles))


def stored_roles(text: str) -> frozenset[Role]:
    # A role a later version removed is dropped rather than failing every request of its holder.
    return frozenset(Role(name) for name in json.loads(text) if name in ROLE_NAMES)


def check_username(username: object) -> str:
    """A username as stored: lower case ASCII letters, digits, '.', '_' or '-', up to 64."""
    if not isinstance(username, str) or not USERNAME_PATTERN.fullmatch(username):
        raise InvalidAccount(
            "username must be 1-64 lower-case letters, digits, '.', '_' or '-',"
            " starting with a letter or digit"
        )
    return username


def check_password(password: object, min_length: int) -> str:
    if not isinstance(password, str) or len(password) < min_length:
        raise InvalidAccount(f"password must be at least {min_length} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidAccount(f"password must be at most {MAX_PASSWORD_LENGTH} characters")
    return password


def check_name(name: object, what: str, *, required: bool) -> str:
    if not isinstance(name, str) or len(name) > MAX_NAME_LENGTH or (required and not name.strip()):
        qualifier = "a non-empty" if required else "a"
        raise InvalidAccount(
            f"{what} must be {qualifier} string of at most {MAX_NAME_LENGTH} characters"
        )
    return name.strip()
