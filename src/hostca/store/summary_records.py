"""Counts for the console's dashboard, each one indexed query."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, func, select

from hostca.store.tables import certificates, host_names, hosts, tokens

__all__ = [
    "count_certificates",
    "count_expiring",
    "count_hosts",
    "count_live_tokens",
    "count_pending_names",
]


def count_hosts(connection: Connection) -> int:
    return int(connection.execute(select(func.count()).select_from(hosts)).scalar_one())


def count_certificates(connection: Connection, status: str, now: datetime) -> int:
    """Count certificates by stored status; "valid" counts only those not yet expired."""
    query = select(func.count()).select_from(certificates).where(certificates.c.status == status)
    if status == "valid":
        query = query.where(certificates.c.not_after > now)
    return int(connection.execute(query).scalar_one())


def count_expiring(connection: Connection, start: datetime, end: datetime) -> int:
    """Count valid certificates whose not_after falls in [start, end)."""
    query = (
        select(func.count())
        .select_from(certificates)
        .where(
            certificates.c.status == "valid",
            certificates.c.not_after >= start,
            certificates.c.not_after < end,
        )
    )
    return int(connection.execute(query).scalar_one())


def count_live_tokens(connection: Connection, now: datetime) -> int:
    """Count tokens that can still be redeemed: not deleted, not expired, not used up."""
    query = (
        select(func.count())
        .select_from(tokens)
        .where(
            tokens.c.deleted_at.is_(None),
            tokens.c.valid_until > now,
            tokens.c.uses < tokens.c.max_uses,
        )
    )
    return int(connection.execute(query).scalar_one())


def count_pending_names(connection: Connection) -> int:
    query = select(func.count()).select_from(host_names).where(host_names.c.state == "pending")
    return int(connection.execute(query).scalar_one())
