"""``hostca login`` and ``logout``, the stored session, and the environment overrides."""

from __future__ import annotations

import json
import os
import pty
import select
import stat
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from conftest import ADMIN_PASSWORD, HOSTCA

if TYPE_CHECKING:
    from cli.conftest import CaFingerprints, HostcaCli

pytestmark = pytest.mark.e2e


def test_login_with_fingerprint_stores_session(
    cli: HostcaCli, ca_fingerprints: CaFingerprints
) -> None:
    result = cli.login("--fingerprint", ca_fingerprints.sha256)

    assert result.returncode == 0, result.stderr
    assert "Logged in to" in result.stdout
    assert stat.S_IMODE(cli.session_dir.stat().st_mode) == 0o700
    session_file = cli.session_dir / "session.json"
    assert stat.S_IMODE(session_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((cli.session_dir / "ca.pem").stat().st_mode) == 0o600
    stored = json.loads(session_file.read_text())
    assert stored["server"] == cli.server.url
    assert stored["user"] == "admin"
    assert stored["ca_file"] == str(cli.session_dir / "ca.pem")
    assert stored["expires_at"].endswith("Z")
    assert stored["session"] not in result.stdout + result.stderr
    assert ADMIN_PASSWORD not in result.stdout + result.stderr


def test_login_fingerprint_any_form(cli: HostcaCli, ca_fingerprints: CaFingerprints) -> None:
    bare = ca_fingerprints.sha256.replace(":", "").lower()

    assert cli.login("--fingerprint", bare).returncode == 0
    assert cli.login("--fingerprint", ca_fingerprints.sha1).returncode == 0


def test_login_json_output_has_no_secret(cli: HostcaCli, ca_fingerprints: CaFingerprints) -> None:
    result = cli.login("--fingerprint", ca_fingerprints.sha256, "--json")

    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["server"] == cli.server.url
    assert shown["user"] == "admin"
    assert shown["role"] == "security-admin"
    assert "session" not in shown
    stored = json.loads((cli.session_dir / "session.json").read_text())
    assert stored["session"] not in result.stdout


def test_login_wrong_fingerprint_stores_nothing(
    cli: HostcaCli, ca_fingerprints: CaFingerprints
) -> None:
    wrong = "AB:" * 31 + "AB"
    offered = ca_fingerprints.sha256

    result = cli.login("--fingerprint", wrong)

    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert "fingerprint mismatch" in lines[0]
    assert wrong in lines[0]
    assert offered in lines[0]
    assert not (cli.session_dir / "session.json").exists()
    assert not (cli.session_dir / "ca.pem").exists()


def test_login_invalid_fingerprint_rejected(cli: HostcaCli) -> None:
    result = cli.login("--fingerprint", "not-a-fingerprint")

    assert result.returncode != 0
    assert len(result.stderr.splitlines()) == 1
    assert "not a certificate fingerprint" in result.stderr


def test_login_with_ca_file(cli: HostcaCli) -> None:
    result = cli.login("--ca-file", str(cli.server.ca_file))

    assert result.returncode == 0, result.stderr
    stored_ca = (cli.session_dir / "ca.pem").read_bytes()
    assert stored_ca == cli.server.ca_file.read_bytes()


def test_login_with_foreign_ca_file_fails(cli: HostcaCli, tmp_path: Path) -> None:
    foreign = tmp_path / "foreign-ca.pem"
    foreign.write_bytes(_self_signed_ca_pem())

    result = cli.login("--ca-file", str(foreign))

    assert result.returncode != 0
    assert len(result.stderr.splitlines()) == 1
    assert "could not verify the TLS certificate" in result.stderr
    assert not (cli.session_dir / "session.json").exists()


def test_login_without_ca_option_needs_terminal(cli: HostcaCli) -> None:
    line = cli.fails(
        "login", "--server", cli.server.url, "--password-file", str(cli.password_file())
    )

    assert "--fingerprint" in line
    assert "--ca-file" in line
    assert not (cli.session_dir / "session.json").exists()


def test_login_wrong_password_fails(
    cli: HostcaCli, ca_fingerprints: CaFingerprints, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong-password"
    wrong.write_text("not the password\n")
    fingerprint = ca_fingerprints.sha256

    line = cli.fails(
        "login",
        "--server",
        cli.server.url,
        "--password-file",
        str(wrong),
        "--fingerprint",
        fingerprint,
    )

    assert line == "hostca: error: the user name or password is not correct."
    assert not (cli.session_dir / "session.json").exists()


def test_login_without_password_needs_terminal(
    cli: HostcaCli, ca_fingerprints: CaFingerprints
) -> None:
    line = cli.fails("login", "--server", cli.server.url, "--fingerprint", ca_fingerprints.sha256)

    assert "--password-file" in line


def test_login_rejects_http_url(cli: HostcaCli) -> None:
    line = cli.fails("login", "--server", f"http://127.0.0.1:{cli.server.port}")

    assert "http:// is not supported" in line


def test_command_without_login_fails(cli: HostcaCli) -> None:
    line = cli.fails("token", "list")

    assert "not logged in" in line
    assert "hostca login --server URL" in line


def test_json_error_is_object_with_code(cli: HostcaCli) -> None:
    line = cli.fails("token", "list", "--json")

    error = json.loads(line)
    assert error["code"] == "not_logged_in"
    assert "hostca login --server URL" in error["message"]


def test_logout_then_command_fails(admin: HostcaCli) -> None:
    admin.ok("token", "list")
    stored = json.loads((admin.session_dir / "session.json").read_text())

    result = admin.ok("logout")

    assert "Logged out admin" in result.stdout
    assert not (admin.session_dir / "session.json").exists()
    assert "not logged in" in admin.fails("token", "list")
    # The server ended the session too, so the old secret no longer works.
    environment = {
        "HOSTCA_SERVER": admin.server.url,
        "HOSTCA_API_KEY": stored["session"],
        "HOSTCA_CA_FILE": str(admin.server.ca_file),
    }
    assert "ended by logout" in admin.fails("token", "list", env=environment)


def test_logout_when_server_unreachable(admin: HostcaCli) -> None:
    session_file = admin.session_dir / "session.json"
    stored = json.loads(session_file.read_text())
    stored["server"] = "https://127.0.0.1:1"
    session_file.write_text(json.dumps(stored))

    result = admin.json("logout")

    assert result["logged_out"] is True
    assert result["ended_on_server"] is False
    assert "could not be reached" in result["note"]
    assert not session_file.exists()


def test_logout_when_not_logged_in(cli: HostcaCli) -> None:
    result = cli.ok("logout")

    assert result.stdout.strip() == "Not logged in."


def test_expired_session_fails(admin: HostcaCli) -> None:
    session_file = admin.session_dir / "session.json"
    stored = json.loads(session_file.read_text())
    stored["expires_at"] = "2020-01-01T00:00:00Z"
    session_file.write_text(json.dumps(stored))

    line = admin.fails("token", "list")

    assert "expired at 2020-01-01T00:00:00Z" in line
    assert "log in again" in line


def test_corrupt_session_file_fails(admin: HostcaCli) -> None:
    (admin.session_dir / "session.json").write_text("{")

    line = admin.fails("token", "list")

    assert "cannot read the stored session" in line


def test_api_key_overrides_stored_session(admin: HostcaCli) -> None:
    line = admin.fails("token", "list", env={"HOSTCA_API_KEY": "not-a-valid-key"})

    assert "session is not known" in line


def test_environment_alone_reaches_server(admin: HostcaCli) -> None:
    secret = json.loads((admin.session_dir / "session.json").read_text())["session"]
    (admin.session_dir / "session.json").unlink()
    environment = {
        "HOSTCA_SERVER": admin.server.url,
        "HOSTCA_API_KEY": secret,
        "HOSTCA_CA_FILE": str(admin.server.ca_file),
    }

    tokens = admin.json("token", "list", env=environment)

    assert isinstance(tokens, list)


def test_session_not_sent_to_other_server(admin: HostcaCli) -> None:
    line = admin.fails("token", "list", env={"HOSTCA_SERVER": "https://localhost:1"})

    assert "stored session belongs to" in line


def _self_signed_ca_pem() -> bytes:
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Foreign CA")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


def test_login_interactive_confirmation(cli: HostcaCli, ca_fingerprints: CaFingerprints) -> None:
    transcript = _run_in_terminal(
        cli,
        ["login", "--server", cli.server.url, "--password-file", str(cli.password_file())],
        answers=[("User [admin]:", "\n"), ("Trust this CA? [y/N]:", "y\n")],
    )

    assert ca_fingerprints.sha256 in transcript
    assert ca_fingerprints.sha1 in transcript
    assert "Logged in to" in transcript
    assert (cli.session_dir / "session.json").exists()


def test_login_interactive_refusal(cli: HostcaCli) -> None:
    transcript = _run_in_terminal(
        cli,
        ["login", "--server", cli.server.url, "--user", "admin"],
        answers=[("Trust this CA? [y/N]:", "n\n")],
    )

    assert "the CA was not confirmed" in transcript
    assert "Password" not in transcript
    assert not (cli.session_dir / "session.json").exists()


def _run_in_terminal(cli: HostcaCli, args: list[str], answers: list[tuple[str, str]]) -> str:
    """Run hostca on a pseudo-terminal, answering each prompt; return everything it printed."""
    controller, terminal = pty.openpty()

    environment = {k: v for k, v in os.environ.items() if not k.startswith("HOSTCA_")}
    environment["XDG_CONFIG_HOME"] = str(cli.config_home)
    process = subprocess.Popen(
        [HOSTCA, *args], stdin=terminal, stdout=terminal, stderr=terminal, env=environment
    )
    os.close(terminal)

    transcript = ""
    pending = list(answers)
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(controller, 4096)
                except OSError:  # the terminal closes when the process exits
                    break
                if not chunk:
                    break
                transcript += chunk.decode(errors="replace")
            if pending and pending[0][0] in transcript:
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
