"""Administration routes for user accounts and API keys, for roles with ``user.manage``
or ``apikey.manage`` in the permission table."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from hostca.service import api_key_service, user_service
from hostca.web.dependencies import Admin, Context, authorize, source_ip

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["administration"])


class UserBody(BaseModel):
    name: str = Field(max_length=64)
    role: str = Field(max_length=32)
    password: str = Field(max_length=1024)


class PasswordBody(BaseModel):
    password: str = Field(max_length=1024)


class ApiKeyBody(BaseModel):
    name: str = Field(max_length=64)
    role: str = Field(max_length=32)
    expires: str = Field(max_length=64, description="Validity from now, such as 30d or 12h.")


@router.get("/users")
def get_users(admin: Admin, request: Request, context: Context) -> list[dict[str, Any]]:
    authorize(context, admin, "user.manage", request)
    return user_service.list_users(context)


@router.post("/users", status_code=201)
def post_user(body: UserBody, admin: Admin, request: Request, context: Context) -> dict[str, Any]:
    actor = authorize(context, admin, "user.manage", request)
    return user_service.add_user(context, actor, body.name, body.role, body.password)


@router.post("/users/{name}/disable")
def post_user_disable(
    name: str, admin: Admin, request: Request, context: Context
) -> dict[str, Any]:
    actor = authorize(context, admin, "user.manage", request)
    return user_service.disable_user(context, actor, name)


@router.post("/users/{name}/enable")
def post_user_enable(name: str, admin: Admin, request: Request, context: Context) -> dict[str, Any]:
    actor = authorize(context, admin, "user.manage", request)
    return user_service.enable_user(context, actor, name)


@router.post("/users/{name}/password")
def post_user_password(
    name: str, body: PasswordBody, admin: Admin, request: Request, context: Context
) -> dict[str, Any]:
    authorize(context, admin, "user.manage", request)
    return user_service.change_password(context, admin, source_ip(request), name, body.password)


# API keys


@router.get("/apikeys")
def get_api_keys(admin: Admin, request: Request, context: Context) -> list[dict[str, Any]]:
    authorize(context, admin, "apikey.manage", request)
    return api_key_service.list_api_keys(context)


@router.post("/apikeys", status_code=201)
def post_api_key(
    body: ApiKeyBody, admin: Admin, request: Request, context: Context
) -> dict[str, Any]:
    """Create an API key; the response carries its ``value``, which is never shown again."""
    actor = authorize(context, admin, "apikey.manage", request)
    created = api_key_service.create_api_key(context, actor, body.name, body.role, body.expires)
    return {**created.view, "value": created.value}


@router.delete("/apikeys/{name}")
def delete_api_key(name: str, admin: Admin, request: Request, context: Context) -> dict[str, Any]:
    actor = authorize(context, admin, "apikey.manage", request)
    return api_key_service.revoke_api_key(context, actor, name)
