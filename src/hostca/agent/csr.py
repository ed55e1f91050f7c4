"""Certificate signing requests that the agent sends to the primary.

The primary reads the first DNS name of the subject alternative name as the
requested primary name and every further entry as a further requested name, so
the primary name goes first, followed by the aliases in the order given.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from hostca.core.errors import InvalidRequestError
from hostca.core.keys import GeneratedPrivateKey
from hostca.core.names import is_ip_address, normalize_names

__all__ = ["MAX_COMMON_NAME_LENGTH", "build_csr", "serialize_private_key"]

# RFC 5280 Appendix A: ub-common-name is 64 characters.
MAX_COMMON_NAME_LENGTH = 64


def build_csr(
    private_key: GeneratedPrivateKey, primary_name: str, aliases: Sequence[str] = ()
) -> x509.CertificateSigningRequest:
    """Build a CSR signed by ``private_key`` that requests ``primary_name`` and ``aliases``.

    Names are normalized, and duplicates dropped, before they go into the request.
    The subject is ``CN=<primary name>``. A primary name longer than 64 characters
    cannot be a common name, so the subject stays empty and the subject alternative
    name extension, which then identifies the host alone, is critical
    (RFC 5280 4.2.1.6). Raises ``InvalidNameError`` for an invalid name and
    ``InvalidRequestError`` when the primary name is an IP address.
    """
    names = normalize_names([primary_name, *aliases])
    primary = names[0]
    if is_ip_address(primary):
        raise InvalidRequestError(
            f"{primary}: the primary name must be a DNS name, not an IP address; "
            "pass the host's DNS name with --name and its addresses with --alias.",
            code="name_invalid",
        )

    if len(primary) <= MAX_COMMON_NAME_LENGTH:
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, primary)])
    else:
        subject = x509.Name([])
    alternative_names = x509.SubjectAlternativeName([_general_name(name) for name in names])

    builder = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject)
        .add_extension(alternative_names, critical=not subject)
    )
    return builder.sign(private_key, _signature_hash(private_key))


def serialize_private_key(private_key: GeneratedPrivateKey) -> bytes:
    """Encode a private key as unencrypted PKCS #8 PEM; the file mode protects it."""
    return private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _general_name(name: str) -> x509.GeneralName:
    if is_ip_address(name):
        return x509.IPAddress(ipaddress.ip_address(name))
    return x509.DNSName(name)


def _signature_hash(
    private_key: GeneratedPrivateKey,
) -> hashes.SHA256 | hashes.SHA384 | None:
    # Ed25519 hashes internally and takes no separate algorithm. A P-384 key signs a
    # SHA-384 digest so that the hash is as strong as the curve.
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return None
    if isinstance(private_key, ec.EllipticCurvePrivateKey) and isinstance(
        private_key.curve, ec.SECP384R1
    ):
        return hashes.SHA384()
    return hashes.SHA256()
