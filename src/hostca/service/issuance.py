"""Sign and record a host certificate inside the caller's transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import Connection

from hostca.core.errors import InvalidRequestError
from hostca.core.fingerprints import fingerprint
from hostca.core.keys import IssuablePublicKey, check_host_public_key, describe_key
from hostca.core.names import split_names
from hostca.core.profile import (
    HostCertificateRequest,
    build_host_certificate,
    generate_serial_number,
)
from hostca.service.context import ServiceContext
from hostca.store import certificate_records, host_records

__all__ = [
    "IssuedCertificate",
    "certificate_names",
    "format_serial",
    "issue_certificate",
    "issue_next_certificate",
    "parse_serial",
    "public_key_of",
]


@dataclass(frozen=True)
class IssuedCertificate:
    host_id: str
    serial_number: str
    certificate_pem: str
    ca_certificate_pem: str
    not_after: datetime
    names: tuple[str, ...]


def format_serial(serial_number: int) -> str:
    """Return the serial as upper-case hex with an even number of digits, as OpenSSL shows it."""
    text = f"{serial_number:X}"
    return text if len(text) % 2 == 0 else "0" + text


def parse_serial(text: str) -> str:
    """Normalize a serial given by a user (hex, with or without colons, any case)."""
    cleaned = text.strip().replace(":", "").removeprefix("0x").removeprefix("0X")
    try:
        value = int(cleaned, 16)
    except ValueError:
        raise InvalidRequestError(
            f"{text}: not a serial number; give it in hexadecimal, as 'hostca cert list' shows it.",
            code="serial_invalid",
        ) from None
    return format_serial(value)


def certificate_names(connection: Connection, host_id: str) -> list[str]:
    """Return the names a certificate of the host carries: primary name first, then approved mappings."""
    return [
        row.name
        for row in host_records.host_names_of(connection, host_id)
        if row.state == "approved"
    ]


def issue_certificate(
    connection: Connection,
    context: ServiceContext,
    *,
    host_id: str,
    public_key: IssuablePublicKey,
    lifetime: timedelta,
    now: datetime,
) -> IssuedCertificate:
    """Sign a certificate for the host's approved names and store it as valid."""
    names = certificate_names(connection, host_id)
    dns_names, ip_addresses = split_names(names)
    request = HostCertificateRequest(
        host_id=uuid.UUID(host_id),
        dns_names=tuple(dns_names),
        ip_addresses=tuple(ip_addresses),
        public_key=public_key,
        serial_number=generate_serial_number(),
        now=now,
        lifetime=lifetime,
        crl_url=context.crl_url,
        ca_issuers_url=context.ca_issuers_url,
    )
    certificate = build_host_certificate(request, context.ca.certificate, context.ca.private_key)
    pem = certificate.public_bytes(Encoding.PEM).decode("ascii")
    serial = format_serial(certificate.serial_number)

    certificate_records.insert_certificate(
        connection,
        serial_number=serial,
        host_id=host_id,
        status="valid",
        names=names,
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        issued_at=now,
        fingerprint_sha256=fingerprint(certificate, "sha256"),
        key_type=describe_key(public_key),
        pem=pem,
    )
    host_records.mark_first_issued(connection, host_id, now)

    return IssuedCertificate(
        host_id=host_id,
        serial_number=serial,
        certificate_pem=pem,
        ca_certificate_pem=context.ca.certificate.public_bytes(Encoding.PEM).decode("ascii"),
        not_after=certificate.not_valid_after_utc,
        names=tuple(names),
    )


def public_key_of(certificate_pem: str) -> IssuablePublicKey:
    certificate = x509.load_pem_x509_certificate(certificate_pem.encode("ascii"))
    return check_host_public_key(certificate.public_key())


def issue_next_certificate(
    connection: Connection,
    context: ServiceContext,
    *,
    host_id: str,
    public_key: IssuablePublicKey,
    lifetime: timedelta,
    now: datetime,
    retire: Literal["keep", "supersede", "revoke"],
) -> tuple[IssuedCertificate, list[str]]:
    """Issue the host's next certificate and retire its earlier unexpired ones.

    ``retire`` selects what happens to them: ``keep`` (a first certificate),
    ``supersede`` (a renewal with the same key) or ``revoke`` with reason
    superseded (a reissue or a new key). Returns the certificate and the serial
    numbers of the earlier certificates that were retired.
    """
    earlier: list[str] = []
    if retire == "supersede":
        # Superseded certificates stay as they are, so only the valid ones are read.
        earlier = certificate_records.valid_certificates_of_host(connection, host_id, now)
    elif retire == "revoke":
        earlier = [
            row.serial_number
            for row in certificate_records.live_certificates_of_host(connection, host_id, now)
        ]
    issued = issue_certificate(
        connection, context, host_id=host_id, public_key=public_key, lifetime=lifetime, now=now
    )
    if retire == "supersede":
        certificate_records.mark_superseded(connection, earlier)
    elif retire == "revoke":
        certificate_records.mark_revoked(connection, earlier, now, "superseded")
    return issued, [] if retire == "keep" else earlier
