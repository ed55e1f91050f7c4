"""Server initialization and start-up with the CA key in a SoftHSM2 token, in this process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from hostca.ca.pkcs11_key import Pkcs11EcPrivateKey, Pkcs11Login
from hostca.core.errors import InvalidRequestError
from hostca.datadir import DataDir
from hostca.service.backup import BackupRequest, create_backup, restore_backup
from hostca.service.server_setup import InitRequest, initialize_server, open_context

from softhsm import SOFTHSM2_MODULE, USER_PIN, SoftHsmToken, create_token, token_in_this_process

SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
BACKUP_PASSPHRASE = "hsm backup passphrase"


@pytest.fixture
def token(tmp_path: Path) -> Iterator[SoftHsmToken]:
    created = create_token(tmp_path / "softhsm")
    with token_in_this_process(created):
        yield created


def hsm_request(token: SoftHsmToken, data_dir: Path, **changes: object) -> InitRequest:
    values: dict[str, object] = {
        "data_dir": data_dir,
        "name": "primary.example.test",
        "alt_names": ("localhost", "127.0.0.1"),
        "admin_password": "correct-horse-battery-staple",
        "ca_key_uri": token.uri(),
        "pkcs11_login": Pkcs11Login(module_path=SOFTHSM2_MODULE, pin=USER_PIN.encode()),
    }
    values.update(changes)
    return InitRequest(**values)  # type: ignore[arg-type]


def test_init_in_token_writes_no_ca_key(token: SoftHsmToken, tmp_path: Path) -> None:
    result = initialize_server(hsm_request(token, tmp_path / "data"))
    layout = DataDir(tmp_path / "data")

    assert result.config.ca_key_uri == token.uri()
    assert result.config.ca_key_encrypted is False
    assert result.notes == [
        "generated a non-extractable EC P-256 CA key in token 'hostca-test', object 'hostca-ca'"
    ]
    assert sorted(path.name for path in layout.ca_dir.iterdir()) == ["ca.cert.pem"]
    server_certificate = x509.load_pem_x509_certificates(layout.tls_certificate.read_bytes())[0]
    ca_certificate = x509.load_pem_x509_certificate((layout.ca_dir / "ca.cert.pem").read_bytes())
    server_certificate.verify_directly_issued_by(ca_certificate)


def test_open_context_uses_token_key(token: SoftHsmToken, tmp_path: Path) -> None:
    initialize_server(hsm_request(token, tmp_path / "data"))
    login = Pkcs11Login(module_path=SOFTHSM2_MODULE, pin=USER_PIN.encode())

    context = open_context(
        DataDir(tmp_path / "data"), ca_passphrase=None, database_url=None, pkcs11_login=login
    )
    try:
        ca_key = context.ca.private_key
        assert isinstance(ca_key, Pkcs11EcPrivateKey)
        certified_key = context.ca.certificate.public_key().public_bytes(*SPKI)
        assert ca_key.public_key().public_bytes(*SPKI) == certified_key
    finally:
        context.database.dispose()


def test_open_context_needs_pin(token: SoftHsmToken, tmp_path: Path) -> None:
    initialize_server(hsm_request(token, tmp_path / "data"))

    with pytest.raises(InvalidRequestError) as caught:
        open_context(DataDir(tmp_path / "data"), ca_passphrase=None, database_url=None)

    assert caught.value.code == "ca_pin_required"
    assert token.uri() in caught.value.message


def test_second_init_uses_existing_key(token: SoftHsmToken, tmp_path: Path) -> None:
    first = initialize_server(hsm_request(token, tmp_path / "first"))

    second = initialize_server(hsm_request(token, tmp_path / "second", key_type="ec-p384"))

    assert second.notes == [
        "used the existing EC P-256 CA key in token 'hostca-test', object 'hostca-ca'"
    ]
    certificates = [
        x509.load_pem_x509_certificate((tmp_path / name / "ca" / "ca.cert.pem").read_bytes())
        for name in ("first", "second")
    ]
    first_key, second_key = (c.public_key().public_bytes(*SPKI) for c in certificates)
    assert first_key == second_key
    assert first.ca_fingerprints != second.ca_fingerprints


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"import_certificate_pem": b"-", "import_key_pem": b"-"},
            "--ca-key-uri and --import-ca-cert/--import-ca-key exclude each other",
        ),
        ({"ca_passphrase": b"passphrase"}, "leave the passphrase out"),
        ({"pkcs11_login": None}, "the token's user PIN is missing"),
        ({"ca_key_uri": "pkcs11:object=no-token"}, "token= and object= are both required"),
    ],
)
def test_init_rejects_bad_options(
    token: SoftHsmToken, tmp_path: Path, changes: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        initialize_server(hsm_request(token, tmp_path / "data", **changes))

    assert message in caught.value.message
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").iterdir())


def test_backup_and_restore_without_key(token: SoftHsmToken, tmp_path: Path) -> None:
    initialize_server(hsm_request(token, tmp_path / "data"))

    backup = create_backup(
        BackupRequest(
            data_dir=tmp_path / "data", out=tmp_path / "backup.hcab", passphrase=BACKUP_PASSPHRASE
        )
    )
    restored = restore_backup(tmp_path / "backup.hcab", tmp_path / "restored", BACKUP_PASSPHRASE)

    assert backup.ca_key_uri == token.uri()
    assert "ca/ca.key.pem" not in backup.files
    assert "ca/ca.cert.pem" in backup.files
    assert restored.ca_key_uri == token.uri()
    assert not (tmp_path / "restored" / "ca" / "ca.key.pem").exists()
    login = Pkcs11Login(module_path=SOFTHSM2_MODULE, pin=USER_PIN.encode())
    context = open_context(
        DataDir(tmp_path / "restored"), ca_passphrase=None, database_url=None, pkcs11_login=login
    )
    context.database.dispose()
