"""Database tables, defined once with SQLAlchemy Core.

The Alembic migrations under ``migrations/`` create exactly these tables. Times are
stored as timezone-aware UTC. Serial numbers are upper-case hex strings, so that
values of up to 20 octets fit every backend.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect

__all__ = [
    "api_keys",
    "audit_chain_head",
    "audit_events",
    "auth_failures",
    "certificates",
    "crls",
    "host_names",
    "hosts",
    "metadata",
    "sessions",
    "settings",
    "tokens",
    "users",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back as an aware UTC datetime."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: hostca stores aware UTC times only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


hosts = Table(
    "hosts",
    metadata,
    Column("host_id", String(36), primary_key=True),
    Column("primary_name", String(253), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    # Set when the host got its first certificate; a pre-registered host has none yet.
    Column("first_issued_at", UtcDateTime(), nullable=True),
    Column("auto_reissue_until", UtcDateTime(), nullable=True),
    Column("is_primary_server", Boolean, nullable=False, server_default=false()),
)
Index("ix_hosts_primary_name", hosts.c.primary_name)

# Every name of a host, its primary name included (is_primary), so that finding the
# host of a name is one indexed lookup.
host_names = Table(
    "host_names",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("host_id", String(36), ForeignKey("hosts.host_id"), nullable=False),
    Column("name", String(253), nullable=False),
    Column("is_primary", Boolean, nullable=False, server_default=false()),
    Column("state", String(16), nullable=False),  # approved, pending, rejected
    Column("origin", String(16), nullable=False),  # admin, discovered
    Column("shared", Boolean, nullable=False, server_default=false()),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("host_id", "name"),
)
Index("ix_host_names_name", host_names.c.name)
# Host search finds names other than primary names by prefix without reading the
# primary names. The pending count reads only pending names, and a lookup of the
# approved owners of a name matches both columns of (state, name), so SQLite
# does not pick an index on state alone and read every approved name.
Index("ix_host_names_is_primary_name", host_names.c.is_primary, host_names.c.name)
Index("ix_host_names_state_name", host_names.c.state, host_names.c.name)

tokens = Table(
    "tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False),
    Column("value_hash", String(64), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),  # authorization, reissue
    Column("host_id", String(36), ForeignKey("hosts.host_id"), nullable=True),
    Column("max_uses", Integer, nullable=False),
    Column("uses", Integer, nullable=False, server_default=text("0")),
    Column("valid_until", UtcDateTime(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("reason", Text, nullable=True),
    Column("deleted_at", UtcDateTime(), nullable=True),
)
# A name is unique among tokens that are not deleted.
Index(
    "uq_tokens_name_live",
    tokens.c.name,
    unique=True,
    sqlite_where=tokens.c.deleted_at.is_(None),
    postgresql_where=tokens.c.deleted_at.is_(None),
)

certificates = Table(
    "certificates",
    metadata,
    Column("serial_number", String(40), primary_key=True),
    Column("host_id", String(36), ForeignKey("hosts.host_id"), nullable=False),
    Column("status", String(16), nullable=False),  # valid, superseded, revoked
    Column("names", JSON, nullable=False),
    Column("not_before", UtcDateTime(), nullable=False),
    Column("not_after", UtcDateTime(), nullable=False),
    Column("issued_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime(), nullable=True),
    Column("revocation_reason", String(32), nullable=True),
    Column("fingerprint_sha256", String(95), nullable=False),
    Column("key_type", String(32), nullable=False),
    Column("pem", Text, nullable=False),
)
# A renewal finds the host's valid, unexpired certificates without reading its
# superseded ones. The index contains the serial number the lookup returns, since
# SQLite would otherwise pick the CRL's index below, which contains it too.
Index(
    "ix_certificates_host_id_status",
    certificates.c.host_id,
    certificates.c.status,
    certificates.c.not_after,
    certificates.c.serial_number,
)
# The CRL query reads only this index: it lists the columns of a CRL entry after the
# ones it filters on.
Index(
    "ix_certificates_status_not_after_crl",
    certificates.c.status,
    certificates.c.not_after,
    certificates.c.serial_number,
    certificates.c.revoked_at,
    certificates.c.revocation_reason,
)

crls = Table(
    "crls",
    metadata,
    Column("crl_number", Integer, primary_key=True, autoincrement=False),
    Column("this_update", UtcDateTime(), nullable=False),
    Column("next_update", UtcDateTime(), nullable=False),
    Column("entries", Integer, nullable=False),
    Column("der", LargeBinary, nullable=False),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("sequence", Integer, primary_key=True, autoincrement=False),
    Column("time", UtcDateTime(), nullable=False),
    Column("category", String(16), nullable=False),
    Column("action", String(64), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("source_ip", String(45), nullable=True),
    Column("target", String(255), nullable=True),
    Column("host_id", String(36), nullable=True),
    Column("outcome", String(16), nullable=False),
    Column("error_code", String(64), nullable=True),
    Column("reason", Text, nullable=True),
    Column("details", JSON, nullable=False),
    Column("previous_hash", String(64), nullable=False),
    Column("event_hash", String(64), nullable=False),
)
Index("ix_audit_events_category", audit_events.c.category)
Index("ix_audit_events_host_id", audit_events.c.host_id)
Index("ix_audit_events_time", audit_events.c.time)

# One row: the newest event of the chain. Appending locks this row only, so events
# from concurrent requests still form one unbroken chain.
audit_chain_head = Table(
    "audit_chain_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("sequence", Integer, nullable=False),
    Column("event_hash", String(64), nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("role", String(32), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("disabled", Boolean, nullable=False, server_default=false()),
    Column("created_at", UtcDateTime(), nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("secret_hash", String(64), nullable=False, unique=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("ended_at", UtcDateTime(), nullable=True),
)

settings = Table(
    "settings",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", JSON, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

# An API key is stored as the SHA-256 of its value only. Revoked keys stay, so that
# audit events keep naming an existing key, and names are never reused.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("role", String(32), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime(), nullable=True),
)

# Failed logins and failed token redemptions per source IP and kind ("login" or
# "redemption"). A window starts at the first failure after the previous window
# ended. The counts are in the database so that every worker and replica shares them.
auth_failures = Table(
    "auth_failures",
    metadata,
    Column("source_ip", String(45), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("window_start", UtcDateTime(), nullable=False),
    Column("failures", Integer, nullable=False),
)
Index("ix_auth_failures_window_start", auth_failures.c.window_start)
