"""Key types that hostca generates, accepts for host certificates and signs with.

A host certificate may carry an EC P-256 or P-384 key, an RSA key of 2,048 to
8,192 bits, or an Ed25519 key. The CA itself signs with EC P-256 or P-384 or with
RSA, so that every relying party (OpenSSL, curl, Python's ssl, browsers) can
verify its signatures.
"""

from __future__ import annotations

from typing import TypeAlias

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from hostca.core.errors import InvalidRequestError

__all__ = [
    "ACCEPTED_CA_KEYS",
    "ACCEPTED_HOST_KEYS",
    "CA_KEY_TYPES",
    "HOST_KEY_TYPES",
    "RSA_MAX_BITS",
    "RSA_MIN_BITS",
    "RSA_PUBLIC_EXPONENT",
    "GeneratedPrivateKey",
    "IssuablePublicKey",
    "KeyTypeRejectedError",
    "SigningKey",
    "check_ca_private_key",
    "check_host_public_key",
    "describe_key",
    "generate_private_key",
    "signature_hash_for",
]

CA_KEY_TYPES = ("ec-p256", "ec-p384", "rsa-3072", "rsa-4096")
HOST_KEY_TYPES = ("ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096", "ed25519")

IssuablePublicKey: TypeAlias = (
    ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey
)
"""A public key that hostca puts into a host certificate."""

SigningKey: TypeAlias = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
"""A CA private key that signs certificates and CRLs."""

GeneratedPrivateKey: TypeAlias = (
    ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
)
"""A private key that ``generate_private_key`` returns."""

RSA_MIN_BITS = 2048
RSA_MAX_BITS = 8192
RSA_PUBLIC_EXPONENT = 65537

ACCEPTED_HOST_KEYS = "EC P-256, EC P-384, RSA of 2048 to 8192 bits, or Ed25519"
ACCEPTED_CA_KEYS = "EC P-256, EC P-384, or RSA of 2048 to 8192 bits"

_EC_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "ec-p256": ec.SECP256R1,
    "ec-p384": ec.SECP384R1,
}
_RSA_BITS = {"rsa-2048": 2048, "rsa-3072": 3072, "rsa-4096": 4096}
_CURVE_LABELS = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
_ACCEPTED_CURVES = (ec.SECP256R1, ec.SECP384R1)


class KeyTypeRejectedError(InvalidRequestError):
    """A key, or the name of a key type, that hostca does not accept."""

    default_code = "key_type_rejected"


def generate_private_key(key_type: str) -> GeneratedPrivateKey:
    """Generate a new private key of ``key_type``, one of ``HOST_KEY_TYPES``.

    ``CA_KEY_TYPES`` is a subset of ``HOST_KEY_TYPES``, so CA keys come from here
    too. Raises ``KeyTypeRejectedError`` for any other name.
    """
    if key_type in _EC_CURVES:
        return ec.generate_private_key(_EC_CURVES[key_type]())
    if key_type in _RSA_BITS:
        return rsa.generate_private_key(
            public_exponent=RSA_PUBLIC_EXPONENT, key_size=_RSA_BITS[key_type]
        )
    if key_type == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise KeyTypeRejectedError(
        f"{key_type!r}: unknown key type; use one of {', '.join(HOST_KEY_TYPES)}.",
        details={"key_type": key_type, "accepted": list(HOST_KEY_TYPES)},
    )


def describe_key(public_key: PublicKeyTypes) -> str:
    """Return a short human-readable name of the key's type and size, such as "EC P-256"."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        curve = public_key.curve.name
        return f"EC {_CURVE_LABELS.get(curve, curve)}"
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"RSA {public_key.key_size}"
    if isinstance(public_key, dsa.DSAPublicKey):
        return f"DSA {public_key.key_size}"
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(public_key, ed448.Ed448PublicKey):
        return "Ed448"
    if isinstance(public_key, x25519.X25519PublicKey):
        return "X25519"
    if isinstance(public_key, x448.X448PublicKey):
        return "X448"
    return type(public_key).__name__


def check_host_public_key(public_key: PublicKeyTypes) -> IssuablePublicKey:
    """Return ``public_key`` if a host certificate may carry it.

    Raises ``KeyTypeRejectedError`` naming the key and listing the accepted types.
    """
    if isinstance(public_key, ec.EllipticCurvePublicKey) and isinstance(
        public_key.curve, _ACCEPTED_CURVES
    ):
        return public_key
    if isinstance(public_key, rsa.RSAPublicKey) and _is_accepted_rsa_size(public_key.key_size):
        exponent = public_key.public_numbers().e
        if exponent < RSA_PUBLIC_EXPONENT:
            # Small exponents such as 3 have a history of signature forgeries
            # (Bleichenbacher 2006); key generators use 65537.
            raise KeyTypeRejectedError(
                f"RSA {public_key.key_size} with public exponent {exponent}: too small an exponent; "
                f"make a new key with the usual exponent {RSA_PUBLIC_EXPONENT}.",
                details={"key": describe_key(public_key), "exponent": exponent},
            )
        return public_key
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return public_key

    description = describe_key(public_key)
    raise KeyTypeRejectedError(
        f"{description}: key type not accepted for a host certificate; "
        f"make a new key of type {ACCEPTED_HOST_KEYS}.",
        details={"key": description, "accepted": ACCEPTED_HOST_KEYS},
    )


def check_ca_private_key(private_key: PrivateKeyTypes) -> SigningKey:
    """Return ``private_key`` if hostca can sign with it as a CA.

    Besides the types that ``hostca server init`` creates, an imported CA may have
    an RSA key of 2048 to 8192 bits. Raises ``KeyTypeRejectedError`` otherwise.
    """
    if isinstance(private_key, ec.EllipticCurvePrivateKey) and isinstance(
        private_key.curve, _ACCEPTED_CURVES
    ):
        return private_key
    if isinstance(private_key, rsa.RSAPrivateKey) and _is_accepted_rsa_size(private_key.key_size):
        return private_key

    description = describe_key(private_key.public_key())
    raise KeyTypeRejectedError(
        f"{description}: key type not accepted for a CA; use a CA key of type {ACCEPTED_CA_KEYS}.",
        details={"key": description, "accepted": ACCEPTED_CA_KEYS},
    )


def signature_hash_for(ca_key: SigningKey) -> hashes.SHA256 | hashes.SHA384:
    """Return the hash that ``ca_key`` signs with: SHA-384 for P-384, SHA-256 otherwise.

    A P-384 signature over a SHA-256 digest would be only as strong as SHA-256, so
    the digest grows with the curve. Raises ``KeyTypeRejectedError`` for a key that
    ``check_ca_private_key`` rejects.
    """
    key = check_ca_private_key(ca_key)
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP384R1):
        return hashes.SHA384()
    return hashes.SHA256()


def _is_accepted_rsa_size(key_size: int) -> bool:
    return RSA_MIN_BITS <= key_size <= RSA_MAX_BITS
