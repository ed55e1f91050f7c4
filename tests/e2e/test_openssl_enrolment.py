"""Enrolment of CSRs made by the openssl command, checked with openssl verify -crl_check."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import PrimaryServer
from e2e_helpers import curl_json, openssl_csr

pytestmark = pytest.mark.e2e


def enroll_with_curl(
    server: PrimaryServer, tmp_path: Path, name: str, key_type: str
) -> tuple[Path, Path, dict]:
    key, csr = openssl_csr(tmp_path, name, key_type)
    token = server.create_token(f"tok-{name}")
    status, body = curl_json(
        f"{server.url}/api/v1/enroll", server.ca_file, body={"csr": csr.read_text(), "token": token}
    )
    assert status == 200, body
    certificate = tmp_path / f"{name}.cert.pem"
    certificate.write_text(body["certificate"])
    return key, certificate, body


def fetch_crl(server: PrimaryServer, tmp_path: Path) -> Path:
    crl = tmp_path / "crl.der"
    subprocess.run(
        [
            "curl",
            "-sS",
            "--fail",
            "--cacert",
            str(server.ca_file),
            "-o",
            str(crl),
            f"{server.url}/api/v1/crl",
        ],
        check=True,
    )
    pem = tmp_path / "crl.pem"
    subprocess.run(
        ["openssl", "crl", "-inform", "DER", "-in", str(crl), "-out", str(pem)], check=True
    )
    return pem


def openssl_verify(
    server: PrimaryServer, crl: Path, certificate: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "openssl",
            "verify",
            "-CAfile",
            str(server.ca_file),
            "-crl_check",
            "-CRLfile",
            str(crl),
            str(certificate),
        ],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("key_type", ["rsa-2048", "ec-p256", "ed25519"])
def test_openssl_csr_enrols_and_verifies(
    primary_server: PrimaryServer, tmp_path: Path, key_type: str, openssl: str
) -> None:
    name = f"{key_type}.example.test"
    _key, certificate, body = enroll_with_curl(primary_server, tmp_path, name, key_type)

    crl = fetch_crl(primary_server, tmp_path)
    result = openssl_verify(primary_server, crl, certificate)
    assert result.returncode == 0, result.stdout + result.stderr
    assert body["names"] == [name]
    assert body["ca_certificates"][0] == primary_server.ca_file.read_text()


def test_revoked_certificate_fails_crl_check(
    primary_server: PrimaryServer, tmp_path: Path, openssl: str
) -> None:
    _key, certificate, body = enroll_with_curl(
        primary_server, tmp_path, "revoked.example.test", "ec-p256"
    )

    answer = primary_server.admin(
        "POST",
        "/api/v1/certificates/revoke",
        json={"serial_number": body["serial_number"], "reason_code": "key-compromise"},
    )
    assert answer.status_code == 200, answer.text
    crl = fetch_crl(primary_server, tmp_path)

    result = openssl_verify(primary_server, crl, certificate)
    assert result.returncode != 0
    assert "certificate revoked" in result.stdout + result.stderr
    listing = subprocess.run(
        ["openssl", "crl", "-in", str(crl), "-noout", "-text"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert body["serial_number"] in listing.replace(":", "").upper()
    assert "Key Compromise" in listing
