"""Generate, store and serve the CRL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import Connection

from hostca.core.crl import RevokedEntry, build_crl, parse_reason_code
from hostca.service.context import ServiceContext
from hostca.service.domain_settings import load_domain_settings
from hostca.store import certificate_records
from hostca.store.database import lock_for_transaction

__all__ = ["PublishedCrl", "current_crl", "publish_crl", "refresh_crl"]

# Replicas publish one CRL at a time, so each takes the next CRL number after the
# one committed before it.
CRL_LOCK = "hostca.crl"


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
    entries = (
        RevokedEntry(int(serial_number, 16), revoked_at, parse_reason_code(reason))
        for serial_number, revoked_at, reason in certificate_records.revoked_unexpired(
            connection, now
        )
    )
    next_update = now + timedelta(hours=settings.crl_next_update_hours)
    crl = build_crl(
        entries,
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
    return PublishedCrl(number, now, next_update, len(crl), der)


def current_crl(context: ServiceContext) -> PublishedCrl:
    """Return the newest stored CRL, generating one if none exists yet."""
    with context.database.engine.connect() as connection:
        row = certificate_records.latest_crl(connection)
    if row is None:
        return publish_crl(context)
    return PublishedCrl(row.crl_number, row.this_update, row.next_update, row.entries, row.der)
