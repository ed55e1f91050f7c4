"""Authenticate a host by the certificate it presented in the TLS handshake.

The handshake proves that the CA signed the certificate and that the client has
its private key. Revocation and expiry are checked here, against the database, on every
request: a CRL in the handshake would miss resumed sessions and live connections.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from sqlalchemy import Connection, Row

from hostca.core.errors import ForbiddenError, HostcaError, UnauthorizedError
from hostca.service.audit_log import record_failure
from hostca.service.context import Actor, ServiceContext
from hostca.service.issuance import format_serial
from hostca.store import certificate_records

__all__ = [
    "HostIdentity",
    "authenticate_host",
    "authenticate_host_on",
    "check_host_certificate",
    "require_peer_certificate",
]


@dataclass(frozen=True)
class HostIdentity:
    host_id: str
    serial_number: str
    certificate: Row[Any]

    @property
    def actor_name(self) -> str:
        return f"host:{self.host_id}"


def _colon_hex(digest: bytes) -> str:
    return ":".join(f"{byte:02X}" for byte in digest)


def require_peer_certificate(peer_der: bytes | None) -> bytes:
    """Return the peer certificate, or raise ``certificate_required`` when the client sent none."""
    if not peer_der:
        raise UnauthorizedError(
            "this request needs the host's certificate; connect with the host's key and certificate "
            "(mutual TLS), or enrol first with 'hostca agent enroll'.",
            code="certificate_required",
        )
    return peer_der


def check_host_certificate(
    connection: Connection, peer_der: bytes | None, now: datetime
) -> HostIdentity:
    """Return the host of a verified peer certificate, or raise why it may not act."""
    peer_der = require_peer_certificate(peer_der)
    try:
        peer = x509.load_der_x509_certificate(peer_der)
    except ValueError:
        # The handshake verified the CA's signature, so only a TLS layer that passes
        # on something else gets here. It is rejected like an unknown certificate.
        raise UnauthorizedError(
            "the client certificate cannot be decoded as X.509; connect with the certificate "
            "that 'hostca agent enroll' wrote.",
            code="certificate_unknown",
        ) from None
    serial = format_serial(peer.serial_number)
    row = certificate_records.find_certificate(connection, serial)
    if row is None or row.fingerprint_sha256 != _colon_hex(hashlib.sha256(peer_der).digest()):
        raise UnauthorizedError(
            f"certificate {serial}: not issued by this server; enrol with 'hostca agent enroll'.",
            code="certificate_unknown",
            details={"serial_number": serial},
        )
    if row.status == "revoked":
        # A rekey or reissue revokes the earlier certificates as superseded, and
        # then the host already has a newer certificate to use.
        remedy = (
            "a rekey or reissue replaced it, so connect with the host's newest certificate "
            "('hostca agent status' shows it); if the host lost that one, it needs a reissue "
            "token from the administrator and 'hostca agent enroll --force'."
            if row.revocation_reason == "superseded"
            else "the host needs a reissue token from the administrator and "
            "'hostca agent enroll --force'."
        )
        raise ForbiddenError(
            f"certificate {serial} of host {row.host_id} was revoked at {row.revoked_at.isoformat()} "
            f"({row.revocation_reason}); {remedy}",
            code="certificate_revoked",
            details={"serial_number": serial, "host_id": row.host_id},
        )
    if row.not_after <= now:
        raise ForbiddenError(
            f"certificate {serial} of host {row.host_id} expired at {row.not_after.isoformat()}; "
            "the host needs a reissue token from the administrator and 'hostca agent enroll --force'.",
            code="certificate_expired",
            details={"serial_number": serial, "host_id": row.host_id},
        )
    if row.not_before > now:
        raise ForbiddenError(
            f"certificate {serial} is not valid before {row.not_before.isoformat()} and the server's "
            f"time is {now.isoformat()}; check the clocks of the host and the server.",
            code="certificate_not_yet_valid",
            details={"serial_number": serial, "host_id": row.host_id},
        )
    return HostIdentity(host_id=str(row.host_id), serial_number=serial, certificate=row)


def authenticate_host(
    context: ServiceContext, peer_der: bytes | None, source_ip: str | None, action: str
) -> HostIdentity:
    """Check the peer certificate in a read transaction; audit a rejection."""
    with context.database.engine.connect() as connection:
        return authenticate_host_on(connection, context, peer_der, source_ip, action)


def authenticate_host_on(
    connection: Connection,
    context: ServiceContext,
    peer_der: bytes | None,
    source_ip: str | None,
    action: str,
) -> HostIdentity:
    """Check the peer certificate on the caller's connection; audit a rejection."""
    try:
        return check_host_certificate(connection, peer_der, context.clock())
    except HostcaError as error:
        record_failure(
            context,
            error,
            category="CERT",
            action=action,
            actor=Actor.anonymous(source_ip),
            target=error.details.get("serial_number"),
            host_id=error.details.get("host_id"),
        )
        raise
