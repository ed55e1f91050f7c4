"""Generate, store and serve the CRL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import Connection

from hostca.core.crl import REASON_CODES, parse_reason_code, reason_extensions, sign_crl
from hostca.service.context import ServiceContext
from hostca.service.domain_settings import load_domain_settings
from hostca.store import certificate_records
from hostca.store.database import lock_for_transaction

__all__ = ["PublishedCrl", "current_crl", "publish_crl", "refresh_crl"]

# Replicas publish one CRL at a time, so each takes the next CRL number after the
# one committed before it.
CRL_LOCK = "hostca.crl"
# Only the newest CRL is served, and the two before it stay for a look at recent
# changes. Older ones are deleted, because each is large with many revocations
# (about 53 MB for a million entries).
KEPT_CRLS = 3


@dataclass(frozen=True)
class PublishedCrl:
    crl_number: int
    this_update: datetime
    next_update: datetime
    entries: int
    der: bytes


def publish_crl(context: ServiceContext) -> PublishedCrl:
    """Build a complete CRL with the next CRL number and store it."""
    now = context.clock()
    with context.database.transaction() as connection:
        lock_for_transaction(connection, CRL_LOCK)
        return _publish(connection, context, now)


def refresh_crl(context: ServiceContext, max_age: timedelta) -> PublishedCrl | None:
    """Publish a CRL unless the newest one is younger than ``max_age``; return the new one.

    Certificates past their not_after leave the CRL here, as every CRL lists only
    revoked certificates that have not expired.
    """
    now = context.clock()
    with context.database.transaction() as connection:
        lock_for_transaction(connection, CRL_LOCK)
        newest = certificate_records.latest_crl_time(connection)
        if newest is not None and newest > now - max_age:
            return None
        return _publish(connection, context, now)


def _publish(connection: Connection, context: ServiceContext, now: datetime) -> PublishedCrl:
    settings = load_domain_settings(connection)
    number = certificate_records.next_crl_number(connection)
    next_update = now + timedelta(hours=settings.crl_next_update_hours)
    crl = sign_crl(
        _revoked_certificates(connection, now),
        crl_number=number,
        this_update=now,
        next_update=next_update,
        ca_certificate=context.ca.certificate,
        ca_key=context.ca.private_key,
    )
    der = crl.public_bytes(Encoding.DER)
    certificate_records.insert_crl(
        connection,
        crl_number=number,
        this_update=now,
        next_update=next_update,
        entries=len(crl),
        der=der,
    )
    certificate_records.delete_crls_before(connection, number - KEPT_CRLS + 1)
    return PublishedCrl(number, now, next_update, len(crl), der)


def _revoked_certificates(connection: Connection, now: datetime) -> list[x509.RevokedCertificate]:
    """Build the CRL entries of the revoked, unexpired certificates.

    The loop runs once per entry, so it maps the stored reason name straight to
    the shared extensions instead of parsing it into a ReasonFlags first.
    """
    extensions_by_name = {name: reason_extensions(flag) for name, flag in REASON_CODES.items()}
    revoked: list[x509.RevokedCertificate] = []
    append = revoked.append
    for rows in certificate_records.revoked_unexpired(connection, now):
        for serial_number, revoked_at, reason in rows:
            extensions = extensions_by_name.get(reason)
            if extensions is None:
                # Another spelling goes through parse_reason_code, which raises
                # ReasonCodeInvalidError for a reason that hostca does not accept.
                extensions = reason_extensions(parse_reason_code(reason))
            append(
                x509.RevokedCertificateBuilder(
                    int(serial_number, 16), revoked_at, extensions
                ).build()
            )
    return revoked


def current_crl(context: ServiceContext) -> PublishedCrl:
    """Return the newest stored CRL, generating one if none exists yet."""
    with context.database.engine.connect() as connection:
        row = certificate_records.latest_crl(connection)
    if row is None:
        return publish_crl(context)
    return PublishedCrl(row.crl_number, row.this_update, row.next_update, row.entries, row.der)
