"""CSRs built by the agent: subject, SAN order, key types, and what the primary reads from them."""

from __future__ import annotations

import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from hostca.agent.csr import build_csr, serialize_private_key
from hostca.core.csr import load_csr
from hostca.core.errors import HostcaError
from hostca.core.keys import HOST_KEY_TYPES, generate_private_key


@pytest.fixture(scope="module")
def p256_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _san(csr: x509.CertificateSigningRequest) -> x509.SubjectAlternativeName:
    return csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value


def test_csr_subject_is_primary_name(p256_key: ec.EllipticCurvePrivateKey) -> None:
    csr = build_csr(p256_key, "web-01.example.test", ["web-01"])
    common_names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert [attribute.value for attribute in common_names] == ["web-01.example.test"]
    assert len(csr.subject) == 1


def test_csr_san_order_primary_first(p256_key: ec.EllipticCurvePrivateKey) -> None:
    csr = build_csr(
        p256_key, "web-01.example.test", ["10.0.0.5", "web-01", "2001:db8::5", "www.example.test"]
    )
    assert list(_san(csr)) == [
        x509.DNSName("web-01.example.test"),
        x509.IPAddress(ipaddress.ip_address("10.0.0.5")),
        x509.DNSName("web-01"),
        x509.IPAddress(ipaddress.ip_address("2001:db8::5")),
        x509.DNSName("www.example.test"),
    ]


def test_csr_names_are_normalized(p256_key: ec.EllipticCurvePrivateKey) -> None:
    csr = build_csr(
        p256_key, "WEB-01.Example.TEST.", ["web-01.example.test", "Bücher.example.test"]
    )
    assert _san(csr).get_values_for_type(x509.DNSName) == [
        "web-01.example.test",
        "xn--bcher-kva.example.test",
    ]


def test_csr_san_not_critical_with_cn(p256_key: ec.EllipticCurvePrivateKey) -> None:
    csr = build_csr(p256_key, "web-01.example.test")
    extension = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert extension.critical is False


def test_csr_long_primary_name_empty_subject(p256_key: ec.EllipticCurvePrivateKey) -> None:
    long_name = ".".join(["a" * 30, "b" * 30, "example", "test"])
    assert len(long_name) > 64

    csr = build_csr(p256_key, long_name)

    assert len(csr.subject) == 0
    extension = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert extension.critical is True
    assert extension.value.get_values_for_type(x509.DNSName) == [long_name]


def test_csr_rejects_ip_primary_name(p256_key: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(HostcaError) as caught:
        build_csr(p256_key, "10.0.0.5")
    assert caught.value.code == "name_invalid"
    assert caught.value.message.startswith("10.0.0.5: the primary name must be a DNS name")


def test_csr_rejects_invalid_alias(p256_key: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(HostcaError) as caught:
        build_csr(p256_key, "web-01.example.test", ["*.example.test"])
    assert caught.value.code == "name_invalid"
    assert "*.example.test" in caught.value.message


@pytest.mark.parametrize("key_type", HOST_KEY_TYPES)
def test_csr_accepted_by_primary_for_key_type(key_type: str) -> None:
    key = generate_private_key(key_type)
    csr = build_csr(key, "web-01.example.test", ["10.0.0.5"])

    assert csr.is_signature_valid
    checked = load_csr(csr.public_bytes(serialization.Encoding.PEM))
    assert checked.requested_names == ("web-01.example.test", "10.0.0.5")


@pytest.mark.parametrize(
    ("key_type", "expected_hash"),
    [("ec-p256", hashes.SHA256), ("ec-p384", hashes.SHA384), ("rsa-2048", hashes.SHA256)],
)
def test_csr_signature_hash_matches_key(key_type: str, expected_hash: type) -> None:
    csr = build_csr(generate_private_key(key_type), "web-01.example.test")
    assert isinstance(csr.signature_hash_algorithm, expected_hash)


def test_csr_ed25519_has_no_separate_hash() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    assert build_csr(key, "web-01.example.test").signature_hash_algorithm is None


def test_serialized_key_is_pkcs8_pem() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = serialize_private_key(key)
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    loaded = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(loaded, rsa.RSAPrivateKey)
