"""Loading and checking of certificate signing requests (PKCS #10, RFC 2986).

A CSR only proposes names and carries the host's public key. ``load_csr`` checks
what hostca relies on: the encoding, an accepted key, the self-signature that
proves possession of the private key, and the absence of a request to become a
CA. Every other requested extension (key usages, policies, ...) is ignored,
because the certificate profile alone decides the extensions.

The names are returned as written in the CSR. The caller normalizes them with
``hostca.core.names.normalize_name`` and decides which ones the host may have.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from hostca.core.errors import InvalidRequestError
from hostca.core.keys import (
    ACCEPTED_HOST_KEYS,
    IssuablePublicKey,
    KeyTypeRejectedError,
    check_host_public_key,
)

__all__ = ["MAX_CSR_SIZE", "CheckedCsr", "CsrInvalidError", "load_csr"]

# A host has a handful of names; a cap keeps one CSR from filling the approval list.
MAX_REQUESTED_NAMES = 100
MAX_CSR_SIZE = 64 * 1024
"""Maximum size of an encoded CSR in bytes.

An RSA-8192 request with a hundred names is about 5 KiB, so this bound only stops
oversized input before it is parsed.
"""

_WEAK_SIGNATURE_HASHES = (hashes.MD5, hashes.SHA1)
_PEM_MARKER = b"-----BEGIN"


class CsrInvalidError(InvalidRequestError):
    """A CSR that cannot be decoded, has an invalid signature, or requests a CA certificate."""

    default_code = "csr_invalid"


@dataclass(frozen=True)
class CheckedCsr:
    """A CSR whose encoding, key and self-signature have been checked.

    ``requested_names`` contains the DNS names of the subject alternative name
    extension in their order, then its IP addresses as text. When the extension has
    no DNS name, the subject's common name, if any, comes first instead. The first
    entry is the requested primary name. The entries are raw: not normalized, not
    deduplicated, and possibly invalid.
    """

    csr: x509.CertificateSigningRequest
    public_key: IssuablePublicKey
    requested_names: tuple[str, ...]


def load_csr(data: str | bytes) -> CheckedCsr:
    """Decode a PEM or DER CSR and check it.

    Raises ``CsrInvalidError`` (code ``csr_invalid``) for an encoding that cannot be
    decoded, an invalid or weak self-signature, a request without any name, and a
    request for ``CA:TRUE``. Raises ``KeyTypeRejectedError`` (code
    ``key_type_rejected``) for a key that a host certificate may not carry.
    """
    csr = _decode(data)

    # The key type is checked before the signature, so that a request with a weak
    # key (RSA-1024, DSA) gets the error that lists the accepted key types.
    public_key = _check_public_key(csr)
    _check_signature(csr)

    extensions = _read_extensions(csr)
    _reject_ca_request(extensions)
    names = _requested_names(csr, extensions)
    if len(names) > MAX_REQUESTED_NAMES:
        raise CsrInvalidError(
            f"CSR asks for {len(names)} names, more than the maximum of {MAX_REQUESTED_NAMES}; "
            "request the host's name and its aliases only.",
            details={"names": len(names), "max_names": MAX_REQUESTED_NAMES},
        )
    return CheckedCsr(csr=csr, public_key=public_key, requested_names=names)


def _decode(data: str | bytes) -> x509.CertificateSigningRequest:
    raw = data.encode("ascii", errors="replace") if isinstance(data, str) else data
    if not raw.strip():
        raise CsrInvalidError("CSR is empty; send a PEM or DER encoded CSR.")
    if len(raw) > MAX_CSR_SIZE:
        raise CsrInvalidError(
            f"CSR of {len(raw)} bytes is larger than the maximum of {MAX_CSR_SIZE} bytes; "
            "send a single PEM or DER encoded CSR.",
            details={"size": len(raw), "max_size": MAX_CSR_SIZE},
        )

    # PEM may follow other text, such as the output of "openssl req -text".
    is_pem = _PEM_MARKER in raw
    try:
        if is_pem:
            return x509.load_pem_x509_csr(raw)
        return x509.load_der_x509_csr(raw)
    except (ValueError, x509.InvalidVersion) as error:
        encoding = "PEM" if is_pem else "DER"
        raise CsrInvalidError(
            f"CSR cannot be decoded as {encoding} ({error}); "
            "send one PKCS #10 CSR in PEM (-----BEGIN CERTIFICATE REQUEST-----) or DER form.",
            details={"encoding": encoding},
        ) from error


def _check_public_key(csr: x509.CertificateSigningRequest) -> IssuablePublicKey:
    try:
        public_key = csr.public_key()
    except (ValueError, UnsupportedAlgorithm) as error:
        # The attribute exists at runtime in cryptography 50.0.2 but is missing from
        # its type stub for CertificateSigningRequest.
        oid = csr.public_key_algorithm_oid.dotted_string  # type: ignore[attr-defined]
        raise KeyTypeRejectedError(
            f"key algorithm {oid}: not supported; make a new key of type {ACCEPTED_HOST_KEYS}.",
            details={"key": oid},
        ) from error
    return check_host_public_key(public_key)


def _check_signature(csr: x509.CertificateSigningRequest) -> None:
    try:
        signature_hash = csr.signature_hash_algorithm
    except UnsupportedAlgorithm as error:
        oid = csr.signature_algorithm_oid.dotted_string
        raise CsrInvalidError(
            f"CSR signature algorithm {oid}: not supported; sign the CSR with SHA-256 or "
            "a stronger hash.",
            details={"signature_algorithm": oid},
        ) from error
    if isinstance(signature_hash, _WEAK_SIGNATURE_HASHES):
        raise CsrInvalidError(
            f"CSR signed with {signature_hash.name.upper()}: hash too weak to prove "
            "possession of the key; sign the CSR with SHA-256 or a stronger hash.",
            details={"signature_hash": signature_hash.name},
        )

    # RFC 2986 section 3: the CA verifies the requester's signature before it issues.
    # A valid signature proves that the requester has the private key.
    if not csr.is_signature_valid:
        raise CsrInvalidError(
            "CSR signature is invalid: it does not verify with the CSR's own public key, "
            "so possession of the private key is not proven; make a new CSR with the "
            "host's key and send it unchanged.",
        )


def _read_extensions(csr: x509.CertificateSigningRequest) -> x509.Extensions:
    try:
        return csr.extensions
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType) as error:
        raise CsrInvalidError(
            f"CSR extension request cannot be decoded ({error}); make a new CSR.",
        ) from error


def _reject_ca_request(extensions: x509.Extensions) -> None:
    try:
        basic_constraints = extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return
    # RFC 5280 4.2.1.9: cA TRUE would let the key sign certificates. A host never
    # becomes a CA, so such a request is rejected rather than silently downgraded.
    if basic_constraints.ca:
        raise CsrInvalidError(
            "CSR requests basicConstraints CA:TRUE: a host certificate is never a CA; "
            "make a CSR without the CA:TRUE request.",
            details={"extension": "basicConstraints"},
        )


def _requested_names(
    csr: x509.CertificateSigningRequest, extensions: x509.Extensions
) -> tuple[str, ...]:
    dns_names: list[str] = []
    ip_addresses: list[str] = []
    try:
        san = extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        pass
    else:
        # Only DNS names and IP addresses identify a host. Other entry types, such
        # as URIs or e-mail addresses, are ignored like any other requested value.
        dns_names = san.get_values_for_type(x509.DNSName)
        ip_addresses = [str(address) for address in san.get_values_for_type(x509.IPAddress)]

    if not dns_names:
        common_name = _common_name(csr)
        if common_name is not None:
            dns_names = [common_name]

    names = (*dns_names, *ip_addresses)
    if not names:
        raise CsrInvalidError(
            "CSR contains no host name: it has neither a DNS name or IP address in "
            "subjectAltName nor a subject common name; put the host name in the CN or "
            "in subjectAltName.",
        )
    return names


def _common_name(csr: x509.CertificateSigningRequest) -> str | None:
    attributes = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not attributes:
        return None
    if len(attributes) > 1:
        raise CsrInvalidError(
            f"CSR subject has {len(attributes)} common names: the requested primary name "
            "is ambiguous; put one name in the CN, or list the names in subjectAltName.",
            details={"common_names": len(attributes)},
        )
    value = attributes[0].value
    if not isinstance(value, str):
        raise CsrInvalidError(
            "CSR subject common name is not a text string; put the host name in the CN as text.",
        )
    return value
