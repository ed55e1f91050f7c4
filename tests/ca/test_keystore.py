"""Tests of hostca.ca.keystore: key and certificate files, and the CA directory."""

from __future__ import annotations

import os
import stat
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from hostca.ca.keystore import (
    CA_CERTIFICATE_FILE,
    CA_KEY_FILE,
    CaExistsError,
    CaFileInvalidError,
    CaImportInvalidError,
    CaNotFoundError,
    CaPassphraseInvalidError,
    PassphraseEmptyError,
    create_ca,
    import_ca,
    load_ca,
    load_certificate,
    load_private_key,
    write_certificate,
    write_private_key,
)
from hostca.core.keys import KeyTypeRejectedError, check_ca_private_key, generate_private_key
from hostca.core.profile import build_ca_certificate

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
PASSPHRASE = b"correct horse battery staple"


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def public_der(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.fixture
def p256_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


# Private key files.


def test_write_private_key_modes(tmp_path: Path, p256_key: ec.EllipticCurvePrivateKey) -> None:
    key_dir = tmp_path / "new" / "keys"
    path = key_dir / "host.key.pem"

    write_private_key(path, p256_key, None)

    assert mode_of(path) == 0o600
    assert mode_of(key_dir) == 0o700
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert [entry.name for entry in key_dir.iterdir()] == ["host.key.pem"]


def test_write_private_key_forces_directory_mode(
    tmp_path: Path, p256_key: ec.EllipticCurvePrivateKey
) -> None:
    key_dir = tmp_path / "keys"
    key_dir.mkdir(mode=0o755)
    key_dir.chmod(0o755)

    write_private_key(key_dir / "host.key.pem", p256_key, None)

    assert mode_of(key_dir) == 0o700


def test_write_private_key_ignores_umask(
    tmp_path: Path, p256_key: ec.EllipticCurvePrivateKey
) -> None:
    previous = os.umask(0o000)
    try:
        write_private_key(tmp_path / "keys" / "host.key.pem", p256_key, None)
    finally:
        os.umask(previous)

    assert mode_of(tmp_path / "keys" / "host.key.pem") == 0o600
    assert mode_of(tmp_path / "keys") == 0o700


def test_write_private_key_replaces_existing(
    tmp_path: Path, p256_key: ec.EllipticCurvePrivateKey
) -> None:
    path = tmp_path / "keys" / "host.key.pem"
    path.parent.mkdir(mode=0o700)
    path.write_bytes(b"old")
    path.chmod(0o644)

    write_private_key(path, p256_key, None)

    assert mode_of(path) == 0o600
    loaded = load_private_key(path, None)
    assert isinstance(loaded, ec.EllipticCurvePrivateKey)
    assert public_der(loaded) == public_der(p256_key)


def test_encrypted_key_round_trip(tmp_path: Path, p256_key: ec.EllipticCurvePrivateKey) -> None:
    path = tmp_path / "keys" / "ca.key.pem"

    write_private_key(path, p256_key, PASSPHRASE)

    assert path.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    loaded = load_private_key(path, PASSPHRASE)
    assert isinstance(loaded, ec.EllipticCurvePrivateKey)
    assert public_der(loaded) == public_der(p256_key)


def test_encrypted_key_readable_by_openssl(
    tmp_path: Path, p256_key: ec.EllipticCurvePrivateKey
) -> None:
    path = tmp_path / "keys" / "ca.key.pem"
    write_private_key(path, p256_key, PASSPHRASE)

    completed = subprocess.run(
        [
            "openssl",
            "pkey",
            "-in",
            str(path),
            "-passin",
            f"pass:{PASSPHRASE.decode()}",
            "-pubout",
            "-outform",
            "DER",
        ],
        capture_output=True,
        check=True,
    )

    assert completed.stdout == public_der(p256_key)


def test_wrong_passphrase(tmp_path: Path, p256_key: ec.EllipticCurvePrivateKey) -> None:
    path = tmp_path / "keys" / "ca.key.pem"
    write_private_key(path, p256_key, PASSPHRASE)

    with pytest.raises(CaPassphraseInvalidError) as caught:
        load_private_key(path, b"wrong passphrase")

    assert caught.value.code == "ca_passphrase_invalid"
    assert caught.value.status == 503
    assert caught.value.message == (
        f"{path}: the passphrase is wrong, or the encrypted key is damaged; give the CA "
        "passphrase that was set when the CA was created or imported (for example with "
        "--ca-passphrase-file)."
    )
    assert caught.value.details == {"path": str(path)}
    assert "wrong passphrase" not in caught.value.message


def test_missing_passphrase(tmp_path: Path, p256_key: ec.EllipticCurvePrivateKey) -> None:
    path = tmp_path / "keys" / "ca.key.pem"
    write_private_key(path, p256_key, PASSPHRASE)

    with pytest.raises(CaPassphraseInvalidError) as caught:
        load_private_key(path, None)

    assert caught.value.code == "ca_passphrase_invalid"
    assert caught.value.message.startswith(
        f"{path}: the private key is encrypted and no passphrase was given; give the CA passphrase"
    )


def test_passphrase_for_unencrypted_key(
    tmp_path: Path, p256_key: ec.EllipticCurvePrivateKey
) -> None:
    path = tmp_path / "keys" / "ca.key.pem"
    write_private_key(path, p256_key, None)

    with pytest.raises(CaPassphraseInvalidError) as caught:
        load_private_key(path, PASSPHRASE)

    assert caught.value.message.startswith(
        f"{path}: the private key is not encrypted, but a passphrase was given;"
    )


def test_empty_passphrase_rejected(tmp_path: Path, p256_key: ec.EllipticCurvePrivateKey) -> None:
    path = tmp_path / "keys" / "ca.key.pem"

    with pytest.raises(PassphraseEmptyError) as caught:
        write_private_key(path, p256_key, b"")

    assert caught.value.code == "passphrase_empty"
    assert not path.exists()


def test_load_private_key_missing_and_damaged(tmp_path: Path) -> None:
    missing = tmp_path / "missing.key.pem"
    damaged = tmp_path / "damaged.key.pem"
    damaged.write_bytes(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")

    with pytest.raises(CaNotFoundError) as not_found:
        load_private_key(missing, None)
    with pytest.raises(CaFileInvalidError) as invalid:
        load_private_key(damaged, None)

    assert not_found.value.code == "ca_not_found"
    assert not_found.value.message.startswith(f"{missing}: private key file not found;")
    assert invalid.value.code == "ca_file_invalid"
    assert invalid.value.message.startswith(f"{damaged}: not a PEM private key")


# Certificate files.


def test_certificate_round_trip(tmp_path: Path) -> None:
    key = check_ca_private_key(generate_private_key("ec-p256"))
    certificate = build_ca_certificate(key, common_name="Root", organization=None, now=NOW)
    path = tmp_path / "ca" / "ca.cert.pem"

    write_certificate(path, certificate)

    assert mode_of(path) == 0o644
    assert load_certificate(path) == certificate


def test_load_certificate_invalid(tmp_path: Path) -> None:
    path = tmp_path / "ca.cert.pem"
    path.write_bytes(b"not a certificate")

    with pytest.raises(CaFileInvalidError, match=r"not a PEM certificate"):
        load_certificate(path)


# Creating and loading a CA.


def test_create_and_load_ca(tmp_path: Path) -> None:
    ca_dir = tmp_path / "data" / "ca"

    created = create_ca(
        ca_dir, common_name="hostca Root CA", organization="Example", passphrase=PASSPHRASE, now=NOW
    )
    loaded = load_ca(ca_dir, PASSPHRASE)

    assert mode_of(ca_dir) == 0o700
    assert mode_of(ca_dir / CA_KEY_FILE) == 0o600
    assert mode_of(ca_dir / CA_CERTIFICATE_FILE) == 0o644
    assert sorted(entry.name for entry in ca_dir.iterdir()) == [CA_CERTIFICATE_FILE, CA_KEY_FILE]
    assert loaded.certificate == created.certificate
    assert public_der(loaded.private_key) == public_der(created.private_key)
    assert isinstance(loaded.private_key, ec.EllipticCurvePrivateKey)
    assert loaded.private_key.curve.name == "secp256r1"
    assert (ca_dir / CA_KEY_FILE).read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")


def test_create_ca_unencrypted_p384(tmp_path: Path) -> None:
    created = create_ca(
        tmp_path / "ca",
        key_type="ec-p384",
        common_name="Root",
        organization=None,
        passphrase=None,
        now=NOW,
    )

    loaded = load_ca(tmp_path / "ca", None)
    assert isinstance(loaded.private_key, ec.EllipticCurvePrivateKey)
    assert loaded.private_key.curve.name == "secp384r1"
    assert loaded.certificate == created.certificate


def test_create_ca_rsa_4096(tmp_path: Path) -> None:
    # The one RSA-4096 case of the suite, because its key generation is slow.
    created = create_ca(
        tmp_path / "ca",
        key_type="rsa-4096",
        common_name="Root",
        organization=None,
        passphrase=None,
        now=NOW,
    )

    assert isinstance(created.private_key, rsa.RSAPrivateKey)
    assert created.private_key.key_size == 4096
    assert isinstance(created.certificate.signature_hash_algorithm, hashes.SHA256)


@pytest.mark.parametrize("key_type", ["rsa-2048", "ed25519", "dsa"])
def test_create_ca_rejects_key_type(tmp_path: Path, key_type: str) -> None:
    with pytest.raises(KeyTypeRejectedError) as caught:
        create_ca(
            tmp_path / "ca",
            key_type=key_type,
            common_name="Root",
            organization=None,
            passphrase=None,
            now=NOW,
        )

    assert caught.value.message == (
        f"{key_type!r}: not a CA key type; use one of ec-p256, ec-p384, rsa-3072, rsa-4096."
    )
    assert not (tmp_path / "ca").exists()


def test_create_ca_refuses_existing(tmp_path: Path) -> None:
    ca_dir = tmp_path / "ca"
    create_ca(ca_dir, common_name="Root", organization=None, passphrase=None, now=NOW)
    original = (ca_dir / CA_KEY_FILE).read_bytes()

    with pytest.raises(CaExistsError) as caught:
        create_ca(ca_dir, common_name="Root 2", organization=None, passphrase=None, now=NOW)

    assert caught.value.code == "ca_exists"
    assert caught.value.status == 409
    assert (ca_dir / CA_KEY_FILE).read_bytes() == original


def test_load_ca_missing(tmp_path: Path) -> None:
    with pytest.raises(CaNotFoundError) as caught:
        load_ca(tmp_path / "empty", None)

    assert caught.value.message.startswith(
        f"{tmp_path / 'empty' / CA_CERTIFICATE_FILE}: certificate file not found; "
        "run `hostca server init` first"
    )


def test_load_ca_wrong_passphrase(tmp_path: Path) -> None:
    create_ca(
        tmp_path / "ca", common_name="Root", organization=None, passphrase=PASSPHRASE, now=NOW
    )

    with pytest.raises(CaPassphraseInvalidError) as caught:
        load_ca(tmp_path / "ca", b"not it")

    assert caught.value.code == "ca_passphrase_invalid"
    assert str(tmp_path / "ca" / CA_KEY_FILE) in caught.value.message


def test_load_ca_mismatched_files(tmp_path: Path) -> None:
    first = create_ca(tmp_path / "a", common_name="A", organization=None, passphrase=None, now=NOW)
    create_ca(tmp_path / "b", common_name="B", organization=None, passphrase=None, now=NOW)
    write_certificate(tmp_path / "b" / CA_CERTIFICATE_FILE, first.certificate)

    with pytest.raises(CaFileInvalidError) as caught:
        load_ca(tmp_path / "b", None)

    assert caught.value.message.startswith(
        f"{tmp_path / 'b' / CA_KEY_FILE}: does not match the public key of"
    )


# Importing a CA.


def make_ca_pem(
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    *,
    ca: bool = True,
    key_usage: x509.KeyUsage | None = None,
) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Imported CA")])
    builder = (
        x509.CertificateBuilder()
        .issuer_name(name)
        .subject_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW)
        .not_valid_after(datetime(2036, 3, 1, tzinfo=UTC))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if key_usage is not None:
        builder = builder.add_extension(key_usage, critical=True)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def key_pem(
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, passphrase: bytes | None = None
) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, encryption
    )


def key_usage(*, key_cert_sign: bool, crl_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def test_import_ca(tmp_path: Path, p256_key: ec.EllipticCurvePrivateKey) -> None:
    certificate_pem = make_ca_pem(p256_key, key_usage=key_usage(key_cert_sign=True, crl_sign=True))
    ca_dir = tmp_path / "ca"

    imported = import_ca(
        ca_dir, certificate_pem, key_pem(p256_key, b"import secret"), b"import secret", PASSPHRASE
    )
    loaded = load_ca(ca_dir, PASSPHRASE)

    assert imported.certificate == x509.load_pem_x509_certificate(certificate_pem)
    assert loaded.certificate == imported.certificate
    assert public_der(loaded.private_key) == public_der(p256_key)
    assert mode_of(ca_dir / CA_KEY_FILE) == 0o600
    assert mode_of(ca_dir) == 0o700


def test_import_ca_rejects_mismatched_key(
    tmp_path: Path, p256_key: ec.EllipticCurvePrivateKey
) -> None:
    other_key = ec.generate_private_key(ec.SECP256R1())

    with pytest.raises(CaImportInvalidError) as caught:
        import_ca(tmp_path / "ca", make_ca_pem(p256_key), key_pem(other_key), None, None)

    assert caught.value.code == "ca_import_invalid"
    assert caught.value.message == (
        "CA private key to import: does not match the public key of CA certificate "
        "'CN=Imported CA'; give the private key that belongs to this certificate."
    )
    assert not (tmp_path / "ca").exists()


def test_import_ca_rejects_end_entity_certificate(
    tmp_path: Path, p256_key: ec.EllipticCurvePrivateKey
) -> None:
    with pytest.raises(CaImportInvalidError) as caught:
        import_ca(tmp_path / "ca", make_ca_pem(p256_key, ca=False), key_pem(p256_key), None, None)

    assert caught.value.message.startswith(
        "certificate 'CN=Imported CA': not a CA certificate (basicConstraints CA:TRUE missing)"
    )


def test_import_ca_rejects_key_usage_without_crl_sign(
    tmp_path: Path, p256_key: ec.EllipticCurvePrivateKey
) -> None:
    certificate_pem = make_ca_pem(p256_key, key_usage=key_usage(key_cert_sign=True, crl_sign=False))

    with pytest.raises(CaImportInvalidError, match=r"key usage lacks keyCertSign or cRLSign"):
        import_ca(tmp_path / "ca", certificate_pem, key_pem(p256_key), None, None)


def test_import_ca_wrong_key_passphrase(
    tmp_path: Path, p256_key: ec.EllipticCurvePrivateKey
) -> None:
    with pytest.raises(CaPassphraseInvalidError) as caught:
        import_ca(
            tmp_path / "ca", make_ca_pem(p256_key), key_pem(p256_key, b"right"), b"wrong", None
        )

    assert caught.value.code == "ca_passphrase_invalid"


def test_import_ca_rejects_p521_key(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP521R1())

    with pytest.raises(KeyTypeRejectedError, match=r"^EC P-521: key type not accepted for a CA"):
        import_ca(tmp_path / "ca", make_ca_pem(key), key_pem(key), None, None)


def test_import_ca_rejects_garbage(tmp_path: Path, p256_key: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(CaImportInvalidError, match=r"^CA certificate cannot be decoded"):
        import_ca(tmp_path / "ca", b"garbage", key_pem(p256_key), None, None)
    with pytest.raises(CaImportInvalidError, match=r"^CA private key cannot be decoded"):
        import_ca(tmp_path / "ca", make_ca_pem(p256_key), b"garbage", None, None)


def test_import_ca_refuses_existing(tmp_path: Path, p256_key: ec.EllipticCurvePrivateKey) -> None:
    create_ca(tmp_path / "ca", common_name="Root", organization=None, passphrase=None, now=NOW)

    with pytest.raises(CaExistsError):
        import_ca(tmp_path / "ca", make_ca_pem(p256_key), key_pem(p256_key), None, None)
