"""Certificate fingerprints in the colon-separated upper-case hex that administrators compare.

SHA-256 is the fingerprint hostca shows first. SHA-1 is shown as well, for
comparison with older tools that print only SHA-1.
"""

from __future__ import annotations

import hmac
import string
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from hostca.core.errors import InvalidRequestError

__all__ = [
    "FingerprintInvalidError",
    "fingerprint",
    "fingerprints_match",
    "normalize_fingerprint",
]

_DIGEST_SIZES = {"sha256": 32, "sha1": 20}
_HEX_DIGITS = frozenset(string.hexdigits)


class FingerprintInvalidError(InvalidRequestError):
    """Text that is not a SHA-256 or SHA-1 fingerprint."""

    default_code = "fingerprint_invalid"


def fingerprint(cert: x509.Certificate, algorithm: Literal["sha256", "sha1"]) -> str:
    """Return the fingerprint of ``cert`` as "AB:CD:...", upper case."""
    # SHA-1 serves only as a fingerprint to compare by eye, never as a signature.
    hash_algorithm = hashes.SHA256() if algorithm == "sha256" else hashes.SHA1()  # noqa: S303
    return _colon_hex(cert.fingerprint(hash_algorithm))


def normalize_fingerprint(text: str) -> str:
    """Return ``text`` as an upper-case colon-separated fingerprint.

    Accepts a SHA-256 (32 bytes) or SHA-1 (20 bytes) fingerprint in hex, with or
    without colons, in any case, with spaces around it. Raises
    ``FingerprintInvalidError`` otherwise.
    """
    return _colon_hex(_fingerprint_bytes(text))


def fingerprints_match(cert: x509.Certificate, text: str) -> bool:
    """Return whether ``text`` is the SHA-256 fingerprint of ``cert``, or its SHA-1 one.

    A 20-byte fingerprint is compared with the SHA-1 fingerprint, any other with
    the SHA-256 one. The comparison runs in constant time. Raises
    ``FingerprintInvalidError`` when ``text`` is not a fingerprint.
    """
    expected = _fingerprint_bytes(text)
    algorithm: Literal["sha256", "sha1"] = (
        "sha1" if len(expected) == _DIGEST_SIZES["sha1"] else "sha256"
    )
    actual = bytes.fromhex(fingerprint(cert, algorithm).replace(":", ""))
    return hmac.compare_digest(actual, expected)


def _fingerprint_bytes(text: str) -> bytes:
    digits = text.strip().replace(":", "")
    is_hex = _HEX_DIGITS.issuperset(digits)
    if not is_hex or len(digits) // 2 not in _DIGEST_SIZES.values() or len(digits) % 2:
        raise FingerprintInvalidError(
            f"{text.strip()!r}: not a certificate fingerprint; give the SHA-256 fingerprint "
            "as 64 hex digits (or SHA-1 as 40), with or without colons.",
            details={"fingerprint": text.strip()},
        )
    return bytes.fromhex(digits)


def _colon_hex(digest: bytes) -> str:
    return digest.hex(":").upper()
