"""The certificate profiles of hostca: the host certificate and the self-signed root CA.

Both follow RFC 5280. The comment above each rule names the section it comes from.
Times are truncated to whole seconds, because X.509 encodes no fractions of a
second, so the certificate carries exactly the values computed here.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address, IPv6Address

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from hostca.core.errors import InvalidRequestError, UnavailableError
from hostca.core.keys import IssuablePublicKey, SigningKey, signature_hash_for

__all__ = [
    "CA_LIFETIME",
    "CLOCK_SKEW_ALLOWANCE",
    "DEFAULT_LIFETIME",
    "MAX_SERIAL_NUMBER",
    "CaExpiredError",
    "CaSubjectInvalidError",
    "HostCertificateRequest",
    "authority_key_identifier",
    "build_ca_certificate",
    "build_host_certificate",
    "generate_serial_number",
]

DEFAULT_LIFETIME = timedelta(days=365)
CLOCK_SKEW_ALLOWANCE = timedelta(minutes=5)
CA_LIFETIME = timedelta(days=20 * 365 + 5)
"""Twenty years, counting the leap days that twenty years contain at most."""

# RFC 5280 4.1.2.2: a serial number is a positive integer of at most 20 octets. DER
# encodes INTEGER in two's complement, so a value with bit 160 set would need a
# 21st octet for its sign. 159 bits is therefore the maximum.
MAX_SERIAL_NUMBER = (1 << 159) - 1

# RFC 5280 Appendix A: ub-common-name and ub-organization-name are 64 characters.
_MAX_NAME_ATTRIBUTE_LENGTH = 64


class CaExpiredError(UnavailableError):
    """The CA certificate has expired, so it can issue nothing more."""

    default_code = "ca_expired"


class CaSubjectInvalidError(InvalidRequestError):
    """A CA common name or organization that cannot go into a certificate subject."""

    default_code = "ca_subject_invalid"


def generate_serial_number() -> int:
    """Return a random serial number between 1 and ``MAX_SERIAL_NUMBER``.

    Up to 159 random bits make the value unpredictable and a collision practically
    impossible. The caller still enforces uniqueness with a database constraint.
    """
    return secrets.randbelow(MAX_SERIAL_NUMBER) + 1


@dataclass(frozen=True)
class HostCertificateRequest:
    """Everything a host certificate contains besides what the CA contributes.

    ``dns_names`` and ``ip_addresses`` must be normalized and free of duplicates.
    The first DNS name is the host's primary name. ``now`` must be timezone-aware.
    ``ValueError`` reports a request that breaks these rules, because only a
    programming error produces one.
    """

    host_id: uuid.UUID
    dns_names: tuple[str, ...]
    ip_addresses: tuple[IPv4Address | IPv6Address, ...]
    public_key: IssuablePublicKey
    serial_number: int
    now: datetime
    lifetime: timedelta
    crl_url: str
    ca_issuers_url: str

    def __post_init__(self) -> None:
        if not self.dns_names:
            raise ValueError("dns_names must contain the primary name")
        if len(set(self.dns_names)) != len(self.dns_names):
            raise ValueError(f"dns_names contains duplicates: {self.dns_names}")
        if len(set(self.ip_addresses)) != len(self.ip_addresses):
            raise ValueError(f"ip_addresses contains duplicates: {self.ip_addresses}")
        if not 1 <= self.serial_number <= MAX_SERIAL_NUMBER:
            raise ValueError(f"serial_number {self.serial_number} is not in 1..2**159-1")
        if self.now.tzinfo is None:
            raise ValueError(f"now {self.now.isoformat()} must be timezone-aware")
        if self.lifetime <= timedelta(0):
            raise ValueError(f"lifetime {self.lifetime} must be positive")
        if not self.crl_url or not self.ca_issuers_url:
            raise ValueError("crl_url and ca_issuers_url must not be empty")


def build_host_certificate(
    request: HostCertificateRequest,
    ca_certificate: x509.Certificate,
    ca_key: SigningKey,
) -> x509.Certificate:
    """Issue the host certificate that ``request`` describes, signed by the CA.

    ``not_after`` is ``now + lifetime``, clipped to the CA's ``not_after``. Raises
    ``CaExpiredError`` when the CA has expired at ``now``.
    """
    now = _whole_seconds(request.now)
    not_before = now - CLOCK_SKEW_ALLOWANCE
    ca_not_after = ca_certificate.not_valid_after_utc
    if now >= ca_not_after:
        raise CaExpiredError(
            f"CA certificate expired at {ca_not_after.isoformat()}: it cannot issue "
            "certificates; replace the CA.",
            details={"ca_not_after": ca_not_after.isoformat()},
        )
    # RFC 5280 6.1.3: path validation checks the validity period of every
    # certificate in the path, so a leaf is unusable after its CA's not_after.
    not_after = min(now + request.lifetime, ca_not_after)

    builder = x509.CertificateBuilder(
        issuer_name=ca_certificate.subject,
        # RFC 5280 4.1.2.6: the subject is the host ID, which never changes, while
        # the names that may change live in subjectAltName.
        subject_name=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, str(request.host_id))]),
        public_key=request.public_key,
        serial_number=request.serial_number,
        not_valid_before=not_before,
        not_valid_after=not_after,
        extensions=_host_extensions(request, ca_certificate, ca_key),
    )
    return builder.sign(ca_key, signature_hash_for(ca_key))


def build_ca_certificate(
    ca_key: SigningKey,
    *,
    common_name: str,
    organization: str | None,
    now: datetime,
) -> x509.Certificate:
    """Build the self-signed root certificate of a new CA, valid for ``CA_LIFETIME``.

    Raises ``CaSubjectInvalidError`` for an empty or over-long name, and
    ``ValueError`` for a naive ``now``.
    """
    if now.tzinfo is None:
        raise ValueError(f"now {now.isoformat()} must be timezone-aware")
    subject = _ca_subject(common_name, organization)
    now = _whole_seconds(now)
    public_key = ca_key.public_key()
    subject_key_identifier = x509.SubjectKeyIdentifier.from_public_key(public_key)

    extensions = [
        # RFC 5280 4.2.1.9: MUST be critical in a CA certificate. pathLenConstraint 0
        # because this CA issues only end-entity certificates.
        _extension(x509.BasicConstraints(ca=True, path_length=0), critical=True),
        # RFC 5280 4.2.1.3: keyCertSign and cRLSign for a CA, and critical as the
        # section recommends. digitalSignature allows signing other objects, such
        # as OCSP responses.
        _extension(
            _key_usage(digital_signature=True, key_cert_sign=True, crl_sign=True), critical=True
        ),
        # RFC 5280 4.2.1.2: a CA certificate MUST have a subject key identifier.
        _extension(subject_key_identifier, critical=False),
        # RFC 5280 4.2.1.1: MAY be omitted from a self-signed certificate. It is
        # included, equal to the SKI, so that every certificate hostca makes has
        # an AKI. pkilint accepts it on a root.
        _extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(subject_key_identifier),
            critical=False,
        ),
    ]
    builder = x509.CertificateBuilder(
        issuer_name=subject,
        subject_name=subject,
        public_key=public_key,
        serial_number=generate_serial_number(),
        not_valid_before=now - CLOCK_SKEW_ALLOWANCE,
        not_valid_after=now + CA_LIFETIME,
        extensions=extensions,
    )
    return builder.sign(ca_key, signature_hash_for(ca_key))


def authority_key_identifier(
    ca_certificate: x509.Certificate, ca_key: SigningKey
) -> x509.AuthorityKeyIdentifier:
    """Return the AKI for what the CA signs: its keyIdentifier is the CA's SKI."""
    try:
        ski = ca_certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    except x509.ExtensionNotFound:
        # An imported CA certificate may lack an SKI, although RFC 5280 4.2.1.2
        # requires one. The key identifier is then derived from the CA's key.
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski.value)


def _host_extensions(
    request: HostCertificateRequest, ca_certificate: x509.Certificate, ca_key: SigningKey
) -> list[x509.Extension[x509.ExtensionType]]:
    general_names: list[x509.GeneralName] = [x509.DNSName(name) for name in request.dns_names]
    general_names += [x509.IPAddress(address) for address in request.ip_addresses]
    general_names.append(x509.UniformResourceIdentifier(request.host_id.urn))

    return [
        # RFC 5280 4.2.1.9: CA:FALSE, critical, so that no conforming verifier
        # accepts the host's key as an issuer.
        _extension(x509.BasicConstraints(ca=False, path_length=None), critical=True),
        # RFC 5280 4.2.1.3: SHOULD be critical. TLS 1.2 RSA key exchange encrypts
        # the premaster secret to an RSA server key, which needs keyEncipherment.
        _extension(
            _key_usage(
                digital_signature=True,
                key_encipherment=isinstance(request.public_key, rsa.RSAPublicKey),
            ),
            critical=True,
        ),
        # RFC 5280 4.2.1.12: hosts act as TLS servers and as TLS clients.
        _extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        ),
        # RFC 5280 4.2.1.6: non-critical because the subject is not empty. The
        # primary name comes first, and the host ID is repeated as a URN (RFC 4122).
        _extension(x509.SubjectAlternativeName(general_names), critical=False),
        # RFC 5280 4.2.1.2: method 1, the SHA-1 of the subjectPublicKey BIT STRING.
        _extension(x509.SubjectKeyIdentifier.from_public_key(request.public_key), critical=False),
        # RFC 5280 4.2.1.1: keyIdentifier equal to the issuer's SKI.
        _extension(authority_key_identifier(ca_certificate, ca_key), critical=False),
        # RFC 5280 4.2.1.13: where relying parties fetch the CRL.
        _extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        full_name=[x509.UniformResourceIdentifier(request.crl_url)],
                        relative_name=None,
                        reasons=None,
                        crl_issuer=None,
                    )
                ]
            ),
            critical=False,
        ),
        # RFC 5280 4.2.2.1: where relying parties fetch the CA certificate. The
        # section requires this extension to be non-critical.
        _extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.CA_ISSUERS,
                        x509.UniformResourceIdentifier(request.ca_issuers_url),
                    )
                ]
            ),
            critical=False,
        ),
    ]


def _ca_subject(common_name: str, organization: str | None) -> x509.Name:
    # RFC 5280 4.1.2.6: a CA's subject MUST be a non-empty distinguished name.
    attributes = [_name_attribute(NameOID.COMMON_NAME, "common name", common_name)]
    if organization is not None:
        attributes.insert(
            0, _name_attribute(NameOID.ORGANIZATION_NAME, "organization", organization)
        )
    return x509.Name(attributes)


def _name_attribute(oid: x509.ObjectIdentifier, label: str, value: str) -> x509.NameAttribute[str]:
    if not value.strip() or len(value) > _MAX_NAME_ATTRIBUTE_LENGTH:
        raise CaSubjectInvalidError(
            f"CA {label} {value!r}: must be 1 to {_MAX_NAME_ATTRIBUTE_LENGTH} characters "
            "and not only spaces; choose a shorter or non-empty name.",
            details={"field": label, "value": value},
        )
    return x509.NameAttribute(oid, value)


def _key_usage(
    *,
    digital_signature: bool = False,
    key_encipherment: bool = False,
    key_cert_sign: bool = False,
    crl_sign: bool = False,
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _extension(value: x509.ExtensionType, *, critical: bool) -> x509.Extension[x509.ExtensionType]:
    return x509.Extension(value.oid, critical, value)


def _whole_seconds(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=0)
