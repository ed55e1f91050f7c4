"""The host's own record, as ``GET /api/v1/self`` returns it."""

from __future__ import annotations

from typing import Any

from hostca.core.policy import CRL_REFRESH_INTERVALS
from hostca.service.context import ServiceContext
from hostca.service.domain_settings import load_domain_settings
from hostca.service.host_auth import authenticate_host_on
from hostca.service.host_service import mapping_view
from hostca.store import host_records

__all__ = ["describe_self"]


def describe_self(
    context: ServiceContext, peer_der: bytes | None, source_ip: str | None
) -> dict[str, Any]:
    """Return the calling host's record, its certificate's status and its CRL refresh interval.

    Every host polls this, so it reads on one connection: the certificate (which
    is refused when revoked, expired or unknown), the host's names and the
    security level.
    """
    with context.database.engine.connect() as connection:
        identity = authenticate_host_on(connection, context, peer_der, source_ip, "self")
        host = host_records.find_host(connection, identity.host_id)
        names = host_records.host_names_of(connection, identity.host_id)
        level = load_domain_settings(connection).security_level

    row = identity.certificate
    return {
        "host_id": identity.host_id,
        "primary_name": host.primary_name if host is not None else None,
        "names": list(row.names),
        "mappings": [mapping_view(name) for name in names if not name.is_primary],
        "certificate": {
            "serial_number": identity.serial_number,
            "status": row.status,
            "not_before": row.not_before,
            "not_after": row.not_after,
        },
        # The security level sets how often agents refresh the CRL.
        "security_level": level,
        "crl_refresh_interval_seconds": int(CRL_REFRESH_INTERVALS[level].total_seconds()),
    }
