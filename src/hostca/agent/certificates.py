"""Loading the agent's certificates and checking what the primary returns.

The agent stores a certificate only after checking that it certifies the key
the agent has and that a CA in the trusted bundle signed it. A server that
returns anything else gets an error, and the state directory stays as it was.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from hostca.agent.state import AgentConfig, Identity, StateDir
from hostca.core.errors import ConflictError, InvalidRequestError, NotFoundError, UnavailableError

__all__ = [
    "IssuedCertificate",
    "accept_issued_certificate",
    "certificate_names",
    "check_issuer",
    "format_serial_number",
    "host_id_of",
    "load_ca_bundle",
    "load_certificate",
    "load_private_key",
    "renew_after",
    "same_public_key",
]

_UUID_URN_PREFIX = "urn:uuid:"


@dataclass(frozen=True)
class IssuedCertificate:
    """A certificate that the agent accepted and stored."""

    host_id: str
    serial_number: str
    names: tuple[str, ...]
    not_after: datetime
    certificate_file: Path


def load_ca_bundle(state: StateDir) -> list[x509.Certificate]:
    """Load the trusted CA certificates, or raise telling the user to run ``agent trust``."""
    try:
        data = state.ca_file.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(
            f"{state.ca_file}: no trusted CA certificate yet; "
            "run `hostca agent trust --server URL` first.",
            code="ca_not_trusted",
        ) from None
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise _invalid_file(state.ca_file, "not a PEM certificate bundle") from None
    return certificates


def load_certificate(state: StateDir) -> x509.Certificate:
    """Load this host's certificate, or raise telling the user to run ``agent enroll``."""
    try:
        data = state.certificate_file.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(
            f"{state.certificate_file}: this host has no certificate yet; "
            "run `hostca agent enroll` first.",
            code="not_enrolled",
        ) from None
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        raise _invalid_file(state.certificate_file, "not a PEM certificate") from None


def load_private_key(state: StateDir) -> PrivateKeyTypes:
    try:
        data = state.key_file.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(
            f"{state.key_file}: the host's private key is missing; "
            "ask the administrator for a reissue token and run `hostca agent enroll --force`.",
            code="key_missing",
        ) from None
    try:
        return serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise _invalid_file(state.key_file, "not an unencrypted PEM private key") from None


def same_public_key(first: PublicKeyTypes, second: PublicKeyTypes) -> bool:
    encoding = serialization.Encoding.DER
    form = serialization.PublicFormat.SubjectPublicKeyInfo
    return first.public_bytes(encoding, form) == second.public_bytes(encoding, form)


def accept_issued_certificate(
    state: StateDir,
    response: Any,
    *,
    public_key: PublicKeyTypes,
    key_pem: bytes | None,
    config: AgentConfig,
    expected_host_id: str | None = None,
) -> IssuedCertificate:
    """Check the primary's response to an enrol or renew request and commit it to ``state``.

    ``public_key`` is the key the certificate must certify. ``key_pem`` is the new
    private key to store with it, or None when the key on disk stays. ``config``
    is updated with the host ID and names from the response. A renewal passes
    ``expected_host_id``, because a renewed certificate keeps the host ID.
    """
    certificate_pem = _text_field(response, "certificate").encode()
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem)
    except ValueError:
        raise _bad_response("the certificate in the response is not valid PEM") from None

    if not same_public_key(certificate.public_key(), public_key):
        raise _bad_response("the returned certificate does not certify this host's key")
    check_issuer(certificate, load_ca_bundle(state))

    host_id = _text_field(response, "host_id")
    if expected_host_id is not None and host_id != expected_host_id:
        raise _bad_response(f"the response is for host {host_id}, not for {expected_host_id}")
    names = tuple(certificate_names(certificate))
    state.commit_identity(
        Identity(
            certificate_pem=certificate_pem,
            key_pem=key_pem,
            config=replace(config, host_id=host_id, names=names),
        )
    )
    return IssuedCertificate(
        host_id=host_id,
        serial_number=format_serial_number(certificate.serial_number),
        names=names,
        not_after=certificate.not_valid_after_utc,
        certificate_file=state.certificate_file,
    )


def certificate_names(certificate: x509.Certificate) -> list[str]:
    """Return the DNS names, then the IP addresses, of the subject alternative name."""
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    dns_names: list[str] = san.get_values_for_type(x509.DNSName)
    addresses: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [
        address
        for address in san.get_values_for_type(x509.IPAddress)
        if isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address)
    ]
    return [*dns_names, *(str(address) for address in addresses)]


def host_id_of(certificate: x509.Certificate) -> str | None:
    """Return the host ID from the certificate's ``urn:uuid:`` SAN entry, if it has one."""
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    for uri in san.get_values_for_type(x509.UniformResourceIdentifier):
        if uri.lower().startswith(_UUID_URN_PREFIX):
            return uri[len(_UUID_URN_PREFIX) :].lower()
    return None


def format_serial_number(serial_number: int) -> str:
    """Format a serial number as upper-case hex with an even number of digits.

    This is how OpenSSL prints serial numbers, and the form the primary's API uses.
    """
    text = format(serial_number, "X")
    return text if len(text) % 2 == 0 else "0" + text


def renew_after(certificate: x509.Certificate) -> datetime:
    """Return the time after which the agent renews: when half of the lifetime is left."""
    not_before = certificate.not_valid_before_utc
    lifetime: timedelta = certificate.not_valid_after_utc - not_before
    return not_before + lifetime / 2


def check_issuer(
    certificate: x509.Certificate, ca_certificates: Sequence[x509.Certificate]
) -> None:
    """Raise ``ConflictError`` (``certificate_untrusted``) unless a trusted CA signed it."""
    for ca_certificate in ca_certificates:
        if ca_certificate.subject != certificate.issuer:
            continue
        try:
            certificate.verify_directly_issued_by(ca_certificate)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return
    raise ConflictError(
        f"the returned certificate was issued by {certificate.issuer.rfc4514_string()}, "
        "which is not a trusted CA; check the CA with `hostca agent trust` and try again.",
        code="certificate_untrusted",
    )


def _text_field(response: Any, key: str) -> str:
    value = response.get(key) if isinstance(response, dict) else None
    if not isinstance(value, str) or not value:
        raise _bad_response(f"the response has no {key}")
    return value


def _bad_response(problem: str) -> UnavailableError:
    return UnavailableError(
        f"{problem}; nothing was stored. Check that --server points to a hostca primary.",
        code="invalid_response",
    )


def _invalid_file(path: Path, problem: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"{path}: {problem}; fix or delete the file, then run the command again.",
        code="state_invalid",
    )
