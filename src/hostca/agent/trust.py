"""Establishing trust in the primary's CA (trust on first use, confirmed by fingerprint).

The CA certificates are fetched over an unverified connection, because the
host has nothing to verify the server with yet. The fingerprints are computed
here from the certificates themselves, never taken from the server's response,
and the user confirms them (interactively or with ``--fingerprint``) before
anything is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from hostca.agent import clock
from hostca.agent.connection import DEFAULT_TIMEOUT
from hostca.agent.state import StateDir
from hostca.core.errors import ForbiddenError, UnavailableError
from hostca.core.fingerprints import fingerprint, fingerprints_match, normalize_fingerprint

__all__ = [
    "CaCertificate",
    "fetch_ca_certificates",
    "select_by_fingerprint",
    "store_trusted_ca",
]


@dataclass(frozen=True)
class CaCertificate:
    """A CA certificate offered by the server, with fingerprints computed locally."""

    certificate: x509.Certificate
    subject: str
    sha256: str
    sha1: str
    not_after: datetime

    @classmethod
    def from_certificate(cls, certificate: x509.Certificate) -> CaCertificate:
        return cls(
            certificate=certificate,
            subject=certificate.subject.rfc4514_string(),
            sha256=fingerprint(certificate, "sha256"),
            sha1=fingerprint(certificate, "sha1"),
            not_after=certificate.not_valid_after_utc,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "sha256": self.sha256,
            "sha1": self.sha1,
            "not_after": self.not_after,
        }


def fetch_ca_certificates(server: str, *, timeout: float = DEFAULT_TIMEOUT) -> list[CaCertificate]:
    """Fetch the CA certificates from ``GET /api/v1/ca`` without verifying the server.

    Raises ``UnavailableError`` (code ``invalid_response``) when the response contains no
    certificate or a certificate that is not a CA.
    """
    from hostca.apiclient import ApiClient

    with ApiClient(server, verify=False, timeout=timeout, client_clock=clock.now) as client:
        response = client.get_json("/api/v1/ca")

    entries = response.get("certificates") if isinstance(response, dict) else None
    if not isinstance(entries, list) or not entries:
        raise _bad_response(server, "the response lists no CA certificate")
    return [CaCertificate.from_certificate(_load_ca(server, entry)) for entry in entries]


def select_by_fingerprint(
    candidates: Sequence[CaCertificate], expected: str
) -> list[CaCertificate]:
    """Return the candidates whose SHA-256 (or SHA-1) fingerprint is ``expected``.

    Raises ``ForbiddenError`` (code ``fingerprint_mismatch``) showing both values
    when none matches, and ``FingerprintInvalidError`` when ``expected`` is not a
    fingerprint.
    """
    matching = [c for c in candidates if fingerprints_match(c.certificate, expected)]
    if matching:
        return matching

    offered = ", ".join(candidate.sha256 for candidate in candidates)
    raise ForbiddenError(
        f"fingerprint mismatch: expected {normalize_fingerprint(expected)}, but the server "
        f"offers a CA with SHA-256 {offered}; nothing was stored. Check --fingerprint and "
        "--server with the administrator of the primary.",
        code="fingerprint_mismatch",
        details={"expected": normalize_fingerprint(expected), "offered": offered},
    )


def store_trusted_ca(state: StateDir, certificates: Sequence[CaCertificate], server: str) -> None:
    """Write the confirmed certificates to ``ca.pem`` and remember ``server`` in ``agent.json``."""
    bundle = b"".join(
        item.certificate.public_bytes(serialization.Encoding.PEM) for item in certificates
    )
    state.write_ca_bundle(bundle)
    state.write_config(replace(state.read_config(), server=server))


def _load_ca(server: str, entry: Any) -> x509.Certificate:
    pem = entry.get("pem") if isinstance(entry, dict) else None
    if not isinstance(pem, str):
        raise _bad_response(server, "a CA entry has no PEM certificate")
    try:
        certificate = x509.load_pem_x509_certificate(pem.encode())
    except ValueError:
        raise _bad_response(server, "a CA certificate is not valid PEM") from None

    # RFC 5280 4.2.1.9: only a certificate with cA TRUE may sign certificates.
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise _bad_response(
            server, f"{certificate.subject.rfc4514_string()} is not a CA certificate"
        )
    return certificate


def _bad_response(server: str, problem: str) -> UnavailableError:
    return UnavailableError(
        f"{server}: {problem}; nothing was stored. Check that --server points to a hostca primary.",
        code="invalid_response",
    )
