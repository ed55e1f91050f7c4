"""Administration routes: sessions, tokens, hosts, certificates, audit and settings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from hostca.core.tokens import parse_timestamp
from hostca.service import (
    audit_service,
    certificate_views,
    host_service,
    settings_service,
    token_service,
    user_service,
)
from hostca.service.revocation import RevokeRequest, revoke
from hostca.web.dependencies import Admin, Context, authorize, source_ip

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["administration"])

# Paging offsets stay within a 32-bit signed integer, far past any real row count.
# Without a bound, an offset past SQLite's 64-bit INTEGER raised OverflowError.
MAX_OFFSET = 2**31 - 1


class LoginBody(BaseModel):
    user: str = Field(max_length=64)
    password: str = Field(max_length=1024)


class TokenBody(BaseModel):
    name: str = Field(max_length=256)
    kind: str = "authorization"
    max_uses: int = 1
    valid_for: str | None = Field(default=None, max_length=64)
    valid_until: str | None = Field(default=None, max_length=64)
    reason: str | None = Field(default=None, max_length=4096)
    host: str | None = Field(default=None, max_length=300)
    host_id: str | None = Field(default=None, max_length=64)


class DeleteBody(BaseModel):
    reason: str | None = Field(default=None, max_length=4096)


class HostBody(BaseModel):
    name: str = Field(max_length=300)


class MappingBody(BaseModel):
    name: str = Field(max_length=300)
    shared: bool = False


class RevokeBody(BaseModel):
    host: str | None = Field(default=None, max_length=300)
    host_id: str | None = Field(default=None, max_length=64)
    serial_number: str | None = Field(default=None, max_length=128)
    reason_code: str | int = "unspecified"
    reason: str | None = Field(default=None, max_length=4096)


class SettingBody(BaseModel):
    value: str | bool | int


# Sessions


@router.post("/login")
def post_login(body: LoginBody, request: Request, context: Context) -> dict[str, Any]:
    result = user_service.login(context, body.user, body.password, source_ip(request))
    return {
        "session": result.secret,
        "expires_at": result.expires_at,
        "user": result.identity.name,
        "role": result.identity.role,
    }


@router.post("/logout")
def post_logout(admin: Admin, request: Request, context: Context) -> dict[str, Any]:
    user_service.logout(context, admin, source_ip(request))
    return {"ended": True}


@router.get("/whoami")
def get_whoami(admin: Admin) -> dict[str, Any]:
    return {"user": admin.name, "role": admin.role}


# Tokens


@router.post("/tokens", status_code=201)
def post_token(body: TokenBody, admin: Admin, request: Request, context: Context) -> dict[str, Any]:
    action = "token.create_reissue" if body.kind == "reissue" else "token.create_authorization"
    actor = authorize(context, admin, action, request)
    created = token_service.create_token(
        context, actor, token_service.CreateTokenRequest(**body.model_dump())
    )
    return {**created.view, "value": created.value}


@router.get("/tokens")
def get_tokens(
    admin: Admin, request: Request, context: Context, all: bool = False
) -> list[dict[str, Any]]:
    authorize(context, admin, "view", request)
    return token_service.list_tokens(context, include_all=all)


@router.post("/tokens/cleanup")
def post_token_cleanup(admin: Admin, request: Request, context: Context) -> dict[str, Any]:
    actor = authorize(context, admin, "token.cleanup", request)
    return {"removed": token_service.cleanup_tokens(context, actor)}


@router.get("/tokens/{name}")
def get_token(name: str, admin: Admin, request: Request, context: Context) -> dict[str, Any]:
    authorize(context, admin, "view", request)
    return token_service.show_token(context, name)


@router.delete("/tokens/{name}")
def delete_token(
    name: str, admin: Admin, request: Request, context: Context, reason: str | None = None
) -> dict[str, Any]:
    actor = authorize(context, admin, "token.delete", request)
    token_service.delete_token(context, actor, name, reason)
    return {"name": name, "deleted": True}


# Hosts and mappings


@router.get("/hosts")
def get_hosts(
    admin: Admin,
    request: Request,
    context: Context,
    search: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    authorize(context, admin, "view", request)
    return host_service.list_hosts(context, search=search, limit=limit, offset=offset)


@router.post("/hosts", status_code=201)
def post_host(body: HostBody, admin: Admin, request: Request, context: Context) -> dict[str, Any]:
    actor = authorize(context, admin, "host.add", request)
    return host_service.add_host(context, actor, body.name)


@router.get("/mappings/pending")
def get_pending(admin: Admin, request: Request, context: Context) -> list[dict[str, Any]]:
    authorize(context, admin, "view", request)
    return host_service.pending_mappings(context)


@router.get("/hosts/{reference}")
def get_host(reference: str, admin: Admin, request: Request, context: Context) -> dict[str, Any]:
    authorize(context, admin, "view", request)
    return host_service.show_host(context, reference)


@router.post("/hosts/{reference}/mappings", status_code=201)
def post_mapping(
    reference: str, body: MappingBody, admin: Admin, request: Request, context: Context
) -> dict[str, Any]:
    actor = authorize(context, admin, "mapping.add", request)
    return host_service.add_mapping(context, actor, reference, body.name, shared=body.shared)


@router.delete("/hosts/{reference}/mappings/{name}")
def delete_mapping(
    reference: str, name: str, admin: Admin, request: Request, context: Context
) -> dict[str, Any]:
    actor = authorize(context, admin, "mapping.remove", request)
    return host_service.remove_mapping(context, actor, reference, name)


class AutoReissueBody(BaseModel):
    minutes: int = 2880


@router.post("/hosts/{reference}/mappings/{name}/approve")
def post_mapping_approve(
    reference: str, name: str, admin: Admin, request: Request, context: Context
) -> dict[str, Any]:
    actor = authorize(context, admin, "mapping.add", request)
    return host_service.decide_mapping(context, actor, reference, name, approve=True)


@router.post("/hosts/{reference}/mappings/{name}/reject")
def post_mapping_reject(
    reference: str, name: str, admin: Admin, request: Request, context: Context
) -> dict[str, Any]:
    actor = authorize(context, admin, "mapping.add", request)
    return host_service.decide_mapping(context, actor, reference, name, approve=False)


@router.post("/hosts/{reference}/auto-reissue")
def post_auto_reissue(
    reference: str, body: AutoReissueBody, admin: Admin, request: Request, context: Context
) -> dict[str, Any]:
    """Open the host's auto-reissue window for ``minutes`` (0 to 43,200; default 2,880)."""
    actor = authorize(context, admin, "host.auto_reissue", request)
    return host_service.set_auto_reissue(context, actor, reference, body.minutes)


@router.delete("/hosts/{reference}/auto-reissue")
def delete_auto_reissue(
    reference: str, admin: Admin, request: Request, context: Context
) -> dict[str, Any]:
    actor = authorize(context, admin, "host.auto_reissue", request)
    return host_service.set_auto_reissue(context, actor, reference, None)


@router.post("/hosts/{reference}/reset")
def post_host_reset(
    reference: str, admin: Admin, request: Request, context: Context
) -> dict[str, Any]:
    actor = authorize(context, admin, "host.reset", request)
    return host_service.reset_host(context, actor, reference)


# Certificates


@router.get("/certificates")
def get_certificates(
    admin: Admin,
    request: Request,
    context: Context,
    host: str | None = None,
    status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[dict[str, Any]]:
    authorize(context, admin, "view", request)
    return certificate_views.list_certificates(
        context, host=host, status=status, limit=limit, offset=offset
    )


@router.get("/certificates/{serial}")
def get_certificate(
    serial: str, admin: Admin, request: Request, context: Context
) -> dict[str, Any]:
    authorize(context, admin, "view", request)
    return certificate_views.show_certificate(context, serial)


@router.post("/certificates/revoke")
def post_revoke(
    body: RevokeBody, admin: Admin, request: Request, context: Context
) -> dict[str, Any]:
    actor = authorize(context, admin, "cert.revoke", request)
    serials = revoke(context, actor, RevokeRequest(**body.model_dump()))
    return {"revoked": serials}


# Audit and settings


@router.get("/audit")
def get_audit(
    admin: Admin,
    request: Request,
    context: Context,
    category: str | None = None,
    since: str | None = None,
    host: str | None = None,
    actor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    latest: bool = False,
) -> list[dict[str, Any]]:
    """List audit events oldest first; with latest=true, the newest ``limit`` events."""
    authorize(context, admin, "audit.view", request)
    since_time: datetime | None = parse_timestamp(since) if since else None
    host_id = None
    if host:
        host_id = host_service.show_host(context, host)["host_id"]
    query = audit_service.AuditQuery(
        category=category,
        since=since_time,
        host_id=host_id,
        actor=actor,
        limit=limit,
        offset=offset,
        latest=latest,
    )
    return audit_service.list_events(context, query)


@router.get("/audit/verify")
def get_audit_verify(admin: Admin, request: Request, context: Context) -> dict[str, Any]:
    authorize(context, admin, "audit.view", request)
    count, breaks = audit_service.verify_events(context)
    return {
        "events": count,
        "intact": not breaks,
        "breaks": [{"sequence": b.sequence, "problem": b.problem} for b in breaks],
    }


@router.get("/settings")
def get_settings(admin: Admin, request: Request, context: Context) -> dict[str, Any]:
    authorize(context, admin, "view", request)
    return settings_service.read_settings(context)


@router.patch("/settings/{key}")
@router.put("/settings/{key}")
def put_setting(
    key: str, body: SettingBody, admin: Admin, request: Request, context: Context
) -> dict[str, Any]:
    actor = authorize(context, admin, "settings.change", request)
    return settings_service.change_setting(context, actor, key, str(body.value))
