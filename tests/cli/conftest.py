"""Fixtures for the administration commands: the real ``hostca`` command, run as a subprocess.

Each test gets its own ``XDG_CONFIG_HOME``, so the stored session of one test
never leaks into another. The primary server is the module-scoped
``primary_server`` of ``tests/conftest.py``: ``hostca server init`` with the
names localhost and 127.0.0.1, then ``hostca server run`` on a free loopback
port, stopped by its process at teardown.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import ADMIN_PASSWORD, HOSTCA, PrimaryServer

# Environment variables that would steer the command away from the test's server.
_CLEARED_VARIABLES = ("HOSTCA_SERVER", "HOSTCA_API_KEY", "HOSTCA_CA_FILE", "XDG_CONFIG_HOME")


class HostcaCli:
    """Runs ``hostca`` with a private config directory, against one primary server."""

    def __init__(self, server: PrimaryServer, config_home: Path, work_dir: Path) -> None:
        self.server = server
        self.config_home = config_home
        self.work_dir = work_dir

    @property
    def session_dir(self) -> Path:
        return self.config_home / "hostca"

    def run(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        environment = {k: v for k, v in os.environ.items() if k not in _CLEARED_VARIABLES}
        environment["XDG_CONFIG_HOME"] = str(self.config_home)
        environment.update(env or {})
        # stdin is not a terminal, so the command never waits for a prompt.
        return subprocess.run(
            [HOSTCA, *args],
            capture_output=True,
            text=True,
            env=environment,
            stdin=subprocess.DEVNULL,
            timeout=60,
            check=False,
        )

    def ok(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        result = self.run(*args, env=env)
        assert result.returncode == 0, f"hostca {' '.join(args)} failed:\n{result.stderr}"
        return result

    def json(self, *args: str, env: dict[str, str] | None = None) -> Any:
        return json.loads(self.ok(*args, "--json", env=env).stdout)

    def fails(self, *args: str, env: dict[str, str] | None = None) -> str:
        """Run a command that must fail; return its one line of stderr."""
        result = self.run(*args, env=env)
        assert result.returncode != 0, f"hostca {' '.join(args)} succeeded:\n{result.stdout}"
        lines = result.stderr.splitlines()
        assert len(lines) == 1, f"expected one line on stderr, got:\n{result.stderr}"
        return lines[0]

    def password_file(self) -> Path:
        path = self.work_dir / "admin-password"
        path.write_text(ADMIN_PASSWORD + "\n")
        return path

    def login(self, *options: str) -> subprocess.CompletedProcess[str]:
        return self.run(
            "login",
            "--server",
            self.server.url,
            "--password-file",
            str(self.password_file()),
            *options,
        )


@dataclass(frozen=True)
class CaFingerprints:
    """Fingerprints of the server's CA, computed from its certificate file."""

    sha256: str
    sha1: str


@pytest.fixture
def ca_fingerprints(primary_server: PrimaryServer) -> CaFingerprints:
    certificate = x509.load_pem_x509_certificate(primary_server.ca_file.read_bytes())
    return CaFingerprints(
        sha256=certificate.fingerprint(hashes.SHA256()).hex(":").upper(),
        # SHA-1 only as the fingerprint that older tools show, never as a signature.
        sha1=certificate.fingerprint(hashes.SHA1()).hex(":").upper(),  # noqa: S303
    )


@pytest.fixture
def cli(primary_server: PrimaryServer, tmp_path: Path) -> HostcaCli:
    """A ``hostca`` runner that is not logged in."""
    return HostcaCli(primary_server, tmp_path / "config", tmp_path)


@pytest.fixture
def cli_for(tmp_path: Path) -> Callable[[PrimaryServer], HostcaCli]:
    """Return a function that makes a runner for another server, such as one a test breaks."""
    return lambda server: HostcaCli(server, tmp_path / "config", tmp_path)


@pytest.fixture
def admin(cli: HostcaCli, ca_fingerprints: CaFingerprints) -> HostcaCli:
    """A ``hostca`` runner logged in as the administrator, with the CA confirmed by fingerprint."""
    result = cli.login("--fingerprint", ca_fingerprints.sha256)
    assert result.returncode == 0, result.stderr
    return cli


EnrollHost = Callable[..., dict[str, Any]]


@pytest.fixture
def enroll_host(primary_server: PrimaryServer) -> EnrollHost:
    """Return a function that enrols a host: ``enroll_host(token, name, aliases=())``."""

    def enroll(token: str, name: str, aliases: Sequence[str] = ()) -> dict[str, Any]:
        return _enroll(primary_server, token, name, aliases)

    return enroll


def _enroll(server: PrimaryServer, token: str, name: str, aliases: Sequence[str]) -> dict[str, Any]:
    """Enrol a host with a fresh EC key through ``POST /api/v1/enroll``; return the response."""
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName(n) for n in (name, *aliases)]
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem = csr.public_bytes(serialization.Encoding.PEM).decode()
    with server.client() as client:
        response = client.post("/api/v1/enroll", json={"csr": pem, "token": token})
    assert response.status_code == 200, response.text
    issued: dict[str, Any] = response.json()
    return issued
