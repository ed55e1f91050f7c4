"""The local view of the agent's state, for ``hostca agent status``; no network access."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cryptography import x509

from hostca.agent import clock
from hostca.agent.certificates import (
    certificate_names,
    check_issuer,
    format_serial_number,
    host_id_of,
    load_ca_bundle,
    load_certificate,
    load_private_key,
    renew_after,
    same_public_key,
)
from hostca.agent.crl import local_revocation
from hostca.agent.state import StateDir
from hostca.core.errors import ConflictError
from hostca.core.fingerprints import fingerprint
from hostca.core.keys import describe_key

__all__ = ["describe_status", "local_certificate_status"]


def describe_status(state: StateDir, *, now: datetime | None = None) -> dict[str, Any]:
    """Return the agent's identity and files as a JSON-ready mapping.

    ``status`` is ``not_enrolled``, ``valid``, ``renew_due`` (less than half of the
    lifetime left), ``expired``, ``not_yet_valid``, ``key_missing``,
    ``key_mismatch``, ``untrusted_issuer`` (not signed by a CA in ``ca.pem``) or
    ``revoked`` (listed in the verified ``crl.pem``). Time values are aware UTC datetimes.
    """
    moment = now or clock.now()
    config = state.read_config()
    report: dict[str, Any] = {
        "status": "not_enrolled",
        "host_id": config.host_id,
        "names": list(config.names),
        "serial_number": None,
        "not_before": None,
        "not_after": None,
        "renew_after": None,
        "fingerprint_sha256": None,
        "key_type": config.key_type,
        "certificate_file": str(state.certificate_file),
        "key_file": str(state.key_file),
        "ca_file": str(state.ca_file),
        "crl_file": str(state.crl_file),
        "server": config.server,
        "ca_trusted": state.ca_file.is_file(),
    }
    if not state.certificate_file.is_file():
        return report

    certificate = load_certificate(state)
    report.update(
        status=local_certificate_status(state, certificate, moment),
        host_id=host_id_of(certificate) or config.host_id,
        names=certificate_names(certificate),
        serial_number=format_serial_number(certificate.serial_number),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        renew_after=renew_after(certificate),
        fingerprint_sha256=fingerprint(certificate, "sha256"),
        key_type=describe_key(certificate.public_key()),
        issuer=certificate.issuer.rfc4514_string(),
    )
    return report


def local_certificate_status(state: StateDir, certificate: x509.Certificate, now: datetime) -> str:
    """Classify the certificate from local facts only: its key, issuer, stored CRL and dates."""
    if not state.key_file.is_file():
        return "key_missing"
    if not same_public_key(load_private_key(state).public_key(), certificate.public_key()):
        return "key_mismatch"
    if state.ca_file.is_file() and not _issued_by_trusted_ca(state, certificate):
        return "untrusted_issuer"
    if local_revocation(state, certificate) is not None:
        return "revoked"
    if now < certificate.not_valid_before_utc:
        return "not_yet_valid"
    if now >= certificate.not_valid_after_utc:
        return "expired"
    if now >= renew_after(certificate):
        return "renew_due"
    return "valid"


def _issued_by_trusted_ca(state: StateDir, certificate: x509.Certificate) -> bool:
    try:
        check_issuer(certificate, load_ca_bundle(state))
    except ConflictError:
        return False
    return True
