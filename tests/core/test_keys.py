"""Tests of hostca.core.keys: key generation, description and acceptance."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x25519
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from hostca.core.errors import HostcaError
from hostca.core.keys import (
    CA_KEY_TYPES,
    HOST_KEY_TYPES,
    KeyTypeRejectedError,
    check_ca_private_key,
    check_host_public_key,
    describe_key,
    generate_private_key,
    signature_hash_for,
)

VECTORS = Path(__file__).parent.parent / "vectors"

# RSA-3072 and RSA-4096 generation is slow, so those two are generated once, in
# test_generate_private_key_slow_rsa.
FAST_KEY_TYPES = ("ec-p256", "ec-p384", "rsa-2048", "ed25519")


def csr_public_key(name: str) -> CertificatePublicKeyTypes:
    return x509.load_pem_x509_csr((VECTORS / name).read_bytes()).public_key()


@pytest.mark.parametrize(
    ("key_type", "description"),
    [
        ("ec-p256", "EC P-256"),
        ("ec-p384", "EC P-384"),
        ("rsa-2048", "RSA 2048"),
        ("ed25519", "Ed25519"),
    ],
)
def test_generate_private_key_fast_types(key_type: str, description: str) -> None:
    key = generate_private_key(key_type)

    assert describe_key(key.public_key()) == description
    assert check_host_public_key(key.public_key()) is not None


def test_generate_private_key_slow_rsa() -> None:
    key_3072 = generate_private_key("rsa-3072")
    key_4096 = generate_private_key("rsa-4096")

    assert isinstance(key_3072, rsa.RSAPrivateKey)
    assert key_3072.key_size == 3072
    assert key_3072.public_key().public_numbers().e == 65537
    assert isinstance(key_4096, rsa.RSAPrivateKey)
    assert key_4096.key_size == 4096


def test_key_type_lists() -> None:
    assert set(CA_KEY_TYPES) <= set(HOST_KEY_TYPES)
    assert set(FAST_KEY_TYPES) | {"rsa-3072", "rsa-4096"} == set(HOST_KEY_TYPES)


@pytest.mark.parametrize("key_type", ["dsa-2048", "ec-p521", "RSA-2048", "", "ed448"])
def test_generate_private_key_unknown_type(key_type: str) -> None:
    with pytest.raises(KeyTypeRejectedError) as caught:
        generate_private_key(key_type)

    assert caught.value.code == "key_type_rejected"
    assert caught.value.status == 400
    assert caught.value.message.startswith(f"{key_type!r}: unknown key type")
    for accepted in HOST_KEY_TYPES:
        assert accepted in caught.value.message
    assert caught.value.details["accepted"] == list(HOST_KEY_TYPES)


def test_describe_key_other_types() -> None:
    assert describe_key(csr_public_key("dsa-2048.csr.pem")) == "DSA 2048"
    assert describe_key(csr_public_key("ec-secp256k1.csr.pem")) == "EC secp256k1"
    assert describe_key(csr_public_key("ed448.csr.pem")) == "Ed448"
    assert describe_key(csr_public_key("rsa-1024.csr.pem")) == "RSA 1024"
    assert describe_key(ec.generate_private_key(ec.SECP521R1()).public_key()) == "EC P-521"
    assert describe_key(x25519.X25519PrivateKey.generate().public_key()) == "X25519"


@pytest.mark.parametrize(
    ("vector", "description"),
    [
        ("dsa-2048.csr.pem", "DSA 2048"),
        ("rsa-1024.csr.pem", "RSA 1024"),
        ("ec-secp256k1.csr.pem", "EC secp256k1"),
        ("ed448.csr.pem", "Ed448"),
    ],
)
def test_check_host_public_key_rejects(vector: str, description: str) -> None:
    public_key = csr_public_key(vector)

    with pytest.raises(KeyTypeRejectedError) as caught:
        check_host_public_key(public_key)

    assert caught.value.code == "key_type_rejected"
    assert caught.value.message == (
        f"{description}: key type not accepted for a host certificate; make a new key "
        "of type EC P-256, EC P-384, RSA of 2048 to 8192 bits, or Ed25519."
    )
    assert caught.value.details["key"] == description


def test_check_host_public_key_rejects_p521() -> None:
    with pytest.raises(KeyTypeRejectedError, match=r"^EC P-521: key type not accepted"):
        check_host_public_key(ec.generate_private_key(ec.SECP521R1()).public_key())


def test_check_host_public_key_rsa_bounds() -> None:
    # RSA public keys are built from numbers, because generating an 8192-bit key
    # is slow. Only the size matters for the check.
    def rsa_public_key(bits: int) -> rsa.RSAPublicKey:
        modulus = (1 << (bits - 1)) | 1
        return rsa.RSAPublicNumbers(e=65537, n=modulus).public_key()

    smallest = rsa_public_key(2048)
    largest = rsa_public_key(8192)

    assert check_host_public_key(smallest) is smallest
    assert check_host_public_key(largest) is largest
    with pytest.raises(KeyTypeRejectedError, match=r"^RSA 2047: "):
        check_host_public_key(rsa_public_key(2047))
    with pytest.raises(KeyTypeRejectedError, match=r"^RSA 8200: "):
        check_host_public_key(rsa_public_key(8200))


def test_check_host_public_key_accepts_types() -> None:
    for key_type in FAST_KEY_TYPES:
        public_key = generate_private_key(key_type).public_key()
        assert check_host_public_key(public_key) is public_key


def test_check_ca_private_key() -> None:
    p256 = ec.generate_private_key(ec.SECP256R1())

    assert check_ca_private_key(p256) is p256
    with pytest.raises(KeyTypeRejectedError, match=r"^Ed25519: key type not accepted for a CA"):
        check_ca_private_key(ed25519.Ed25519PrivateKey.generate())
    with pytest.raises(KeyTypeRejectedError, match=r"^Ed448: "):
        check_ca_private_key(ed448.Ed448PrivateKey.generate())
    with pytest.raises(KeyTypeRejectedError, match=r"^EC P-521: "):
        check_ca_private_key(ec.generate_private_key(ec.SECP521R1()))
    with pytest.raises(KeyTypeRejectedError, match=r"^DSA 2048: "):
        check_ca_private_key(dsa.generate_private_key(2048))


def test_signature_hash_for() -> None:
    p256 = generate_private_key("ec-p256")
    p384 = generate_private_key("ec-p384")
    rsa_2048 = generate_private_key("rsa-2048")
    assert isinstance(p256, ec.EllipticCurvePrivateKey)
    assert isinstance(p384, ec.EllipticCurvePrivateKey)
    assert isinstance(rsa_2048, rsa.RSAPrivateKey)

    assert isinstance(signature_hash_for(p256), hashes.SHA256)
    assert isinstance(signature_hash_for(p384), hashes.SHA384)
    assert isinstance(signature_hash_for(rsa_2048), hashes.SHA256)
    with pytest.raises(KeyTypeRejectedError):
        signature_hash_for(ec.generate_private_key(ec.SECP521R1()))


def test_rsa_small_exponent_rejected() -> None:
    modulus = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .public_key()
        .public_numbers()
        .n
    )
    weak = rsa.RSAPublicNumbers(e=3, n=modulus).public_key()
    with pytest.raises(HostcaError) as raised:
        check_host_public_key(weak)
    assert raised.value.code == "key_type_rejected"
    assert "exponent 3" in raised.value.message
