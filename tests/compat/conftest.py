"""Fixtures for the NetBackup-compatible commands: the real commands against a real primary.

``compat_server`` is a module-scoped ``hostca server run`` on a free loopback
port. Its names are ``primary.compat.example.test`` and ``127.0.0.1`` only, so
the name that a host enrols with when none is given stays free. That name is
this machine's FQDN, or its host name where the FQDN is localhost.
``CompatCli`` runs ``nbcertcmd``, ``nbhostmgmt``, ``bpnbat`` and ``nbseccmd``
as subprocesses with a private ``XDG_CONFIG_HOME`` (the administrator's
session) and ``HOSTCA_STATE_DIR`` (the agent's files).
"""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import update

from hostca.datadir import DataDir
from hostca.service.server_setup import open_context
from hostca.store.tables import tokens

from conftest import ADMIN_PASSWORD, HOSTCA, PrimaryServer, start_server, stop_server

PRIMARY_NAME = "primary.compat.example.test"
BIN_DIR = Path(sys.executable).parent
COMMANDS = ("nbcertcmd", "nbhostmgmt", "bpnbat", "nbseccmd")

# Environment variables that would steer the commands away from the test's server and files.
_CLEARED_VARIABLES = (
    "HOSTCA_SERVER",
    "HOSTCA_API_KEY",
    "HOSTCA_CA_FILE",
    "HOSTCA_STATE_DIR",
    "XDG_CONFIG_HOME",
)
_TOKEN_VALUE = re.compile(r"Token value:\s+(\S+)")


class CompatCli:
    """Runs the compatibility commands as one administrator and one host.

    ``config_home`` contains the administrator's session and ``state_dir`` the
    agent's key, certificate and trusted CA.
    """

    def __init__(self, server: PrimaryServer, home: Path, config_home: Path | None = None) -> None:
        self.server = server
        self.home = home
        self.config_home = config_home or home / "config"
        self.state_dir = home / "agent"

    @property
    def server_address(self) -> str:
        """The primary as HOST:PORT, the form that -server takes."""
        return f"127.0.0.1:{self.server.port}"

    @property
    def session_file(self) -> Path:
        return self.config_home / "hostca" / "session.json"

    def environment(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        environment = {k: v for k, v in os.environ.items() if k not in _CLEARED_VARIABLES}
        environment["XDG_CONFIG_HOME"] = str(self.config_home)
        environment["HOSTCA_STATE_DIR"] = str(self.state_dir)
        environment.update(extra or {})
        return environment

    def run(
        self, command: str, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        # stdin is not a terminal, so no command waits for a prompt.
        return subprocess.run(
            [str(BIN_DIR / command), *args],
            capture_output=True,
            text=True,
            env=self.environment(env),
            stdin=subprocess.DEVNULL,
            timeout=60,
            check=False,
        )

    def ok(
        self, command: str, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = self.run(command, *args, env=env)
        assert result.returncode == 0, f"{command} {' '.join(args)} failed:\n{result.stderr}"
        return result

    def json(self, command: str, *args: str, env: dict[str, str] | None = None) -> Any:
        return json.loads(self.ok(command, *args, env=env).stdout)

    def fails(
        self, command: str, *args: str, status: int, env: dict[str, str] | None = None
    ) -> str:
        """Run a command line that must fail with ``status``; return its one line of stderr."""
        result = self.run(command, *args, env=env)
        assert result.returncode == status, (
            f"{command} {' '.join(args)} exited with {result.returncode}, not {status}:\n"
            f"{result.stdout}{result.stderr}"
        )
        lines = result.stderr.splitlines()
        assert len(lines) == 1, f"expected one line on stderr, got:\n{result.stderr}"
        return lines[0]

    def in_terminal(
        self,
        command: str,
        *args: str,
        answers: Sequence[tuple[str, str]],
        env: dict[str, str] | None = None,
    ) -> tuple[int, str]:
        """Run a command on a pseudo-terminal, answering each prompt in turn.

        ``answers`` pairs the text of a prompt with what to type. Returns the
        exit status and everything the command printed.
        """
        controller, terminal = os.openpty()
        process = subprocess.Popen(
            [str(BIN_DIR / command), *args],
            stdin=terminal,
            stdout=terminal,
            stderr=terminal,
            env=self.environment(env),
        )
        os.close(terminal)
        transcript = _converse(controller, process, list(answers))
        return process.returncode, transcript

    @property
    def ca_sha256(self) -> str:
        """The SHA-256 fingerprint of the primary's CA, computed from its certificate file."""
        certificate = x509.load_pem_x509_certificate(self.server.ca_file.read_bytes())
        return certificate.fingerprint(hashes.SHA256()).hex(":").upper()

    def answer_file(self, **answers: str) -> Path:
        path = self.home / "bpnbat-answers"
        path.write_text("".join(f"{key}={value}\n" for key, value in answers.items()))
        path.chmod(0o600)
        return path

    def fingerprint_file(self) -> Path:
        path = self.home / "ca-fingerprint"
        path.write_text(self.ca_sha256 + "\n")
        return path

    def login(self) -> None:
        """Log in with bpnbat and an answer file, confirming the CA by its fingerprint."""
        answers = self.answer_file(
            server=self.server_address,
            user="admin",
            password=ADMIN_PASSWORD,
            fingerprint=self.ca_sha256,
        )
        self.ok("bpnbat", "-login", "-logintype", "WEB", "-info", str(answers))

    def create_token(self, name: str, *options: str) -> str:
        """Create a token with nbcertcmd and return the value it prints once."""
        output = self.ok("nbcertcmd", "-createToken", "-name", name, *options).stdout
        match = _TOKEN_VALUE.search(output)
        assert match is not None, output
        return match.group(1)

    def trust_ca(self) -> None:
        self.ok(
            "nbcertcmd",
            "-getCACertificate",
            "-server",
            self.server_address,
            "-file",
            str(self.fingerprint_file()),
        )

    def expire_token(self, name: str) -> None:
        """Move a token's expiry one minute into the past, since -validFor allows no less than 1M."""
        set_token_valid_until(self.server, name, datetime.now(UTC) - timedelta(minutes=1))

    def enrol(self, name: str, token: str) -> dict[str, Any]:
        """Trust the CA, enrol this host as ``name`` and return ``-listCertDetails -json``."""
        self.trust_ca()
        self.ok(
            "nbcertcmd",
            "-getCertificate",
            "-server",
            self.server_address,
            "-envtoken",
            "HOST_TOKEN",
            "-host",
            name,
            env={"HOST_TOKEN": token},
        )
        details: dict[str, Any] = self.json("nbcertcmd", "-listCertDetails", "-json")
        return details

    def enrol_by_api(self, name: str, aliases: Sequence[str] = ()) -> dict[str, Any]:
        """Enrol another host straight through the REST API; return the enrolment response."""
        key = ec.generate_private_key(ec.SECP256R1())
        san = x509.SubjectAlternativeName([x509.DNSName(n) for n in (name, *aliases)])
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .add_extension(san, critical=False)
            .sign(key, hashes.SHA256())
        )
        body = {
            "csr": csr.public_bytes(serialization.Encoding.PEM).decode(),
            "token": self.server.create_token(f"api-{name}"),
        }
        with self.server.client() as client:
            answer = client.post("/api/v1/enroll", json=body)
        assert answer.status_code == 200, answer.text
        issued: dict[str, Any] = answer.json()
        return issued


def _converse(
    controller: int, process: subprocess.Popen[bytes], pending: list[tuple[str, str]]
) -> str:
    transcript = ""
    # Each prompt is looked for only after the previous one, where its answer went.
    answered_up_to = 0
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(controller, 4096)
                except OSError:  # The terminal closes when the process exits.
                    break
                if not chunk:
                    break
                transcript += chunk.decode(errors="replace")
            prompt_at = transcript.find(pending[0][0], answered_up_to) if pending else -1
            if prompt_at >= 0:
                answered_up_to = prompt_at + len(pending[0][0])
                os.write(controller, pending.pop(0)[1].encode())
            elif process.poll() is not None and not ready:
                break
    finally:
        os.close(controller)
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
    assert not pending, f"prompts not seen: {pending}\n{transcript}"
    return transcript


def set_token_valid_until(server: PrimaryServer, name: str, when: datetime) -> None:
    """Change a token's expiry in the server's database, through the service layer's tables."""
    context = open_context(DataDir(server.data_dir), ca_passphrase=None, database_url=None)
    try:
        with context.database.transaction() as connection:
            connection.execute(
                update(tokens)
                .where(tokens.c.name == name, tokens.c.deleted_at.is_(None))
                .values(valid_until=when)
            )
    finally:
        context.database.dispose()


@pytest.fixture(scope="module")
def compat_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrimaryServer]:
    """A primary per test module, named so that this machine's own name is free for a host."""
    tmp = tmp_path_factory.mktemp("compat-primary")
    data_dir = tmp / "data"
    password_file = tmp / "admin-password"
    password_file.write_text(ADMIN_PASSWORD + "\n")
    subprocess.run(
        [
            HOSTCA,
            "server",
            "init",
            "--data-dir",
            str(data_dir),
            "--name",
            PRIMARY_NAME,
            "--alt-name",
            "127.0.0.1",
            "--admin-password-file",
            str(password_file),
        ],
        check=True,
        capture_output=True,
    )
    server = start_server(data_dir, tmp / "server.log")
    yield server
    stop_server(server)


@pytest.fixture
def nb(compat_server: PrimaryServer, tmp_path: Path) -> CompatCli:
    """The compatibility commands, not logged in, with an empty agent state directory."""
    return CompatCli(compat_server, tmp_path)


@pytest.fixture(scope="module")
def admin_config_home(
    compat_server: PrimaryServer, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """An administrator's configuration directory, logged in once per module with bpnbat."""
    administrator = CompatCli(compat_server, tmp_path_factory.mktemp("compat-admin"))
    administrator.login()
    return administrator.config_home


@pytest.fixture
def nb_admin(compat_server: PrimaryServer, tmp_path: Path, admin_config_home: Path) -> CompatCli:
    """The compatibility commands, logged in as the administrator, with an empty agent state.

    The session is shared by the tests of a module, so a test that logs out
    uses ``nb`` and logs in itself.
    """
    return CompatCli(compat_server, tmp_path, config_home=admin_config_home)
