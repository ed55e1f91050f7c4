"""Server initialization: files and modes, CA key types, passphrases and schema checks."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from hostca.core.errors import ConflictError
from hostca.datadir import DataDir
from hostca.service.server_setup import InitRequest, initialize_server, open_context
from hostca.store.database import SchemaMismatchError

from conftest import HOSTCA, free_port, start_server, stop_server

# These servers are initialized in this process, on SQLite.
pytestmark = pytest.mark.sqlite_only


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_writes_private_files_0600(tmp_path: Path) -> None:
    result = initialize_server(
        InitRequest(
            data_dir=tmp_path / "data",
            name="primary.example.test",
            alt_names=("localhost", "127.0.0.1"),
        )
    )
    layout = DataDir(tmp_path / "data")

    assert mode(layout.root) == 0o700
    for private in (
        layout.ca_dir / "ca.key.pem",
        layout.tls_key,
        layout.token_hmac_key,
        layout.initial_password,
        layout.config_file,
    ):
        assert mode(private) == 0o600, private
        assert mode(private.parent) == 0o700, private.parent
    assert result.generated_password_file == layout.initial_password
    assert len(layout.initial_password.read_text().strip()) >= 12


def test_init_server_certificate_names(tmp_path: Path) -> None:
    result = initialize_server(
        InitRequest(
            data_dir=tmp_path / "data",
            name="Primary.Example.Test.",
            alt_names=("localhost", "127.0.0.1", "primary.example.test"),
        )
    )
    certificate = x509.load_pem_x509_certificates(
        DataDir(tmp_path / "data").tls_certificate.read_bytes()
    )[0]
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value

    assert san.get_values_for_type(x509.DNSName) == ["primary.example.test", "localhost"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert certificate.subject.rfc4514_string() == f"CN={result.config.primary_host_id}"


@pytest.mark.parametrize(
    ("key_type", "key_class", "size"),
    [
        ("ec-p256", ec.EllipticCurvePublicKey, 256),
        ("ec-p384", ec.EllipticCurvePublicKey, 384),
        ("rsa-3072", rsa.RSAPublicKey, 3072),
    ],
)
def test_init_ca_key_types(tmp_path: Path, key_type: str, key_class: type, size: int) -> None:
    initialize_server(
        InitRequest(data_dir=tmp_path / "data", name="primary.example.test", key_type=key_type)
    )
    ca = x509.load_pem_x509_certificate((tmp_path / "data" / "ca" / "ca.cert.pem").read_bytes())
    public_key = ca.public_key()
    assert isinstance(public_key, key_class)
    assert public_key.key_size == size  # type: ignore[attr-defined]
    assert (ca.not_valid_after_utc - ca.not_valid_before_utc).days >= 20 * 365


def test_init_twice_is_rejected(tmp_path: Path) -> None:
    initialize_server(InitRequest(data_dir=tmp_path / "data", name="primary.example.test"))
    with pytest.raises(ConflictError) as raised:
        initialize_server(InitRequest(data_dir=tmp_path / "data", name="primary.example.test"))
    assert raised.value.code == "already_initialized"


def test_failed_init_leaves_directory_empty(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with pytest.raises(Exception):  # noqa: B017 - any failure must clean up, whatever its type
        initialize_server(
            InitRequest(data_dir=data_dir, name="primary.example.test", admin_password="short")
        )
    assert list(data_dir.iterdir()) == []
    initialize_server(
        InitRequest(
            data_dir=data_dir, name="primary.example.test", admin_password="a-long-enough-password"
        )
    )


def test_encrypted_ca_key(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    initialize_server(
        InitRequest(data_dir=data_dir, name="primary.example.test", ca_passphrase=b"ca secret 123")
    )
    key_pem = (data_dir / "ca" / "ca.key.pem").read_text()
    assert "ENCRYPTED PRIVATE KEY" in key_pem

    context = open_context(DataDir(data_dir), ca_passphrase=b"ca secret 123", database_url=None)
    assert context.ca.certificate.subject == context.ca.certificate.issuer
    with pytest.raises(Exception) as raised:
        open_context(DataDir(data_dir), ca_passphrase=b"wrong", database_url=None)
    assert getattr(raised.value, "code", None) == "ca_passphrase_invalid"


def test_server_run_wrong_passphrase_exits(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    initialize_server(
        InitRequest(data_dir=data_dir, name="localhost", ca_passphrase=b"right passphrase")
    )
    wrong = tmp_path / "wrong"
    wrong.write_text("wrong passphrase\n")
    result = subprocess.run(
        [
            HOSTCA,
            "server",
            "run",
            "--data-dir",
            str(data_dir),
            "--listen",
            "127.0.0.1:1",
            "--ca-passphrase-file",
            str(wrong),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("hostca: error:")]
    assert len(error_lines) == 1
    assert "passphrase" in error_lines[0]
    assert "wrong passphrase" not in result.stderr


def test_server_run_unknown_schema_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    initialize_server(InitRequest(data_dir=data_dir, name="localhost"))
    import sqlite3

    with sqlite3.connect(data_dir / "hostca.db") as database:
        database.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(SchemaMismatchError) as raised:
        open_context(DataDir(data_dir), ca_passphrase=None, database_url=None)
    assert "9999" in raised.value.message
    assert "upgrade hostca" in raised.value.message

    result = subprocess.run(
        [HOSTCA, "server", "run", "--data-dir", str(data_dir), "--listen", "127.0.0.1:1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ},
    )
    assert result.returncode != 0
    assert "schema" in result.stderr


def test_server_run_bad_listen_writes_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    result = subprocess.run(
        [HOSTCA, "server", "run", "--data-dir", str(data_dir), "--listen", "127.0.0.1:bad"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "ADDR:PORT" in result.stderr
    assert not data_dir.exists() or list(data_dir.iterdir()) == []


def test_server_run_initializes_empty_directory(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = start_server(data_dir, tmp_path / "server.log")
    try:
        with server.client() as client:
            assert client.get("/api/v1/ca").json()["certificates"][0]["sha256"]
    finally:
        stop_server(server)
    output = server.log_text()
    assert f"{data_dir}/secrets/initial-admin-password" in output
    password = (data_dir / "secrets" / "initial-admin-password").read_text().strip()
    assert password not in output
    assert '"event": "server_started"' in output
    assert '"event": "server_stopped"' in output


def test_init_ip_primary_name_rejected(tmp_path: Path) -> None:
    with pytest.raises(Exception) as raised:
        initialize_server(InitRequest(data_dir=tmp_path / "data", name="192.0.2.1"))
    assert getattr(raised.value, "code", None) == "name_invalid"
    assert "--alt-name" in str(raised.value)
    assert not (tmp_path / "data").exists()


def test_second_server_on_same_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = start_server(data_dir, tmp_path / "server.log")
    try:
        result = subprocess.run(
            [
                HOSTCA,
                "server",
                "run",
                "--data-dir",
                str(data_dir),
                "--listen",
                f"127.0.0.1:{free_port()}",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        stop_server(server)
    assert result.returncode != 0
    assert f"PID {server.process.pid}" in result.stderr
    assert "another hostca server" in result.stderr
