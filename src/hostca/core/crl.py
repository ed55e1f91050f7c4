"""Revocation reason codes and the building of complete CRLs (RFC 5280 section 5).

``build_crl`` and ``sign_crl`` run in time linear in the number of entries: they
pass the whole list to the builder's constructor, because each
``CertificateRevocationListBuilder.add_revoked_certificate`` call copies the list
built so far.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import NamedTuple

from cryptography import x509

from hostca.core.errors import InvalidRequestError
from hostca.core.keys import SigningKey, signature_hash_for
from hostca.core.profile import authority_key_identifier

__all__ = [
    "DEFAULT_NEXT_UPDATE",
    "MAX_CRL_NUMBER",
    "REASON_CODES",
    "ReasonCodeInvalidError",
    "RevokedEntry",
    "build_crl",
    "parse_reason_code",
    "reason_code_name",
    "reason_extensions",
    "sign_crl",
]

DEFAULT_NEXT_UPDATE = timedelta(days=7)

# RFC 5280 5.2.3: the CRL number is a non-negative integer of at most 20 octets.
MAX_CRL_NUMBER = (1 << 159) - 1

REASON_CODES: dict[str, x509.ReasonFlags] = {
    "unspecified": x509.ReasonFlags.unspecified,
    "key-compromise": x509.ReasonFlags.key_compromise,
    "ca-compromise": x509.ReasonFlags.ca_compromise,
    "affiliation-changed": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessation-of-operation": x509.ReasonFlags.cessation_of_operation,
    "privilege-withdrawn": x509.ReasonFlags.privilege_withdrawn,
}
"""The reason codes an administrator may give, by their kebab-case RFC 5280 names.

certificateHold (6) and removeFromCRL (8) are left out because hostca never
suspends a certificate, and aACompromise (10) because it concerns attribute
certificates.
"""

# RFC 5280 5.3.1: the numeric CRLReason values of the accepted reason codes.
_REASON_NUMBERS: dict[int, x509.ReasonFlags] = {
    0: x509.ReasonFlags.unspecified,
    1: x509.ReasonFlags.key_compromise,
    2: x509.ReasonFlags.ca_compromise,
    3: x509.ReasonFlags.affiliation_changed,
    4: x509.ReasonFlags.superseded,
    5: x509.ReasonFlags.cessation_of_operation,
    9: x509.ReasonFlags.privilege_withdrawn,
}

# Every ReasonFlags member, so that a CRL read from elsewhere can be shown too.
_REASON_NAMES: dict[x509.ReasonFlags, str] = {
    **{flag: name for name, flag in REASON_CODES.items()},
    x509.ReasonFlags.certificate_hold: "certificate-hold",
    x509.ReasonFlags.remove_from_crl: "remove-from-crl",
    x509.ReasonFlags.aa_compromise: "aa-compromise",
}

# Lookup keys without separators, so that "keyCompromise" and "KEY_COMPROMISE"
# find "key-compromise".
_REASONS_BY_COMPACT_NAME = {name.replace("-", ""): flag for name, flag in REASON_CODES.items()}


class ReasonCodeInvalidError(InvalidRequestError):
    """A revocation reason code that hostca does not accept."""

    default_code = "reason_code_invalid"


class RevokedEntry(NamedTuple):
    """One revoked certificate as it appears in the CRL.

    A named tuple rather than a frozen dataclass: a CRL of a million entries
    creates a million of them, and a tuple is several times cheaper to create.
    ``revocation_date`` is in UTC, timezone-aware or naive.
    """

    serial_number: int
    revocation_date: datetime
    reason: x509.ReasonFlags


def parse_reason_code(text: str | int) -> x509.ReasonFlags:
    """Parse a reason code given by its kebab-case name or its RFC 5280 number.

    Names are matched regardless of case, and "-" or "_" between words are optional.
    Raises ``ReasonCodeInvalidError`` for anything else, including certificateHold
    (6) and removeFromCRL (8).
    """
    if isinstance(text, str) and text in REASON_CODES:
        # The stored form: every revoked certificate of a CRL passes here.
        return REASON_CODES[text]
    if isinstance(text, int) and not isinstance(text, bool):
        flag = _REASON_NUMBERS.get(text)
    else:
        cleaned = str(text).strip()
        if cleaned.isdigit():
            flag = _REASON_NUMBERS.get(int(cleaned))
        else:
            compact = cleaned.lower().replace("-", "").replace("_", "")
            flag = _REASONS_BY_COMPACT_NAME.get(compact)

    if flag is None:
        raise ReasonCodeInvalidError(
            f"{text!r}: not an accepted revocation reason code; use one of "
            f"{', '.join(REASON_CODES)} (or its RFC 5280 number 0-5 or 9).",
            details={"reason_code": str(text), "accepted": list(REASON_CODES)},
        )
    return flag


def reason_code_name(flag: x509.ReasonFlags) -> str:
    """Return the kebab-case name of ``flag``, such as "key-compromise"."""
    return _REASON_NAMES[flag]


def build_crl(
    entries: Iterable[RevokedEntry],
    *,
    crl_number: int,
    this_update: datetime,
    next_update: datetime,
    ca_certificate: x509.Certificate,
    ca_key: SigningKey,
) -> x509.CertificateRevocationList:
    """Build and sign a complete CRL that lists ``entries``.

    The arguments are those of ``sign_crl``, which raises ``ValueError`` for a
    broken one.
    """
    return sign_crl(
        [
            x509.RevokedCertificateBuilder(
                entry.serial_number, entry.revocation_date, reason_extensions(entry.reason)
            ).build()
            for entry in entries
        ],
        crl_number=crl_number,
        this_update=this_update,
        next_update=next_update,
        ca_certificate=ca_certificate,
        ca_key=ca_key,
    )


def sign_crl(
    revoked_certificates: list[x509.RevokedCertificate],
    *,
    crl_number: int,
    this_update: datetime,
    next_update: datetime,
    ca_certificate: x509.Certificate,
    ca_key: SigningKey,
) -> x509.CertificateRevocationList:
    """Sign a complete CRL that lists ``revoked_certificates``.

    Each entry should carry the extensions of ``reason_extensions``.
    ``this_update`` and ``next_update`` must be timezone-aware, with ``next_update``
    later. ``ValueError`` reports a broken argument, because only a programming
    error produces one.
    """
    if not 0 <= crl_number <= MAX_CRL_NUMBER:
        raise ValueError(f"crl_number {crl_number} is not in 0..2**159-1")
    if this_update.tzinfo is None or next_update.tzinfo is None:
        raise ValueError("this_update and next_update must be timezone-aware")
    # RFC 5280 5.1.2.5: nextUpdate is the date by which the next CRL will be
    # issued, so it lies after thisUpdate.
    if next_update <= this_update:
        raise ValueError(
            f"next_update {next_update.isoformat()} is not after "
            f"this_update {this_update.isoformat()}"
        )

    builder = x509.CertificateRevocationListBuilder(
        issuer_name=ca_certificate.subject,
        last_update=this_update,
        next_update=next_update,
        extensions=[
            # RFC 5280 5.2.1: a conforming CRL MUST include the authority key identifier.
            _extension(authority_key_identifier(ca_certificate, ca_key)),
            # RFC 5280 5.2.3: a conforming CRL MUST include the CRL number.
            _extension(x509.CRLNumber(crl_number)),
        ],
        revoked_certificates=revoked_certificates,
    )
    return builder.sign(ca_key, signature_hash_for(ca_key))


@functools.cache
def reason_extensions(reason: x509.ReasonFlags) -> list[x509.Extension[x509.ExtensionType]]:
    """Return the CRL entry extensions for ``reason``, built once and shared by every entry.

    Callers must not change the returned list.
    """
    # RFC 5280 5.3.1: the reasonCode "unspecified" SHOULD be absent, rather than
    # present with that value.
    if reason is x509.ReasonFlags.unspecified:
        return []
    return [_extension(x509.CRLReason(reason))]


def _extension(value: x509.ExtensionType) -> x509.Extension[x509.ExtensionType]:
    # Non-critical: RFC 5280 5.2.3 and 5.3.1 say so for the CRL number and the
    # reason code, and 4.2.1.1 requires it for the authority key identifier.
    return x509.Extension(value.oid, False, value)
