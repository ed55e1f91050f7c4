"""Revocation of a host's certificates by an administrator."""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from sqlalchemy import Connection

from hostca.core.crl import parse_reason_code, reason_code_name
from hostca.core.errors import (
    ConflictError,
    ForbiddenError,
    HostcaError,
    InvalidRequestError,
    NotFoundError,
)
from hostca.core.tokens import validate_reason
from hostca.service.audit_log import append_event, record_failure
from hostca.service.context import Actor, ServiceContext
from hostca.service.host_lookup import find_host_by_id, resolve_host_by_primary_name
from hostca.service.issuance import parse_serial
from hostca.store import certificate_records, host_records

__all__ = ["RevokeRequest", "revoke"]

log = structlog.get_logger("hostca.revoke")


@dataclass(frozen=True)
class RevokeRequest:
    host: str | None = None
    host_id: str | None = None
    serial_number: str | None = None
    reason_code: str | int = "unspecified"
    reason: str | None = None


def _check_not_server_identity(connection: Connection, host_id: str) -> None:
    """Reject revoking the primary server's own certificates, which are its TLS identity."""
    host = host_records.find_host(connection, host_id)
    if host is not None and host.is_primary_server:
        raise ForbiddenError(
            f"{host.primary_name}: the primary server's own host ({host_id}); its certificate is the "
            "server's TLS identity, and revoking it would make every host that checks the CRL "
            "reject the server. Revoke the certificates of other hosts only.",
            code="host_is_primary_server",
            details={"host_id": host_id},
        )


def _target_of(request: RevokeRequest) -> str | None:
    return request.serial_number or request.host_id or request.host


def revoke(context: ServiceContext, actor: Actor, request: RevokeRequest) -> list[str]:
    """Revoke the named certificate, or every unexpired certificate of the named host."""
    host_id: str | None = None
    try:
        selectors = [v for v in (request.host, request.host_id, request.serial_number) if v]
        if len(selectors) != 1:
            raise InvalidRequestError(
                "name exactly one of --host PRIMARY_NAME, --host-id ID or --serial S.",
                code="invalid_request",
            )
        reason_code = reason_code_name(parse_reason_code(request.reason_code))
        reason = validate_reason(request.reason)
        now = context.clock()
        with context.database.transaction() as connection:
            if request.serial_number:
                serial = parse_serial(request.serial_number)
                row = certificate_records.find_certificate(connection, serial)
                if row is None:
                    raise NotFoundError(
                        f"{serial}: no certificate has this serial number; 'hostca cert list' shows them.",
                        code="certificate_not_found",
                    )
                if row.status == "revoked":
                    raise ConflictError(
                        f"certificate {serial} was already revoked at {row.revoked_at.isoformat()}.",
                        code="certificate_already_revoked",
                    )
                host_id, serials = str(row.host_id), [serial]
                _check_not_server_identity(connection, host_id)
            else:
                host = (
                    find_host_by_id(connection, request.host_id)
                    if request.host_id
                    else resolve_host_by_primary_name(connection, request.host or "")
                )
                host_id = str(host.host_id)
                _check_not_server_identity(connection, host_id)
                serials = [
                    row.serial_number
                    for row in certificate_records.live_certificates_of_host(
                        connection, host_id, now
                    )
                ]
                if not serials:
                    raise NotFoundError(
                        f"host {host.primary_name} ({host_id}) has no certificate to revoke: none is valid.",
                        code="certificate_not_found",
                    )
            certificate_records.mark_revoked(connection, serials, now, reason_code)
            append_event(
                connection,
                context,
                category="CERT",
                action="revoke",
                actor=actor,
                target=",".join(serials),
                host_id=host_id,
                reason=reason,
                details={"reason_code": reason_code, "serial_numbers": serials},
            )
    except HostcaError as error:
        record_failure(
            context,
            error,
            category="CERT",
            action="revoke",
            actor=actor,
            target=_target_of(request),
            host_id=host_id,
        )
        raise
    context.notify_revocation()
    log.info(
        "certificates_revoked",
        host_id=host_id,
        serial_numbers=serials,
        reason_code=reason_code,
        actor=actor.name,
    )
    return serials
