"""Renewal over mutual TLS: a host with a usable certificate gets a new one.

With the same key the previous certificate becomes superseded. With a new key
(``--rekey``) it is revoked with reason superseded, so the old key stops working.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from hostca.core.csr import load_csr
from hostca.core.errors import ForbiddenError, HostcaError
from hostca.core.names import normalize_names
from hostca.service.audit_log import append_event, record_failure
from hostca.service.context import Actor, ServiceContext
from hostca.service.discovered_names import record_discovered_names
from hostca.service.domain_settings import load_domain_settings
from hostca.service.host_auth import check_host_certificate, require_peer_certificate
from hostca.service.issuance import IssuedCertificate, issue_next_certificate, public_key_of

__all__ = ["RenewRequest", "renew"]

log = structlog.get_logger("hostca.renew")


@dataclass(frozen=True)
class RenewRequest:
    peer_der: bytes | None
    csr_pem: str | None
    source_ip: str | None


def renew(context: ServiceContext, request: RenewRequest) -> IssuedCertificate:
    """Issue the next certificate of the authenticated host, as one transaction."""
    actor = Actor.anonymous(request.source_ip)
    host_id: str | None = None
    try:
        # A client without a certificate is rejected before its CSR costs any work.
        require_peer_certificate(request.peer_der)
        checked = load_csr(request.csr_pem) if request.csr_pem is not None else None
        now = context.clock()
        with context.database.transaction() as connection:
            identity = check_host_certificate(connection, request.peer_der, now)
            host_id = identity.host_id
            if identity.certificate.status == "superseded":
                # Only the newest certificate renews, so parallel renewals issue one certificate.
                raise ForbiddenError(
                    f"certificate {identity.serial_number} of host {host_id} was superseded by a newer "
                    "certificate; renew with the newest one. If the host lost it, it needs a reissue token "
                    "and 'hostca agent enroll --force'.",
                    code="certificate_superseded",
                    details={"serial_number": identity.serial_number, "host_id": host_id},
                )
            actor = Actor(name=identity.actor_name, source_ip=request.source_ip)

            settings = load_domain_settings(connection)
            if checked is not None:
                further = normalize_names(checked.requested_names)
                record_discovered_names(
                    connection, host_id, further, auto_map=settings.auto_map, now=now
                )
            public_key = (
                checked.public_key
                if checked is not None
                else public_key_of(identity.certificate.pem)
            )
            issued, earlier = issue_next_certificate(
                connection,
                context,
                host_id=host_id,
                public_key=public_key,
                lifetime=settings.certificate_lifetime,
                now=now,
                retire="revoke" if checked is not None else "supersede",
            )
            append_event(
                connection,
                context,
                category="CERT",
                action="rekey" if checked else "renew",
                actor=actor,
                target=issued.serial_number,
                host_id=host_id,
                details={
                    "previous": identity.serial_number,
                    "names": list(issued.names),
                    "not_after": issued.not_after.isoformat(),
                    "revoked" if checked else "superseded": earlier,
                },
            )
    except HostcaError as error:
        record_failure(
            context,
            error,
            category="CERT",
            action="renew",
            actor=actor,
            target=error.details.get("serial_number"),
            host_id=host_id or error.details.get("host_id"),
        )
        raise
    if checked is not None and earlier:
        context.notify_revocation()
    log.info(
        "certificate_renewed",
        host_id=host_id,
        serial_number=issued.serial_number,
        rekey=checked is not None,
        source_ip=request.source_ip,
    )
    return issued
