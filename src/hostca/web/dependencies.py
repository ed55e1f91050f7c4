"""Request dependencies: who is calling, from where, and with which certificate."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from hostca.core.api_keys import looks_like_api_key
from hostca.core.errors import HostcaError, UnauthorizedError
from hostca.service.api_key_service import authenticate_api_key
from hostca.service.audit_log import record_failure
from hostca.service.context import Actor, ServiceContext
from hostca.service.permissions import check_permission
from hostca.service.user_service import AdminIdentity, authenticate_session

__all__ = ["Admin", "Context", "authorize", "peer_certificate", "source_ip"]


async def get_context(request: Request) -> ServiceContext:
    # async: FastAPI runs a sync dependency in the thread pool, one hop per request
    # for a lookup that never blocks.
    context: ServiceContext = request.app.state.context
    return context


Context = Annotated[ServiceContext, Depends(get_context)]


def source_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def peer_certificate(request: Request) -> bytes | None:
    tls = request.scope.get("extensions", {}).get("tls") or {}
    der: bytes | None = tls.get("client_cert_der")
    return der or None


def get_admin(request: Request, context: Context) -> AdminIdentity:
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        error = UnauthorizedError(
            "this request needs an administrator session or API key; log in with 'hostca login' "
            "or set HOSTCA_API_KEY, which send 'Authorization: Bearer <credential>'.",
            code="unauthorized",
        )
        record_failure(
            context,
            error,
            category="LOGIN",
            action="authenticate",
            actor=Actor.anonymous(source_ip(request)),
            target=request.url.path,
        )
        raise error
    credential = secret.strip()
    if looks_like_api_key(credential):
        return authenticate_api_key(context, credential, source_ip(request))
    return authenticate_session(context, credential, source_ip(request))


Admin = Annotated[AdminIdentity, Depends(get_admin)]


def authorize(
    context: ServiceContext, admin: AdminIdentity, action: str, request: Request
) -> Actor:
    """Check the permission table; audit and raise ``forbidden`` when the role lacks it."""
    actor = admin.actor(source_ip(request))
    try:
        check_permission(admin.role, action, admin.name)
    except HostcaError as error:
        record_failure(
            context,
            error,
            category="SEC_CONFIG",
            action="authorize",
            actor=actor,
            target=request.url.path,
        )
        raise
    return actor
