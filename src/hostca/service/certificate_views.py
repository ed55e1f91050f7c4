"""Certificate records as administrators see them, with the derived "expired" status."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row

from hostca.core.errors import InvalidRequestError, NotFoundError
from hostca.service.context import ServiceContext
from hostca.service.host_lookup import resolve_host
from hostca.service.issuance import parse_serial
from hostca.store import certificate_records

__all__ = ["CERTIFICATE_STATUSES", "certificate_view", "list_certificates", "show_certificate"]

CERTIFICATE_STATUSES = ("valid", "superseded", "revoked", "expired")


def certificate_status(row: Row[Any], now: datetime) -> str:
    if row.status != "revoked" and row.not_after <= now:
        return "expired"
    return str(row.status)


def certificate_view(row: Row[Any], now: datetime, *, with_pem: bool = False) -> dict[str, Any]:
    view: dict[str, Any] = {
        "serial_number": row.serial_number,
        "host_id": row.host_id,
        "status": certificate_status(row, now),
        "names": list(row.names),
        "not_before": row.not_before,
        "not_after": row.not_after,
        "issued_at": row.issued_at,
        "revoked_at": row.revoked_at,
        "revocation_reason": row.revocation_reason,
        "fingerprint_sha256": row.fingerprint_sha256,
        "key_type": row.key_type,
    }
    if with_pem:
        view["certificate"] = row.pem
    return view


def list_certificates(
    context: ServiceContext,
    *,
    host: str | None,
    status: str | None,
    limit: int = 1000,
    offset: int = 0,
    expires_before: datetime | None = None,
) -> list[dict[str, Any]]:
    if status is not None and status not in CERTIFICATE_STATUSES:
        raise InvalidRequestError(
            f"{status}: unknown status; use one of {', '.join(CERTIFICATE_STATUSES)}.",
            code="status_invalid",
        )
    now = context.clock()
    with context.database.engine.connect() as connection:
        host_id = str(resolve_host(connection, host).host_id) if host else None
        rows = certificate_records.list_certificates(
            connection,
            host_id=host_id,
            status=status,
            now=now,
            limit=min(max(limit, 1), 10_000),
            offset=max(offset, 0),
            expires_before=expires_before,
        )
    return [certificate_view(row, now) for row in rows]


def show_certificate(context: ServiceContext, serial_text: str) -> dict[str, Any]:
    serial = parse_serial(serial_text)
    with context.database.engine.connect() as connection:
        row = certificate_records.find_certificate(connection, serial)
    if row is None:
        raise NotFoundError(
            f"{serial}: no certificate has this serial number; 'hostca cert list' shows them.",
            code="certificate_not_found",
        )
    return certificate_view(row, context.clock(), with_pem=True)
