"""Fetching, verifying and consulting the certificate revocation list.

A CRL is stored only after its signature verifies with a trusted CA and its CRL
number is not lower than the stored one, so a replayed old CRL cannot hide a
revocation (RFC 5280 5.2.3: CRL numbers increase monotonically).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from hostca.agent.certificates import format_serial_number, load_ca_bundle
from hostca.agent.connection import DEFAULT_TIMEOUT, connect
from hostca.agent.state import StateDir
from hostca.core.errors import (
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    UnavailableError,
)

__all__ = [
    "CrlSummary",
    "describe_revocation",
    "fetch_crl",
    "load_local_crl",
    "local_revocation",
    "revocation_of",
    "verify_crl",
]

# The key types that can sign a CRL (cryptography's CertificateIssuerPublicKeyTypes).
_ISSUER_KEY_TYPES = (
    dsa.DSAPublicKey,
    rsa.RSAPublicKey,
    ec.EllipticCurvePublicKey,
    ed25519.Ed25519PublicKey,
    ed448.Ed448PublicKey,
)


@dataclass(frozen=True)
class CrlSummary:
    """The facts about a CRL that the agent reports."""

    crl_number: int | None
    issuer: str
    this_update: datetime
    next_update: datetime | None
    revoked_count: int

    @classmethod
    def of(cls, crl: x509.CertificateRevocationList) -> CrlSummary:
        return cls(
            crl_number=_crl_number(crl),
            issuer=crl.issuer.rfc4514_string(),
            this_update=crl.last_update_utc,
            next_update=crl.next_update_utc,
            revoked_count=len(crl),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "crl_number": self.crl_number,
            "issuer": self.issuer,
            "this_update": self.this_update,
            "next_update": self.next_update,
            "revoked_count": self.revoked_count,
        }


def fetch_crl(state: StateDir, server: str, *, timeout: float = DEFAULT_TIMEOUT) -> CrlSummary:
    """Download the CRL over verified HTTPS, verify it and store it as ``crl.pem``."""
    with connect(state, server, timeout=timeout) as client:
        data = client.get_bytes("/api/v1/crl")
    try:
        crl = x509.load_der_x509_crl(data)
    except ValueError:
        raise UnavailableError(
            f"{server}: the CRL is not valid DER; nothing was stored. "
            "Check that --server points to a hostca primary.",
            code="invalid_response",
        ) from None

    verify_crl(crl, load_ca_bundle(state))
    _reject_rollback(crl, load_local_crl(state))
    state.write_crl(crl.public_bytes(serialization.Encoding.PEM))
    return CrlSummary.of(crl)


def verify_crl(
    crl: x509.CertificateRevocationList, ca_certificates: Sequence[x509.Certificate]
) -> x509.Certificate:
    """Return the trusted CA that signed ``crl``, or raise ``ConflictError`` (``crl_untrusted``)."""
    for ca_certificate in ca_certificates:
        if ca_certificate.subject != crl.issuer:
            continue
        public_key = ca_certificate.public_key()
        if isinstance(public_key, _ISSUER_KEY_TYPES) and crl.is_signature_valid(public_key):
            return ca_certificate
    raise ConflictError(
        f"the CRL issued by {crl.issuer.rfc4514_string()} does not verify with a trusted CA; "
        "nothing was stored. Check the CA with `hostca agent trust`.",
        code="crl_untrusted",
    )


def load_local_crl(state: StateDir) -> x509.CertificateRevocationList | None:
    """Load ``crl.pem`` and verify it again, or return None when no CRL was fetched yet."""
    try:
        data = state.crl_file.read_bytes()
    except FileNotFoundError:
        return None
    try:
        crl = x509.load_pem_x509_crl(data)
    except ValueError:
        raise InvalidRequestError(
            f"{state.crl_file}: not a PEM CRL; delete it and run `hostca agent crl fetch`.",
            code="state_invalid",
        ) from None
    verify_crl(crl, load_ca_bundle(state))
    return crl


def revocation_of(
    crl: x509.CertificateRevocationList, certificate: x509.Certificate
) -> x509.RevokedCertificate | None:
    """Return the CRL entry of ``certificate``, or None when the CRL does not list it."""
    if crl.issuer != certificate.issuer:
        return None
    return crl.get_revoked_certificate_by_serial_number(certificate.serial_number)


def local_revocation(
    state: StateDir, certificate: x509.Certificate
) -> x509.RevokedCertificate | None:
    """Return the entry of ``certificate`` in the stored ``crl.pem``, without network access.

    Returns None when no CRL was fetched, and also when ``crl.pem`` is not valid
    PEM or does not verify with a trusted CA, because such a file proves nothing.
    """
    try:
        crl = load_local_crl(state)
    except (InvalidRequestError, ConflictError, NotFoundError):
        return None
    if crl is None:
        return None
    return revocation_of(crl, certificate)


def describe_revocation(entry: x509.RevokedCertificate) -> dict[str, Any]:
    """Return the serial number, revocation date and RFC 5280 reason of a CRL entry."""
    try:
        reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason.name
    except x509.ExtensionNotFound:
        reason = "unspecified"
    return {
        "serial_number": format_serial_number(entry.serial_number),
        "revocation_date": entry.revocation_date_utc,
        "reason": reason,
    }


def _reject_rollback(
    crl: x509.CertificateRevocationList, stored: x509.CertificateRevocationList | None
) -> None:
    if stored is None:
        return
    new_number = _crl_number(crl)
    stored_number = _crl_number(stored)
    if new_number is None or stored_number is None or new_number >= stored_number:
        return
    raise ConflictError(
        f"the server sent CRL number {new_number}, older than the stored CRL number "
        f"{stored_number}; the stored CRL was kept. Check that --server is the current primary.",
        code="crl_outdated",
    )


def _crl_number(crl: x509.CertificateRevocationList) -> int | None:
    try:
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        return None
