"""Tests of hostca.core.csr: decoding and checking CSRs, with openssl-made vectors."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from hostca.core.csr import MAX_CSR_SIZE, CsrInvalidError, load_csr
from hostca.core.keys import GeneratedPrivateKey, KeyTypeRejectedError, generate_private_key

VECTORS = Path(__file__).parent.parent / "vectors"


def make_csr(
    key: GeneratedPrivateKey,
    *,
    subject: list[x509.NameAttribute[str]] | None = None,
    extensions: Sequence[tuple[x509.ExtensionType, bool]] = (),
) -> bytes:
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(subject or []))
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(key, algorithm).public_bytes(serialization.Encoding.PEM)


def common_name(value: str) -> x509.NameAttribute[str]:
    return x509.NameAttribute(NameOID.COMMON_NAME, value)


@pytest.fixture(scope="module")
def p256_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


# Vectors made by openssl (see tests/vectors/README.md).


def test_vector_san_dns_and_ip() -> None:
    checked = load_csr((VECTORS / "san-dns-ip.csr.pem").read_bytes())

    # The CN is ignored when the SAN has a DNS name, and so is the requested keyUsage.
    assert checked.requested_names == (
        "web-01.example.test",
        "web-01",
        "192.0.2.10",
        "2001:db8::10",
    )
    assert isinstance(checked.public_key, ec.EllipticCurvePublicKey)


def test_vector_cn_only() -> None:
    checked = load_csr((VECTORS / "cn-only.csr.pem").read_bytes())

    assert checked.requested_names == ("cn-only.example.test",)


def test_vector_der_encoding() -> None:
    checked = load_csr((VECTORS / "rsa-2048.csr.der").read_bytes())

    assert checked.requested_names == ("rsa2048.example.test",)
    assert isinstance(checked.public_key, rsa.RSAPublicKey)
    assert checked.public_key.key_size == 2048


def test_vector_tampered_signature() -> None:
    with pytest.raises(CsrInvalidError) as caught:
        load_csr((VECTORS / "bad-signature.csr.der").read_bytes())

    assert caught.value.code == "csr_invalid"
    assert caught.value.status == 400
    assert caught.value.message.startswith("CSR signature is invalid:")
    assert "possession of the private key is not proven" in caught.value.message


def test_vector_ca_true() -> None:
    with pytest.raises(CsrInvalidError) as caught:
        load_csr((VECTORS / "ca-true.csr.pem").read_bytes())

    assert caught.value.code == "csr_invalid"
    assert caught.value.message == (
        "CSR requests basicConstraints CA:TRUE: a host certificate is never a CA; "
        "make a CSR without the CA:TRUE request."
    )


def test_vector_no_name() -> None:
    with pytest.raises(CsrInvalidError) as caught:
        load_csr((VECTORS / "no-name.csr.pem").read_bytes())

    assert caught.value.code == "csr_invalid"
    assert caught.value.message.startswith("CSR contains no host name:")


def test_vector_sha1_signature() -> None:
    with pytest.raises(CsrInvalidError) as caught:
        load_csr((VECTORS / "sha1-signature.csr.pem").read_bytes())

    assert caught.value.code == "csr_invalid"
    assert caught.value.message.startswith("CSR signed with SHA1: hash too weak")
    assert caught.value.details == {"signature_hash": "sha1"}


@pytest.mark.parametrize(
    ("vector", "description"),
    [
        ("dsa-2048.csr.pem", "DSA 2048"),
        ("rsa-1024.csr.pem", "RSA 1024"),
        ("ec-secp256k1.csr.pem", "EC secp256k1"),
        ("ed448.csr.pem", "Ed448"),
    ],
)
def test_vector_key_rejected(vector: str, description: str) -> None:
    with pytest.raises(KeyTypeRejectedError) as caught:
        load_csr((VECTORS / vector).read_bytes())

    assert caught.value.code == "key_type_rejected"
    assert caught.value.message == (
        f"{description}: key type not accepted for a host certificate; make a new key "
        "of type EC P-256, EC P-384, RSA of 2048 to 8192 bits, or Ed25519."
    )


def test_vector_unknown_key_algorithm() -> None:
    with pytest.raises(KeyTypeRejectedError) as caught:
        load_csr((VECTORS / "unknown-key-algorithm.csr.der").read_bytes())

    assert caught.value.code == "key_type_rejected"
    assert caught.value.message.startswith("key algorithm 1.3.101.127: not supported;")
    assert caught.value.details == {"key": "1.3.101.127"}


# Encodings.


def test_load_csr_accepts_str_and_bytes(p256_key: ec.EllipticCurvePrivateKey) -> None:
    pem = make_csr(p256_key, subject=[common_name("web-01.example.test")])

    from_bytes = load_csr(pem)
    from_text = load_csr("\n  " + pem.decode("ascii"))

    assert from_bytes.requested_names == ("web-01.example.test",)
    assert from_text.requested_names == ("web-01.example.test",)
    assert from_text.csr == from_bytes.csr


def test_load_csr_new_certificate_request_header(p256_key: ec.EllipticCurvePrivateKey) -> None:
    # Some tools (certreq, old openssl) write "NEW CERTIFICATE REQUEST".
    pem = make_csr(p256_key, subject=[common_name("web-01.example.test")])
    pem = pem.replace(b"CERTIFICATE REQUEST", b"NEW CERTIFICATE REQUEST")

    assert load_csr(pem).requested_names == ("web-01.example.test",)


@pytest.mark.parametrize(
    ("data", "message_start"),
    [
        (b"", "CSR is empty;"),
        ("  \n", "CSR is empty;"),
        (b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n", "CSR cannot be decoded as PEM"),
        (b"\x30\x03\x02\x01\x00", "CSR cannot be decoded as DER"),
        ("not a csr", "CSR cannot be decoded as DER"),
    ],
)
def test_load_csr_undecodable(data: str | bytes, message_start: str) -> None:
    with pytest.raises(CsrInvalidError) as caught:
        load_csr(data)

    assert caught.value.code == "csr_invalid"
    assert caught.value.message.startswith(message_start)


def test_load_csr_certificate_instead_of_csr() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([common_name("web-01.example.test")])
    certificate = x509.CertificateBuilder(
        issuer_name=name,
        subject_name=name,
        public_key=key.public_key(),
        serial_number=1,
        not_valid_before=datetime(2026, 1, 1, tzinfo=UTC),
        not_valid_after=datetime(2027, 1, 1, tzinfo=UTC),
    ).sign(key, hashes.SHA256())

    with pytest.raises(CsrInvalidError, match=r"^CSR cannot be decoded as PEM"):
        load_csr(certificate.public_bytes(serialization.Encoding.PEM))


def test_load_csr_too_large() -> None:
    data = b"\x30" * (MAX_CSR_SIZE + 1)

    with pytest.raises(CsrInvalidError) as caught:
        load_csr(data)

    assert caught.value.message == (
        f"CSR of {MAX_CSR_SIZE + 1} bytes is larger than the maximum of {MAX_CSR_SIZE} "
        "bytes; send a single PEM or DER encoded CSR."
    )


# Keys.


@pytest.mark.parametrize("key_type", ["ec-p256", "ec-p384", "rsa-2048", "ed25519"])
def test_load_csr_accepted_keys(key_type: str) -> None:
    key = generate_private_key(key_type)
    pem = make_csr(key, subject=[common_name("web-01.example.test")])

    checked = load_csr(pem)

    assert checked.public_key == key.public_key()


# Names.


def test_san_with_only_ip_keeps_cn_first(p256_key: ec.EllipticCurvePrivateKey) -> None:
    san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("192.0.2.7"))])
    pem = make_csr(p256_key, subject=[common_name("db-01.example.test")], extensions=[(san, False)])

    assert load_csr(pem).requested_names == ("db-01.example.test", "192.0.2.7")


def test_san_ignores_other_name_types(p256_key: ec.EllipticCurvePrivateKey) -> None:
    san = x509.SubjectAlternativeName(
        [
            x509.UniformResourceIdentifier("urn:uuid:0b6f1c52-93c4-4e0c-bb43-0a3d5c1e8f00"),
            x509.RFC822Name("admin@example.test"),
            x509.DNSName("Web-01.Example.Test."),
        ]
    )
    pem = make_csr(
        p256_key, subject=[common_name("ignored.example.test")], extensions=[(san, False)]
    )

    # Names stay raw: the caller normalizes case and the trailing dot.
    assert load_csr(pem).requested_names == ("Web-01.Example.Test.",)


def test_san_without_names_and_no_cn(p256_key: ec.EllipticCurvePrivateKey) -> None:
    san = x509.SubjectAlternativeName([x509.RFC822Name("admin@example.test")])
    pem = make_csr(p256_key, extensions=[(san, False)])

    with pytest.raises(CsrInvalidError, match=r"^CSR contains no host name:"):
        load_csr(pem)


def test_san_ip_only_without_cn(p256_key: ec.EllipticCurvePrivateKey) -> None:
    san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("2001:db8::1"))])
    pem = make_csr(p256_key, extensions=[(san, False)])

    # The caller rejects an IP address as the requested primary name.
    assert load_csr(pem).requested_names == ("2001:db8::1",)


def test_two_common_names_rejected(p256_key: ec.EllipticCurvePrivateKey) -> None:
    pem = make_csr(p256_key, subject=[common_name("a.example.test"), common_name("b.example.test")])

    with pytest.raises(CsrInvalidError) as caught:
        load_csr(pem)

    assert caught.value.message.startswith("CSR subject has 2 common names:")


def test_requested_extensions_ignored(p256_key: ec.EllipticCurvePrivateKey) -> None:
    extensions: list[tuple[x509.ExtensionType, bool]] = [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=True,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            True,
        ),
        (
            x509.CertificatePolicies(
                [x509.PolicyInformation(x509.ObjectIdentifier("1.2.3.4"), None)]
            ),
            False,
        ),
    ]
    pem = make_csr(p256_key, subject=[common_name("web-01.example.test")], extensions=extensions)

    assert load_csr(pem).requested_names == ("web-01.example.test",)


def test_load_csr_pem_after_text(p256_key: ec.EllipticCurvePrivateKey) -> None:
    # "openssl req -text" writes a text dump before the PEM block.
    pem = make_csr(p256_key, subject=[common_name("web-01.example.test")])
    dump = b"Certificate Request:\n    Data:\n        Version: 1 (0x0)\n" + pem

    assert load_csr(dump).requested_names == ("web-01.example.test",)


def test_too_many_names_rejected() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName(f"n{i}.example.test") for i in range(101)]
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "n0.example.test")]))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(key, hashes.SHA256())
    )
    with pytest.raises(CsrInvalidError) as raised:
        load_csr(csr.public_bytes(serialization.Encoding.PEM))
    assert "101 names" in raised.value.message
