"""The offline flow: `hostca agent csr` and `hostca agent install-cert`, with a test CA."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from hostca.agent.certificates import format_serial_number
from hostca.agent.offline import key_type_of
from hostca.cli.main import cli
from hostca.core.errors import HostcaError
from hostca.core.fingerprints import fingerprint

if TYPE_CHECKING:
    from conftest import FakePrimary, TestCa

TOKEN = "ABCDEFGHIJKLMNOP"
HOST_ID = "0b7f3c2e-51a4-4d8e-9a57-3c1f0e8d2b6a"


def invoke(state_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["agent", "--state-dir", str(state_dir), *args])


def error_code(result: Result) -> str:
    assert isinstance(result.exception, HostcaError), result.output
    return result.exception.code


def snapshot(state_dir: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(state_dir)): path.read_bytes()
        for path in sorted(state_dir.rglob("*"))
        if path.is_file()
    }


def trust(state_dir: Path, primary: FakePrimary) -> None:
    sha256 = fingerprint(primary.ca.certificate, "sha256")
    result = invoke(state_dir, "trust", "--server", primary.url, "--fingerprint", sha256)
    assert result.exit_code == 0, result.output


def make_csr(state_dir: Path, out: Path, *extra: str) -> dict[str, Any]:
    result = invoke(
        state_dir, "csr", "--out", str(out), "--name", "offline-01.example.test", "--json", *extra
    )
    assert result.exit_code == 0, result.output
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def sign(ca: TestCa, csr_file: Path, out: Path, **kwargs: Any) -> x509.Certificate:
    """Issue a certificate for the CSR's key, as the primary would, and write it with the CA."""
    csr = x509.load_pem_x509_csr(csr_file.read_bytes())
    certificate = ca.issue(csr.public_key(), ["offline-01.example.test"], host_id=HOST_ID, **kwargs)
    out.write_bytes(certificate.public_bytes(serialization.Encoding.PEM) + ca.pem)
    return certificate


def test_csr_stores_pending_key(fake_primary: FakePrimary, tmp_path: Path) -> None:
    state_dir = tmp_path / "agent"
    trust(state_dir, fake_primary)
    out = tmp_path / "host.csr"

    answer = make_csr(state_dir, out, "--alias", "10.0.0.7", "--key-type", "ed25519")

    csr = x509.load_pem_x509_csr(out.read_bytes())
    assert csr.is_signature_valid
    pending = state_dir / "private" / "pending-key.pem"
    assert answer["pending_key_file"] == str(pending)
    assert answer["names"] == ["offline-01.example.test", "10.0.0.7"]
    assert answer["replaced_pending_key"] is False
    assert stat.S_IMODE(pending.stat().st_mode) == 0o600
    key = serialization.load_pem_private_key(pending.read_bytes(), password=None)
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    assert not (state_dir / "cert.pem").exists()
    assert not (state_dir / "private" / "key.pem").exists()
    assert fake_primary.requests == [("GET", "/api/v1/ca", None)]


def test_csr_refuses_existing_output(tmp_path: Path) -> None:
    out = tmp_path / "host.csr"
    out.write_text("keep me")

    result = invoke(tmp_path / "agent", "csr", "--out", str(out), "--name", "a.example.test")

    assert error_code(result) == "file_exists"
    assert out.read_text() == "keep me"
    assert not (tmp_path / "agent").exists()


def test_csr_again_replaces_pending_key(tmp_path: Path) -> None:
    state_dir = tmp_path / "agent"
    make_csr(state_dir, tmp_path / "first.csr")
    first_key = (state_dir / "private" / "pending-key.pem").read_bytes()

    answer = make_csr(state_dir, tmp_path / "second.csr")

    assert answer["replaced_pending_key"] is True
    assert (state_dir / "private" / "pending-key.pem").read_bytes() != first_key


def test_install_commits_key_and_certificate(fake_primary: FakePrimary, tmp_path: Path) -> None:
    state_dir = tmp_path / "agent"
    trust(state_dir, fake_primary)
    make_csr(state_dir, tmp_path / "host.csr")
    pending_key = (state_dir / "private" / "pending-key.pem").read_bytes()
    certificate = sign(fake_primary.ca, tmp_path / "host.csr", tmp_path / "signed.pem")

    result = invoke(state_dir, "install-cert", str(tmp_path / "signed.pem"), "--json")

    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["host_id"] == HOST_ID
    assert answer["names"] == ["offline-01.example.test"]
    assert answer["serial_number"] == format_serial_number(certificate.serial_number)
    assert (state_dir / "private" / "key.pem").read_bytes() == pending_key
    assert not (state_dir / "private" / "pending-key.pem").exists()
    # The CA certificate after the host's certificate is not stored as the host's.
    assert (state_dir / "cert.pem").read_bytes() == certificate.public_bytes(
        serialization.Encoding.PEM
    )
    config = json.loads((state_dir / "agent.json").read_text())
    assert config["host_id"] == HOST_ID
    assert config["key_type"] == "ec-p256"
    assert config["server"] == fake_primary.url

    status = json.loads(invoke(state_dir, "status", "--json").stdout)
    assert status["status"] == "valid"


def test_csr_keeps_current_certificate(fake_primary: FakePrimary, tmp_path: Path) -> None:
    state_dir = tmp_path / "agent"
    trust(state_dir, fake_primary)
    enrolled = invoke(state_dir, "enroll", "--token", TOKEN, "--name", "offline-01.example.test")
    assert enrolled.exit_code == 0, enrolled.output
    before = snapshot(state_dir)

    make_csr(state_dir, tmp_path / "host.csr")

    after = snapshot(state_dir)
    assert after.pop("private/pending-key.pem")
    assert after == before


def test_install_without_pending_key(fake_primary: FakePrimary, tmp_path: Path) -> None:
    trust(tmp_path, fake_primary)
    stray = tmp_path / "stray.pem"
    stray.write_bytes(fake_primary.ca.pem)

    result = invoke(tmp_path, "install-cert", str(stray))

    assert error_code(result) == "pending_key_missing"
    assert "hostca agent csr --out FILE" in str(result.exception)


def test_install_rejects_other_key(fake_primary: FakePrimary, tmp_path: Path) -> None:
    state_dir = tmp_path / "agent"
    trust(state_dir, fake_primary)
    make_csr(state_dir, tmp_path / "first.csr")
    sign(fake_primary.ca, tmp_path / "first.csr", tmp_path / "first.pem")
    make_csr(state_dir, tmp_path / "second.csr")
    before = snapshot(state_dir)

    result = invoke(state_dir, "install-cert", str(tmp_path / "first.pem"))

    assert error_code(result) == "certificate_key_mismatch"
    assert "latest `hostca agent csr` run" in str(result.exception)
    assert snapshot(state_dir) == before


def test_install_rejects_other_ca(
    fake_primary: FakePrimary, make_ca: type[TestCa], tmp_path: Path
) -> None:
    state_dir = tmp_path / "agent"
    trust(state_dir, fake_primary)
    make_csr(state_dir, tmp_path / "host.csr")
    sign(make_ca.create("Impostor CA"), tmp_path / "host.csr", tmp_path / "signed.pem")
    before = snapshot(state_dir)

    result = invoke(state_dir, "install-cert", str(tmp_path / "signed.pem"))

    assert error_code(result) == "certificate_untrusted"
    assert "CN=Impostor CA" in str(result.exception)
    assert snapshot(state_dir) == before


def test_install_rejects_expired(fake_primary: FakePrimary, tmp_path: Path) -> None:
    state_dir = tmp_path / "agent"
    trust(state_dir, fake_primary)
    make_csr(state_dir, tmp_path / "host.csr")
    sign(
        fake_primary.ca,
        tmp_path / "host.csr",
        tmp_path / "signed.pem",
        not_before=datetime.now(UTC) - timedelta(days=3),
        lifetime=timedelta(days=1),
    )
    before = snapshot(state_dir)

    result = invoke(state_dir, "install-cert", str(tmp_path / "signed.pem"))

    assert error_code(result) == "certificate_expired"
    message = str(result.exception)
    assert "This host's clock agrees with the primary's" in message
    assert snapshot(state_dir) == before


def test_install_rejects_non_pem(fake_primary: FakePrimary, tmp_path: Path) -> None:
    state_dir = tmp_path / "agent"
    trust(state_dir, fake_primary)
    make_csr(state_dir, tmp_path / "host.csr")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")

    result = invoke(state_dir, "install-cert", str(garbage))

    assert error_code(result) == "certificate_invalid"


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (ec.generate_private_key(ec.SECP256R1()), "ec-p256"),
        (ec.generate_private_key(ec.SECP384R1()), "ec-p384"),
        (ec.generate_private_key(ec.SECP521R1()), None),
        (rsa.generate_private_key(public_exponent=65537, key_size=2048), "rsa-2048"),
        (ed25519.Ed25519PrivateKey.generate(), "ed25519"),
    ],
)
def test_key_type_of(key: Any, expected: str | None) -> None:
    assert key_type_of(key) == expected
