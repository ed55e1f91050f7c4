"""Queries on issued certificates and published CRLs."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Row,
    String,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    select,
    update,
)

from hostca.store.tables import certificates, crls

__all__ = [
    "delete_crls_before",
    "find_certificate",
    "insert_certificate",
    "insert_crl",
    "latest_crl",
    "latest_crl_time",
    "list_certificates",
    "live_certificates_of_host",
    "mark_revoked",
    "mark_superseded",
    "next_crl_number",
    "revoked_unexpired",
    "valid_certificates_of_host",
]

# Rows per fetchmany call when reading the entries of a CRL. A batch of 1,000 rows
# takes about 0.4 MB. With SQLite, batches of 10,000 were slower and raised the
# memory growth of a 10,000-entry CRL by about half (bench/crl_scale.py).
REVOKED_BATCH_ROWS = 1_000


# Enrolment, renewal and every host request run these. Built once, with bound
# parameters, they skip SQLAlchemy's statement construction and cache key walk.
_INSERT_CERTIFICATE = insert(certificates)
_FIND_CERTIFICATE = select(certificates).where(
    certificates.c.serial_number == bindparam("serial_number")
)
_LIVE_CERTIFICATES_OF_HOST = select(certificates).where(
    certificates.c.host_id == bindparam("host_id"),
    certificates.c.status != "revoked",
    certificates.c.not_after > bindparam("now", type_=certificates.c.not_after.type),
)
_VALID_CERTIFICATES_OF_HOST = select(certificates.c.serial_number).where(
    certificates.c.host_id == bindparam("host_id"),
    certificates.c.status == "valid",
    certificates.c.not_after > bindparam("now", type_=certificates.c.not_after.type),
)
_MARK_SUPERSEDED = (
    update(certificates)
    .where(
        certificates.c.serial_number.in_(bindparam("serial_numbers", expanding=True)),
        certificates.c.status == "valid",
    )
    .values(status="superseded")
)


def insert_certificate(connection: Connection, **values: Any) -> None:
    connection.execute(_INSERT_CERTIFICATE, values)


def find_certificate(connection: Connection, serial_number: str) -> Row[Any] | None:
    return connection.execute(_FIND_CERTIFICATE, {"serial_number": serial_number}).one_or_none()


def live_certificates_of_host(
    connection: Connection, host_id: str, now: datetime
) -> list[Row[Any]]:
    """Return the host's certificates that are neither revoked nor expired."""
    return list(connection.execute(_LIVE_CERTIFICATES_OF_HOST, {"host_id": host_id, "now": now}))


def valid_certificates_of_host(connection: Connection, host_id: str, now: datetime) -> list[str]:
    """Return the serial numbers of the host's unexpired certificates in status valid."""
    return list(
        connection.execute(_VALID_CERTIFICATES_OF_HOST, {"host_id": host_id, "now": now}).scalars()
    )


def mark_superseded(connection: Connection, serial_numbers: list[str]) -> None:
    if serial_numbers:
        connection.execute(_MARK_SUPERSEDED, {"serial_numbers": serial_numbers})


def mark_revoked(
    connection: Connection, serial_numbers: list[str], now: datetime, reason: str
) -> None:
    if serial_numbers:
        connection.execute(
            update(certificates)
            .where(
                certificates.c.serial_number.in_(serial_numbers), certificates.c.status != "revoked"
            )
            .values(status="revoked", revoked_at=now, revocation_reason=reason)
        )


def list_certificates(
    connection: Connection,
    *,
    host_id: str | None,
    status: str | None,
    now: datetime,
    limit: int,
    offset: int,
    expires_before: datetime | None = None,
) -> list[Row[Any]]:
    query = select(certificates).order_by(certificates.c.issued_at.desc())
    if host_id is not None:
        query = query.where(certificates.c.host_id == host_id)
    if expires_before is not None:
        query = query.where(certificates.c.not_after < expires_before)
    # "expired" is derived: a certificate past not_after that was not revoked.
    if status == "expired":
        query = query.where(certificates.c.status != "revoked", certificates.c.not_after <= now)
    elif status in ("valid", "superseded"):
        query = query.where(certificates.c.status == status, certificates.c.not_after > now)
    elif status == "revoked":
        query = query.where(certificates.c.status == "revoked")
    return list(connection.execute(query.limit(limit).offset(offset)))


def revoked_unexpired(
    connection: Connection, now: datetime
) -> Iterator[Sequence[tuple[str, datetime, str]]]:
    """Yield (serial number, revocation time in UTC, reason) for every entry of the next CRL.

    These are the certificates that are revoked and not yet past not_after. They
    come in lists of up to ``REVOKED_BATCH_ROWS``. On SQLite they are read with
    the DBAPI cursor's ``fetchmany``, because iterating SQLAlchemy's result row by
    row took about 1.5 times as long. The rows are streamed, on PostgreSQL through a
    server-side cursor, so a CRL of a million entries never keeps them all in
    memory. SQLite returns the stored text of revoked_at, which is parsed here
    into a naive UTC datetime, and psycopg returns aware datetimes.
    """
    # Typed as plain strings: String has no result processing on any driver.
    query = (
        select(
            literal_column("serial_number", String),
            literal_column("revoked_at", String),
            literal_column("revocation_reason", String),
        )
        .select_from(certificates)
        .where(certificates.c.status == "revoked", certificates.c.not_after > now)
    )
    if connection.dialect.name == "postgresql":
        # psycopg's default cursor receives the whole result at execute, so a
        # server-side cursor (yield_per) keeps one batch of rows in memory at a time.
        with connection.execute(query.execution_options(yield_per=REVOKED_BATCH_ROWS)) as result:
            for partition in result.partitions():
                # The column is typed as a string, but psycopg returns a datetime.
                yield cast("list[tuple[str, datetime, str]]", [tuple(row) for row in partition])
        return
    with connection.execute(query) as result:
        # Without the stream_results or yield_per option, SQLAlchemy reads no row
        # ahead, so the DBAPI cursor is still at the first row.
        cursor = result.cursor
        parse = datetime.fromisoformat
        while rows := cursor.fetchmany(REVOKED_BATCH_ROWS):
            if isinstance(rows[0][1], str):
                yield [(serial, parse(stored_at), reason) for serial, stored_at, reason in rows]
            else:
                yield rows


def next_crl_number(connection: Connection) -> int:
    current = connection.execute(select(func.max(crls.c.crl_number))).scalar_one()
    return 1 if current is None else int(current) + 1


def insert_crl(connection: Connection, **values: Any) -> None:
    connection.execute(insert(crls).values(**values))


def delete_crls_before(connection: Connection, crl_number: int) -> None:
    """Delete the stored CRLs with a CRL number below ``crl_number``."""
    connection.execute(delete(crls).where(crls.c.crl_number < crl_number))


def latest_crl(connection: Connection) -> Row[Any] | None:
    return connection.execute(
        select(crls).order_by(crls.c.crl_number.desc()).limit(1)
    ).one_or_none()


def latest_crl_time(connection: Connection) -> datetime | None:
    """Return the thisUpdate of the newest stored CRL, or None before the first."""
    row = connection.execute(
        select(crls.c.this_update).order_by(crls.c.crl_number.desc()).limit(1)
    ).one_or_none()
    return None if row is None else row.this_update
