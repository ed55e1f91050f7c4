"""Use cases for authorization and reissue tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row

from hostca.core.errors import ConflictError, HostcaError, InvalidRequestError, NotFoundError
from hostca.core.tokens import (
    generate_token_value,
    hash_token_value,
    resolve_valid_until,
    validate_reason,
    validate_token_name,
)
from hostca.service.audit_log import append_event, record_failure
from hostca.service.context import Actor, ServiceContext
from hostca.service.host_lookup import resolve_host_for_reissue
from hostca.store import token_records

__all__ = [
    "CreateTokenRequest",
    "CreatedToken",
    "cleanup_tokens",
    "create_token",
    "delete_token",
    "list_tokens",
    "show_token",
    "token_view",
]

MAX_AUTHORIZATION_USES = 99_999


@dataclass(frozen=True)
class CreateTokenRequest:
    name: str
    kind: str = "authorization"
    max_uses: int = 1
    valid_for: str | None = None
    valid_until: str | None = None
    reason: str | None = None
    host: str | None = None
    host_id: str | None = None


@dataclass(frozen=True)
class CreatedToken:
    view: dict[str, Any]
    value: str


def token_state(row: Row[Any], now: datetime) -> str:
    if row.deleted_at is not None:
        return "deleted"
    if row.valid_until <= now:
        return "expired"
    if row.uses >= row.max_uses:
        return "used-up"
    return "active"


def token_view(row: Row[Any], now: datetime) -> dict[str, Any]:
    """Describe a token without its value, which is never stored."""
    return {
        "name": row.name,
        "kind": row.kind,
        "host_id": row.host_id,
        "max_uses": row.max_uses,
        "uses": row.uses,
        "valid_until": row.valid_until,
        "created_at": row.created_at,
        "created_by": row.created_by,
        "reason": row.reason,
        "state": token_state(row, now),
    }


def _check_max_uses(kind: str, max_uses: int) -> int:
    if kind == "reissue":
        if max_uses != 1:
            raise InvalidRequestError(
                f"{max_uses}: a reissue token always has exactly one use; leave out --max-uses.",
                code="max_uses_invalid",
            )
        return 1
    if not 1 <= max_uses <= MAX_AUTHORIZATION_USES:
        raise InvalidRequestError(
            f"{max_uses}: maximum uses must be from 1 to {MAX_AUTHORIZATION_USES:,}.",
            code="max_uses_invalid",
        )
    return max_uses


def _validate(request: CreateTokenRequest, now: datetime) -> tuple[str, int, datetime, str | None]:
    name = validate_token_name(request.name)
    if request.kind not in ("authorization", "reissue"):
        raise InvalidRequestError(
            f"{request.kind}: unknown token kind; use authorization or reissue.",
            code="invalid_request",
        )
    if request.kind == "reissue" and not (request.host or request.host_id):
        raise InvalidRequestError(
            "a reissue token needs the host it serves; give --host PRIMARY_NAME or --host-id ID.",
            code="host_required",
        )
    if request.kind == "authorization" and (request.host or request.host_id):
        raise InvalidRequestError(
            "an authorization token serves no particular host; add --reissue to bind it to a host.",
            code="invalid_request",
        )
    max_uses = _check_max_uses(request.kind, request.max_uses)
    valid_until = resolve_valid_until(
        now, valid_for=request.valid_for, valid_until=request.valid_until
    )
    return name, max_uses, valid_until, validate_reason(request.reason)


def create_token(
    context: ServiceContext, actor: Actor, request: CreateTokenRequest
) -> CreatedToken:
    """Create a token and return its value, which is shown this once and never stored."""
    now = context.clock()
    target = request.name
    host_id: str | None = None
    try:
        name, max_uses, valid_until, reason = _validate(request, now)
        value = generate_token_value()
        with context.database.transaction() as connection:
            if request.kind == "reissue":
                host_id = resolve_host_for_reissue(
                    connection, host=request.host, host_id=request.host_id
                )
            token_records.lock_token_name(connection, name)
            if token_records.find_live_token_by_name(connection, name) is not None:
                raise ConflictError(
                    f"{name}: a token with this name exists; choose another name or delete it first.",
                    code="token_name_taken",
                )
            token_records.insert_token(
                connection,
                name=name,
                value_hash=hash_token_value(context.token_hmac_key, value),
                kind=request.kind,
                host_id=host_id,
                max_uses=max_uses,
                uses=0,
                valid_until=valid_until,
                created_at=now,
                created_by=actor.name,
                reason=reason,
            )
            append_event(
                connection,
                context,
                category="TOKEN",
                action="create",
                actor=actor,
                target=name,
                host_id=host_id,
                reason=reason,
                details={
                    "kind": request.kind,
                    "max_uses": max_uses,
                    "valid_until": valid_until.isoformat(),
                },
            )
            row = token_records.find_live_token_by_name(connection, name)
    except HostcaError as error:
        record_failure(
            context,
            error,
            category="TOKEN",
            action="create",
            actor=actor,
            target=target,
            host_id=host_id,
            reason=request.reason if request.reason and len(request.reason) <= 512 else None,
        )
        raise
    assert row is not None
    return CreatedToken(view=token_view(row, now), value=value)


def list_tokens(context: ServiceContext, *, include_all: bool) -> list[dict[str, Any]]:
    """List tokens; without ``include_all`` only those not deleted."""
    now = context.clock()
    with context.database.transaction() as connection:
        rows = token_records.list_tokens(connection, include_deleted=include_all)
    return [token_view(row, now) for row in rows]


def _find_named(connection: Connection, name: str) -> Row[Any]:
    row = token_records.find_live_token_by_name(connection, name)
    if row is None:
        raise NotFoundError(
            f"{name}: no such token; 'hostca token list' shows the existing ones.",
            code="token_not_found",
        )
    return row


def show_token(context: ServiceContext, name: str) -> dict[str, Any]:
    with context.database.transaction() as connection:
        row = _find_named(connection, name)
    return token_view(row, context.clock())


def delete_token(context: ServiceContext, actor: Actor, name: str, reason: str | None) -> None:
    now = context.clock()
    try:
        reason = validate_reason(reason)
        with context.database.transaction() as connection:
            row = _find_named(connection, name)
            token_records.mark_token_deleted(connection, row.id, now)
            append_event(
                connection,
                context,
                category="TOKEN",
                action="delete",
                actor=actor,
                target=name,
                host_id=row.host_id,
                reason=reason,
            )
    except HostcaError as error:
        record_failure(context, error, category="TOKEN", action="delete", actor=actor, target=name)
        raise


def cleanup_tokens(context: ServiceContext, actor: Actor) -> list[str]:
    """Remove expired, used-up and deleted tokens; return their names."""
    now = context.clock()
    with context.database.transaction() as connection:
        removed = token_records.purge_unusable_tokens(connection, now)
        append_event(
            connection,
            context,
            category="TOKEN",
            action="cleanup",
            actor=actor,
            details={"removed": removed},
        )
    return removed
