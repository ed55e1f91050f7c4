"""A primary whose CA key lives in a SoftHSM2 token, run as real ``hostca`` processes.

Init, enrolment, revocation, the CRL, backup and restore all work with the key in
the token. Every signature verifies with the public key that the token contains,
and no private key of the CA reaches the data directory or the backup.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pkcs11
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from hostca.core.backup_archive import parse_archive

from conftest import HOSTCA, PrimaryServer, free_port, init_server, start_server, stop_server
from e2e_helpers import openssl_csr
from softhsm import USER_PIN, SoftHsmToken, create_token, token_session

pytestmark = pytest.mark.e2e

BACKUP_PASSPHRASE = "hsm restore drill passphrase"
SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def server_env(token: SoftHsmToken) -> dict[str, str]:
    return {**token.env, "HOSTCA_CA_PIN_FILE": str(token.pin_file)}


def hostca(*arguments: str | Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [HOSTCA, *map(str, arguments)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**os.environ, **env},
    )


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> SoftHsmToken:
    return create_token(tmp_path_factory.mktemp("softhsm"))


@pytest.fixture(scope="module")
def hsm_server(
    token: SoftHsmToken, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrimaryServer]:
    tmp = tmp_path_factory.mktemp("hsm-primary")
    init_server(
        tmp / "data",
        tmp,
        ("--ca-key-uri", token.uri(), "--ca-pin-file", str(token.pin_file)),
        env=token.env,
    )
    server = start_server(tmp / "data", tmp / "server.log", env=server_env(token))
    yield server
    stop_server(server)


def token_public_key(token: SoftHsmToken) -> bytes:
    """Return the DER public key of the CA key, read from the token."""
    with token_session(token) as session:
        (public_object,) = session.get_objects(
            {pkcs11.Attribute.CLASS: pkcs11.ObjectClass.PUBLIC_KEY}
        )
        return pkcs11.util.ec.encode_ec_public_key(public_object)


def ca_public_key(server: PrimaryServer, token: SoftHsmToken) -> ec.EllipticCurvePublicKey:
    """Return the CA public key after checking that the CA certificate certifies the token's key."""
    certificate = x509.load_pem_x509_certificate(server.ca_file.read_bytes())
    assert certificate.public_key().public_bytes(*SPKI) == token_public_key(token)
    public_key = serialization.load_der_public_key(token_public_key(token))
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    return public_key


def enrol_host(server: PrimaryServer, directory: Path, name: str) -> tuple[Path, Path, str]:
    key, csr = openssl_csr(directory, name)
    token_value = server.create_token(f"{name}-token")
    with server.client() as client:
        answer = client.post("/api/v1/enroll", json={"csr": csr.read_text(), "token": token_value})
    assert answer.status_code == 200, answer.text
    certificate = directory / f"{name}.cert.pem"
    certificate.write_text(answer.json()["certificate"])
    return key, certificate, answer.json()["serial_number"]


def private_keys_in(directory: Path) -> dict[Path, bytes]:
    """Return every file under ``directory`` that decodes as a private key, with its public key."""
    found = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        data = path.read_bytes()
        for load in (serialization.load_pem_private_key, serialization.load_der_private_key):
            try:
                key = load(data, None)
            except (ValueError, TypeError):
                continue
            found[path] = key.public_key().public_bytes(*SPKI)
    return found


def test_init_leaves_no_ca_key_on_disk(hsm_server: PrimaryServer, token: SoftHsmToken) -> None:
    data_dir = hsm_server.data_dir
    ca_key = ca_public_key(hsm_server, token).public_bytes(*SPKI)

    assert not (data_dir / "ca" / "ca.key.pem").exists()
    assert sorted(p.name for p in (data_dir / "ca").iterdir()) == ["ca.cert.pem"]
    # The server's own TLS key is the only private key in the data directory.
    assert list(private_keys_in(data_dir)) == [data_dir / "tls" / "server.key.pem"]
    assert ca_key not in private_keys_in(data_dir).values()
    for path in data_dir.rglob("*"):
        if path.is_file() and path != data_dir / "tls" / "server.key.pem":
            assert b"PRIVATE KEY" not in path.read_bytes(), path
    config = (data_dir / "server.json").read_text()
    assert token.uri() in config
    assert USER_PIN not in config


def test_ca_key_object_not_extractable(hsm_server: PrimaryServer, token: SoftHsmToken) -> None:
    with token_session(token) as session:
        (private_object,) = session.get_objects(
            {pkcs11.Attribute.CLASS: pkcs11.ObjectClass.PRIVATE_KEY}
        )
        assert private_object[pkcs11.Attribute.LABEL] == "hostca-ca"
        assert private_object[pkcs11.Attribute.EXTRACTABLE] is False
        assert private_object[pkcs11.Attribute.SENSITIVE] is True
        assert private_object[pkcs11.Attribute.NEVER_EXTRACTABLE] is True
        with pytest.raises(pkcs11.AttributeSensitive):
            private_object[pkcs11.Attribute.VALUE]


def test_issue_revoke_and_crl_signed_in_token(
    hsm_server: PrimaryServer, token: SoftHsmToken, tmp_path: Path
) -> None:
    public_key = ca_public_key(hsm_server, token)
    ca_certificate = x509.load_pem_x509_certificate(hsm_server.ca_file.read_bytes())
    server_certificate = x509.load_pem_x509_certificates(
        (hsm_server.data_dir / "tls" / "server.cert.pem").read_bytes()
    )[0]

    key, certificate_path, serial = enrol_host(hsm_server, tmp_path, "hsm-host.example.test")
    certificate = x509.load_pem_x509_certificate(certificate_path.read_bytes())
    with hsm_server.client(cert=(certificate_path, key)) as client:
        renewed = client.post("/api/v1/renew", json={})
    assert renewed.status_code == 200, renewed.text
    renewed_certificate = x509.load_pem_x509_certificate(renewed.json()["certificate"].encode())

    for issued in (ca_certificate, server_certificate, certificate, renewed_certificate):
        assert issued.signature_hash_algorithm is not None
        public_key.verify(
            issued.signature,
            issued.tbs_certificate_bytes,
            ec.ECDSA(issued.signature_hash_algorithm),
        )

    revoked = hsm_server.admin(
        "POST",
        "/api/v1/certificates/revoke",
        json={"host": "hsm-host.example.test", "reason_code": "key-compromise"},
    )
    assert revoked.status_code == 200, revoked.text
    with hsm_server.client() as client:
        crl = x509.load_der_x509_crl(client.get("/api/v1/crl").content)
    assert crl.is_signature_valid(public_key)
    assert crl.get_revoked_certificate_by_serial_number(int(serial, 16)) is not None
    assert crl.get_revoked_certificate_by_serial_number(renewed_certificate.serial_number)
    # The server checks revocation on every request, so the revoked certificate cannot renew.
    with hsm_server.client(cert=(certificate_path, key)) as client:
        refused = client.post("/api/v1/renew", json={})
    assert refused.status_code in (401, 403), refused.text


def test_backup_leaves_key_out_and_restore_runs(
    hsm_server: PrimaryServer, token: SoftHsmToken, tmp_path: Path
) -> None:
    passphrase_file = tmp_path / "backup-passphrase"
    passphrase_file.write_text(BACKUP_PASSPHRASE + "\n")
    archive = tmp_path / "hsm-primary.hcab"
    key, certificate, _ = enrol_host(hsm_server, tmp_path, "before-backup.example.test")

    backup = hostca(
        "server", "backup", "--data-dir", hsm_server.data_dir, "--out", archive,
        "--passphrase-file", passphrase_file, env=token.env,
    )  # fmt: skip

    assert backup.returncode == 0, backup.stderr
    assert f"The CA key lives in an HSM ({token.uri()}) and is not in the archive" in backup.stdout
    with tarfile.open(
        fileobj=io.BytesIO(parse_archive(archive.read_bytes()).open(BACKUP_PASSPHRASE))
    ) as tar:
        members = {member.name: tar.extractfile(member) for member in tar.getmembers()}
        contents = {name: stream.read() for name, stream in members.items() if stream}
    assert "ca/ca.key.pem" not in contents
    assert [name for name, data in contents.items() if b"PRIVATE KEY" in data] == [
        "tls/server.key.pem"
    ]

    restored_dir = tmp_path / "restored"
    restore = hostca(
        "server", "restore", archive, "--data-dir", restored_dir,
        "--passphrase-file", passphrase_file, env=token.env,
    )  # fmt: skip
    assert restore.returncode == 0, restore.stderr
    assert "The CA key lives in an HSM" in restore.stdout
    assert not (restored_dir / "ca" / "ca.key.pem").exists()

    restored = start_server(restored_dir, tmp_path / "restored.log", env=server_env(token))
    try:
        with restored.client(cert=(certificate, key)) as client:
            renewed = client.post("/api/v1/renew", json={})
        assert renewed.status_code == 200, renewed.text
        new_certificate = x509.load_pem_x509_certificate(renewed.json()["certificate"].encode())
        new_certificate.verify_directly_issued_by(
            x509.load_pem_x509_certificate(restored.ca_file.read_bytes())
        )
    finally:
        stop_server(restored)


def test_server_run_reports_token_errors(token: SoftHsmToken, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    init_server(
        data_dir,
        tmp_path,
        ("--ca-key-uri", token.uri("second-ca"), "--ca-pin-file", str(token.pin_file)),
        env=token.env,
    )
    wrong_pin = tmp_path / "wrong-pin"
    wrong_pin.write_text("0000-wrong\n")
    other_token = create_token(tmp_path / "other-softhsm", label="another-token")
    not_a_library = tmp_path / "not-a-library.so"
    not_a_library.write_bytes(b"not an ELF file")
    run = ("server", "run", "--data-dir", data_dir, "--listen", f"127.0.0.1:{free_port()}")
    cases = [
        (
            {**token.env, "HOSTCA_CA_PIN_FILE": str(wrong_pin)},
            f"the user PIN from {wrong_pin} is wrong",
        ),
        (
            {**other_token.env, "HOSTCA_CA_PIN_FILE": str(token.pin_file)},
            "token 'hostca-test' not found",
        ),
        (
            {**server_env(token), "HOSTCA_PKCS11_MODULE": str(not_a_library)},
            f"{not_a_library}: PKCS #11 module cannot be loaded",
        ),
        (token.env, "give the token's user PIN with --ca-pin-file or HOSTCA_CA_PIN_FILE"),
    ]

    for env, message in cases:
        result = hostca(*run, env=env)
        assert result.returncode != 0, message
        assert message in result.stderr
        assert "Traceback" not in result.stderr
        assert USER_PIN not in result.stderr + result.stdout


def test_init_with_wrong_pin_leaves_directory_empty(token: SoftHsmToken, tmp_path: Path) -> None:
    wrong_pin = tmp_path / "wrong-pin"
    wrong_pin.write_text("0000-wrong\n")
    data_dir = tmp_path / "data"

    result = hostca(
        "server", "init", "--data-dir", data_dir, "--name", "localhost",
        "--ca-key-uri", token.uri("third-ca"), "--ca-pin-file", wrong_pin, env=token.env,
    )  # fmt: skip

    assert result.returncode != 0
    assert f"the user PIN from {wrong_pin} is wrong" in result.stderr
    assert not data_dir.exists() or not any(data_dir.iterdir())
