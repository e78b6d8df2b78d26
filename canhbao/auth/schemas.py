"""The auth API's request models (validated by canhbao.api, published in the OpenAPI)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from canhbao.api import ApiModel, Id, Name, QueryModel
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
