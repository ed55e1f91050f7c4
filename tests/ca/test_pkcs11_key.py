"""The CA key in a SoftHSM2 token: generation, reuse, signing and the errors of each step.

Each test makes its own token and initializes the SoftHSM2 library again, so no
session or login carries over from one test to the next.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pkcs11
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from hostca.ca.pkcs11_key import (
    CaKeyNotExportableError,
    Pkcs11KeyNotFoundError,
    Pkcs11KeyUnusableError,
    Pkcs11Login,
    Pkcs11ModuleError,
    Pkcs11PinInvalidError,
    Pkcs11SigningError,
    Pkcs11TokenNotFoundError,
    open_ca_key,
    open_or_generate_ca_key,
)
from hostca.ca.pkcs11_uri import parse_pkcs11_uri
from hostca.core.crl import RevokedEntry, build_crl
from hostca.core.profile import (
    DEFAULT_LIFETIME,
    HostCertificateRequest,
    build_ca_certificate,
    build_host_certificate,
    generate_serial_number,
)

from softhsm import SOFTHSM2_MODULE, USER_PIN, SoftHsmToken, create_token, token_in_this_process

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def token(tmp_path: Path) -> Iterator[SoftHsmToken]:
    created = create_token(tmp_path / "softhsm")
    with token_in_this_process(created):
        yield created


def login(token: SoftHsmToken, pin: str = USER_PIN) -> Pkcs11Login:
    return Pkcs11Login(module_path=SOFTHSM2_MODULE, pin=pin.encode(), pin_file=token.pin_file)


def token_objects(token: SoftHsmToken, object_class: pkcs11.ObjectClass) -> list[pkcs11.Object]:
    """Return the token's objects of ``object_class``, read in a session of their own.

    The CA key that the test opened has logged this process in already, and a
    login counts for every session of the process.
    """
    library = pkcs11.lib(str(SOFTHSM2_MODULE))
    session = library.get_token(token_label=token.label).open(rw=True)
    return list(session.get_objects({pkcs11.Attribute.CLASS: object_class}))


def test_generated_key_stays_in_token(token: SoftHsmToken) -> None:
    opened = open_or_generate_ca_key(parse_pkcs11_uri(token.uri()), login(token), "ec-p256")

    assert opened.generated is True
    assert opened.extractable is False
    (private_object,) = token_objects(token, pkcs11.ObjectClass.PRIVATE_KEY)
    assert private_object[pkcs11.Attribute.LABEL] == "hostca-ca"
    assert private_object[pkcs11.Attribute.TOKEN] is True
    assert private_object[pkcs11.Attribute.SENSITIVE] is True
    assert private_object[pkcs11.Attribute.EXTRACTABLE] is False
    assert private_object[pkcs11.Attribute.ALWAYS_SENSITIVE] is True
    assert private_object[pkcs11.Attribute.NEVER_EXTRACTABLE] is True
    with pytest.raises(pkcs11.AttributeSensitive):
        private_object[pkcs11.Attribute.VALUE]


def test_key_refuses_export(token: SoftHsmToken) -> None:
    key = open_or_generate_ca_key(parse_pkcs11_uri(token.uri()), login(token), "ec-p256")

    with pytest.raises(CaKeyNotExportableError) as caught:
        key.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    assert "token 'hostca-test', object 'hostca-ca'" in caught.value.message
    with pytest.raises(CaKeyNotExportableError):
        key.private_key.private_numbers()


def test_existing_key_is_used(token: SoftHsmToken) -> None:
    uri = parse_pkcs11_uri(token.uri())
    first = open_or_generate_ca_key(uri, login(token), "ec-p256")

    second = open_or_generate_ca_key(uri, login(token), "rsa-3072")
    opened = open_ca_key(uri, login(token))

    assert second.generated is False
    public_bytes = first.private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for later in (second.private_key, opened):
        assert isinstance(later, ec.EllipticCurvePrivateKey)
        assert (
            later.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            == public_bytes
        )
    assert len(token_objects(token, pkcs11.ObjectClass.PRIVATE_KEY)) == 1


@pytest.mark.parametrize(
    ("key_type", "hash_name"),
    [("ec-p256", "sha256"), ("ec-p384", "sha384"), ("rsa-3072", "sha256")],
)
def test_certificates_and_crl_signed_in_token(
    token: SoftHsmToken, key_type: str, hash_name: str
) -> None:
    key = open_or_generate_ca_key(parse_pkcs11_uri(token.uri()), login(token), key_type)
    ca_key = key.private_key

    ca_certificate = build_ca_certificate(
        ca_key, common_name="hostca HSM Test Root CA", organization=None, now=NOW
    )
    host_certificate = build_host_certificate(
        HostCertificateRequest(
            host_id=uuid.uuid4(),
            dns_names=("web-01.example.test",),
            ip_addresses=(),
            public_key=ec.generate_private_key(ec.SECP256R1()).public_key(),
            serial_number=generate_serial_number(),
            now=NOW,
            lifetime=DEFAULT_LIFETIME,
            crl_url="https://ca.example.test:1556/api/v1/crl",
            ca_issuers_url="https://ca.example.test:1556/api/v1/ca?format=der",
        ),
        ca_certificate,
        ca_key,
    )
    crl = build_crl(
        [RevokedEntry(host_certificate.serial_number, NOW, x509.ReasonFlags.key_compromise)],
        crl_number=1,
        this_update=NOW,
        next_update=NOW + timedelta(days=7),
        ca_certificate=ca_certificate,
        ca_key=ca_key,
    )

    assert isinstance(
        ca_key, rsa.RSAPrivateKey if key_type.startswith("rsa") else ec.EllipticCurvePrivateKey
    )
    ca_certificate.verify_directly_issued_by(ca_certificate)
    host_certificate.verify_directly_issued_by(ca_certificate)
    ca_public_key = ca_key.public_key()
    assert isinstance(ca_public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey)
    assert crl.is_signature_valid(ca_public_key)
    assert crl.get_revoked_certificate_by_serial_number(host_certificate.serial_number)
    for signed in (ca_certificate, host_certificate, crl):
        assert signed.signature_hash_algorithm is not None
        assert signed.signature_hash_algorithm.name == hash_name


def test_key_with_id(token: SoftHsmToken) -> None:
    uri = parse_pkcs11_uri(token.uri(id="%0a%0b"))
    open_or_generate_ca_key(uri, login(token), "ec-p256")

    (private_object,) = token_objects(token, pkcs11.ObjectClass.PRIVATE_KEY)
    assert private_object[pkcs11.Attribute.ID] == b"\x0a\x0b"
    with pytest.raises(Pkcs11KeyNotFoundError) as caught:
        open_ca_key(parse_pkcs11_uri(token.uri(id="%0c")), login(token))
    assert "no private key with this label and ID" in caught.value.message


def test_same_label_twice_needs_id(token: SoftHsmToken) -> None:
    for key_id in ("%01", "%02"):
        uri = parse_pkcs11_uri(token.uri(id=key_id))
        assert open_or_generate_ca_key(uri, login(token), "ec-p256").generated is True

    with pytest.raises(Pkcs11KeyUnusableError) as caught:
        open_ca_key(parse_pkcs11_uri(token.uri()), login(token))

    assert "2 private keys have this label; add id=" in caught.value.message


def test_mismatched_public_key_rejected(token: SoftHsmToken) -> None:
    open_or_generate_ca_key(parse_pkcs11_uri(token.uri(id="%01")), login(token), "ec-p256")
    open_or_generate_ca_key(
        parse_pkcs11_uri(token.uri("other-key", id="%02")), login(token), "ec-p256"
    )
    # Replace the public key of "hostca-ca" with a copy of the other key's public key.
    public_objects = token_objects(token, pkcs11.ObjectClass.PUBLIC_KEY)
    own = next(o for o in public_objects if o[pkcs11.Attribute.ID] == b"\x01")
    other = next(o for o in public_objects if o[pkcs11.Attribute.ID] == b"\x02")
    own.destroy()
    other.copy({pkcs11.Attribute.LABEL: "hostca-ca", pkcs11.Attribute.ID: b"\x01"})

    with pytest.raises(Pkcs11SigningError) as caught:
        open_ca_key(parse_pkcs11_uri(token.uri(id="%01")), login(token))

    assert "signature that the CA public key does not verify" in caught.value.message


def test_wrong_pin_rejected(token: SoftHsmToken) -> None:
    with pytest.raises(Pkcs11PinInvalidError) as caught:
        open_or_generate_ca_key(
            parse_pkcs11_uri(token.uri()), login(token, "not-the-pin"), "ec-p256"
        )

    assert caught.value.code == "pkcs11_pin_invalid"
    assert f"the user PIN from {token.pin_file} is wrong" in caught.value.message
    assert "not-the-pin" not in caught.value.message


def test_missing_token_lists_tokens(token: SoftHsmToken) -> None:
    with pytest.raises(Pkcs11TokenNotFoundError) as caught:
        open_ca_key(parse_pkcs11_uri("pkcs11:token=absent;object=ca"), login(token))

    assert caught.value.code == "pkcs11_token_not_found"
    assert "token 'absent' not found" in caught.value.message
    assert "(tokens there: 'hostca-test')" in caught.value.message


def test_missing_key_rejected(token: SoftHsmToken) -> None:
    with pytest.raises(Pkcs11KeyNotFoundError) as caught:
        open_ca_key(parse_pkcs11_uri(token.uri("absent")), login(token))

    assert caught.value.code == "pkcs11_key_not_found"
    assert "token 'hostca-test', object 'absent'" in caught.value.message
    assert "hostca server init --ca-key-uri" in caught.value.message


def test_missing_module_rejected(token: SoftHsmToken, tmp_path: Path) -> None:
    missing = tmp_path / "absent.so"
    uri = parse_pkcs11_uri(f"{token.uri()}?module-path={missing}")

    with pytest.raises(Pkcs11ModuleError) as caught:
        open_ca_key(uri, login(token))

    assert caught.value.code == "pkcs11_module_unavailable"
    assert f"{missing}: PKCS #11 module not found" in caught.value.message


def test_module_not_a_library_rejected(token: SoftHsmToken, tmp_path: Path) -> None:
    not_a_library = tmp_path / "not-a-library.so"
    not_a_library.write_bytes(b"not an ELF file")

    with pytest.raises(Pkcs11ModuleError) as caught:
        open_ca_key(
            parse_pkcs11_uri(token.uri()),
            Pkcs11Login(module_path=not_a_library, pin=USER_PIN.encode()),
        )

    assert f"{not_a_library}: PKCS #11 module cannot be loaded" in caught.value.message


def test_no_module_configured(token: SoftHsmToken) -> None:
    with pytest.raises(Pkcs11ModuleError) as caught:
        open_ca_key(
            parse_pkcs11_uri(token.uri()), Pkcs11Login(module_path=None, pin=USER_PIN.encode())
        )

    assert "no PKCS #11 module is configured" in caught.value.message
    assert "HOSTCA_PKCS11_MODULE" in caught.value.message


def test_ecdsa_signature_verifies(token: SoftHsmToken) -> None:
    key = open_or_generate_ca_key(parse_pkcs11_uri(token.uri()), login(token), "ec-p384")
    assert isinstance(key.private_key, ec.EllipticCurvePrivateKey)

    signature = key.private_key.sign(b"message", ec.ECDSA(hashes.SHA384()))

    key.private_key.public_key().verify(signature, b"message", ec.ECDSA(hashes.SHA384()))


def test_rsa_signature_per_hash(token: SoftHsmToken) -> None:
    key = open_or_generate_ca_key(parse_pkcs11_uri(token.uri()), login(token), "rsa-3072")
    assert isinstance(key.private_key, rsa.RSAPrivateKey)

    for algorithm in (hashes.SHA256(), hashes.SHA384(), hashes.SHA512()):
        signature = key.private_key.sign(b"message", padding.PKCS1v15(), algorithm)
        key.private_key.public_key().verify(signature, b"message", padding.PKCS1v15(), algorithm)
    with pytest.raises(TypeError):
        key.private_key.sign(
            b"message",
            padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.MAX_LENGTH),
            hashes.SHA256(),
        )
