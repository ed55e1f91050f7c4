"""``hostca cert sign``: the administrator's half of the offline flow."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from e2e_helpers import openssl_csr

if TYPE_CHECKING:
    from cli.conftest import HostcaCli

    from conftest import PrimaryServer

pytestmark = pytest.mark.e2e


def test_sign_writes_verifiable_certificate(
    admin: HostcaCli, primary_server: PrimaryServer, tmp_path: Path
) -> None:
    _key, csr = openssl_csr(tmp_path, "offline-01.example.test", "rsa-2048")
    token = admin.json("token", "create", "--name", "offline-01")["value"]
    out = tmp_path / "offline-01.cert.pem"

    issued = admin.json("cert", "sign", "--csr", str(csr), "--token", token, "--out", str(out))

    assert issued["names"] == ["offline-01.example.test"]
    assert issued["certificate_file"] == str(out)
    assert out.read_text().count("BEGIN CERTIFICATE") == 2
    verified = subprocess.run(
        ["openssl", "verify", "-CAfile", str(primary_server.ca_file), str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert admin.json("token", "show", "offline-01")["uses"] == 1


def test_sign_used_up_token_writes_nothing(admin: HostcaCli, tmp_path: Path) -> None:
    _key, first = openssl_csr(tmp_path, "offline-02.example.test")
    _key, second = openssl_csr(tmp_path, "offline-03.example.test")
    token = admin.json("token", "create", "--name", "offline-02")["value"]
    admin.ok(
        "cert", "sign", "--csr", str(first), "--token", token, "--out", str(tmp_path / "first.pem")
    )

    line = admin.fails(
        "cert",
        "sign",
        "--csr",
        str(second),
        "--token",
        token,
        "--out",
        str(tmp_path / "second.pem"),
    )

    assert "has been used 1 of 1 times" in line
    assert not (tmp_path / "second.pem").exists()
    assert token not in line


def test_sign_refuses_existing_output(admin: HostcaCli, tmp_path: Path) -> None:
    _key, csr = openssl_csr(tmp_path, "offline-04.example.test")
    out = tmp_path / "exists.pem"
    out.write_text("keep me")

    line = admin.fails(
        "cert", "sign", "--csr", str(csr), "--token", "ABCDEFGHIJKLMNOP", "--out", str(out)
    )

    assert "already exists" in line
    assert out.read_text() == "keep me"


def test_sign_missing_directory_uses_no_token(admin: HostcaCli, tmp_path: Path) -> None:
    _key, csr = openssl_csr(tmp_path, "offline-05.example.test")
    token = admin.json("token", "create", "--name", "offline-05")["value"]

    line = admin.fails(
        "cert",
        "sign",
        "--csr",
        str(csr),
        "--token",
        token,
        "--out",
        str(tmp_path / "nodir" / "c.pem"),
    )

    assert "not a writable directory" in line
    assert admin.json("token", "show", "offline-05")["uses"] == 0
