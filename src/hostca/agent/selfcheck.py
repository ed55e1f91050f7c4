"""``hostca agent self-check``: ask the primary whether this host's certificate is usable.

The check combines three sources: the certificate's own validity period, the
local CRL when one was fetched, and ``GET /api/v1/self`` over mutual TLS, which
the primary rejects for a revoked, expired or unknown certificate. It also
measures this host's clock against the primary's, because a wrong clock makes a
valid certificate look expired or not yet valid.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cryptography import x509

from hostca.agent import clock
from hostca.agent.certificates import (
    format_serial_number,
    host_id_of,
    load_certificate,
)
from hostca.agent.connection import DEFAULT_TIMEOUT, connect, resolve_server
from hostca.agent.crl import CrlSummary, describe_revocation, load_local_crl, revocation_of
from hostca.agent.state import StateDir
from hostca.agent.status import local_certificate_status
from hostca.apiclient import ApiError
from hostca.core.errors import UnavailableError

__all__ = ["self_check"]

# Problem codes with which the primary rejects this host's certificate.
_REJECTION_STATUSES = {
    "certificate_revoked": "revoked",
    "certificate_expired": "expired",
    "certificate_unknown": "unknown",
    "certificate_superseded": "superseded",
    "client_certificate_rejected": "rejected",
}
_USABLE_LOCAL_STATUSES = ("valid", "renew_due")


def self_check(
    state: StateDir, *, timeout: float = DEFAULT_TIMEOUT, now: datetime | None = None
) -> dict[str, Any]:
    """Check the certificate locally and with the primary; return a JSON-ready report.

    ``status`` is ``valid`` only when every check passed. Otherwise it is the first
    problem found: the local status (``expired``, ``key_mismatch``, ...), then
    ``revoked`` from the local CRL, then the primary's verdict. Connection
    failures other than a rejected client certificate are raised.
    """
    moment = now or clock.now()
    config = state.read_config()
    certificate = load_certificate(state)
    local_status = local_certificate_status(state, certificate, moment)

    server = resolve_server(None, config)
    crl_report = _check_local_crl(state, certificate, moment)
    server_report = _ask_server(state, server, timeout)
    clock_report = _measure_clock(state, server, timeout)

    if local_status not in _USABLE_LOCAL_STATUSES:
        status = local_status
    elif crl_report.get("revocation") is not None:
        status = "revoked"
    else:
        status = server_report["status"]

    return {
        "status": status,
        "host_id": host_id_of(certificate) or config.host_id,
        "serial_number": format_serial_number(certificate.serial_number),
        "not_after": certificate.not_valid_after_utc,
        "local_status": local_status,
        "server": server_report,
        "crl": crl_report,
        "clock": clock_report,
    }


def _check_local_crl(
    state: StateDir, certificate: x509.Certificate, now: datetime
) -> dict[str, Any]:
    crl = load_local_crl(state)
    if crl is None:
        return {"checked": False, "revocation": None}

    summary = CrlSummary.of(crl)
    entry = revocation_of(crl, certificate)
    return {
        "checked": True,
        **summary.to_json(),
        "stale": summary.next_update is not None and now > summary.next_update,
        "revocation": describe_revocation(entry) if entry is not None else None,
    }


def _ask_server(state: StateDir, server: str, timeout: float) -> dict[str, Any]:
    try:
        with connect(state, server, mutual_tls=True, timeout=timeout) as client:
            record = client.get_json("/api/v1/self")
    except (ApiError, UnavailableError) as error:
        if error.code not in _REJECTION_STATUSES:
            raise
        if isinstance(error, ApiError) and error.code in clock.TIME_ERROR_CODES:
            error = clock.explain_time_error(error, state, server, timeout=timeout)
        return {
            "url": server,
            "status": _REJECTION_STATUSES[error.code],
            "code": error.code,
            "message": error.message,
        }

    certificate = record.get("certificate") if isinstance(record, dict) else None
    status = certificate.get("status") if isinstance(certificate, dict) else None
    return {
        "url": server,
        "status": status if isinstance(status, str) else "unknown",
        "host_id": record.get("host_id") if isinstance(record, dict) else None,
        "primary_name": record.get("primary_name") if isinstance(record, dict) else None,
    }


def _measure_clock(state: StateDir, server: str, timeout: float) -> dict[str, Any]:
    try:
        skew = clock.measure_clock_skew(state, server, timeout=timeout)
    except (ApiError, UnavailableError) as error:
        return {"measured": False, "code": error.code, "message": error.message}
    return {"measured": True, **skew.to_json(), "message": skew.describe()}
