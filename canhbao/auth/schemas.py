"""The auth API's request models (validated by canhbao.api, published in the OpenAPI)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from canhbao.api import ApiModel, Id, Name, QueryModel, ResponseModel
from canhbao.auth.models import MAX_NAME_LENGTH, MAX_PASSWORD_LENGTH, Role

AUDIT_PAGE_MAX = 500

Username = Annotated[str, Field(min_length=1, max_length=64)]
Password = Annotated[str, Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)]
Roles = Annotated[list[Role], Field(max_length=len(Role))]


class LoginBody(ApiModel):
    username: Username
    password: Password


class CreateUserBody(ApiModel):
    username: Username
    password: Password
    roles: Roles
    display_name: Annotated[str, Field(max_length=MAX_NAME_LENGTH)] = ""


class RolesBody(ApiModel):
    roles: Roles


class PasswordBody(ApiModel):
    password: Password


class CreateTokenBody(ApiModel):
    name: Annotated[str, Field(min_length=1, max_length=MAX_NAME_LENGTH)]
    roles: Roles


class UserPath(QueryModel):
    username: Username


class TokenPath(QueryModel):
    id: Id


class AuditQuery(QueryModel):
    limit: Annotated[int, Field(ge=1, le=AUDIT_PAGE_MAX)] = 50
    before_id: Id | None = None
    entity: Name | None = None
    entity_id: Name | None = None
    actor: Name | None = None


# -- answers ----------------------------------------------------------------------------------


class UserView(ResponseModel):
    id: int
    username: str
    display_name: str
    roles: list[str]
    pending_roles: list[str]  # granted, awaiting a second admin's confirmation
    created_at: str
    disabled_at: str | None
    locked_until: str | None


class UserList(ResponseModel):
    items: list[UserView]


class TokenView(ResponseModel):
    id: int
    name: str
    roles: list[str]
    created_at: str
    created_by: str
    revoked_at: str | None
    last_used_at: str | None


class TokenList(ResponseModel):
    items: list[TokenView]


class CreatedToken(ResponseModel):
    token: TokenView
    secret: str


class SessionView(ResponseModel):
    """A session: who, their roles, and the CSRF token writes must send back."""

    user: UserView
    roles: list[str]
    csrf_token: str
    expires_at: str


class TokenName(ResponseModel):
    id: int
    name: str


class TokenMe(ResponseModel):
    token: TokenName
    roles: list[str]


class AuditPage(ResponseModel):
    items: list[dict[str, Any]]
    next_before_id: int | None
