"""Backup of a running primary and restore on a new data directory, as real processes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from conftest import HOSTCA, PrimaryServer, init_server, start_server, stop_server
from e2e_helpers import openssl_csr

pytestmark = pytest.mark.e2e

PASSPHRASE = "restore drill passphrase"


def hostca(*arguments: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HOSTCA, *map(str, arguments)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def enrol_host(server: PrimaryServer, directory: Path, name: str) -> tuple[Path, Path, str]:
    """Enrol ``name`` with a token and an openssl CSR; return its key, certificate and host ID."""
    key, csr = openssl_csr(directory, name)
    token = server.create_token(f"{name}-token")
    with server.client() as client:
        answer = client.post("/api/v1/enroll", json={"csr": csr.read_text(), "token": token})
    assert answer.status_code == 200, answer.text
    certificate = directory / f"{name}.cert.pem"
    certificate.write_text(answer.json()["certificate"])
    return key, certificate, answer.json()["host_id"]


def test_host_renews_against_restored_primary(tmp_path: Path) -> None:
    passphrase_file = tmp_path / "backup-passphrase"
    passphrase_file.write_text(PASSPHRASE + "\n")
    archive = tmp_path / "primary.hcab"
    init_server(tmp_path / "a", tmp_path)
    server_a = start_server(tmp_path / "a", tmp_path / "a.log")
    try:
        key, certificate, host_id = enrol_host(server_a, tmp_path, "drill.example.test")
        ca_before = server_a.ca_file.read_bytes()

        backup = hostca(
            "server", "backup", "--data-dir", server_a.data_dir, "--out", archive,
            "--passphrase-file", passphrase_file,
        )  # fmt: skip
        assert backup.returncode == 0, backup.stderr
        assert server_a.process.poll() is None
    finally:
        stop_server(server_a)

    restore = hostca(
        "server", "restore", archive, "--data-dir", tmp_path / "b",
        "--passphrase-file", passphrase_file,
    )  # fmt: skip
    assert restore.returncode == 0, restore.stderr
    server_b = start_server(tmp_path / "b", tmp_path / "b.log")
    try:
        assert server_b.ca_file.read_bytes() == ca_before
        with server_b.client(cert=(certificate, key)) as client:
            renewed = client.post("/api/v1/renew", json={})
        assert renewed.status_code == 200, renewed.text
        assert renewed.json()["host_id"] == host_id
        new_certificate = x509.load_pem_x509_certificate(renewed.json()["certificate"].encode())
        old_certificate = x509.load_pem_x509_certificate(certificate.read_bytes())
        assert new_certificate.serial_number != old_certificate.serial_number
        assert new_certificate.subject == old_certificate.subject

        verify = server_b.admin("GET", "/api/v1/audit/verify")
        assert verify.status_code == 200, verify.text
        assert verify.json()["intact"] is True
        assert verify.json()["breaks"] == []
    finally:
        stop_server(server_b)


def test_cli_rejects_wrong_passphrase(tmp_path: Path) -> None:
    init_server(tmp_path / "a", tmp_path)
    passphrase_file = tmp_path / "backup-passphrase"
    passphrase_file.write_text(PASSPHRASE + "\n")
    wrong_file = tmp_path / "wrong-passphrase"
    wrong_file.write_text("a different passphrase\n")
    archive = tmp_path / "primary.hcab"
    backup = hostca(
        "server", "backup", "--data-dir", tmp_path / "a", "--out", archive,
        "--passphrase-file", passphrase_file,
    )  # fmt: skip
    assert backup.returncode == 0, backup.stderr

    restore = hostca(
        "server", "restore", archive, "--data-dir", tmp_path / "b", "--passphrase-file", wrong_file
    )

    assert restore.returncode != 0
    assert restore.stderr.count("\n") == 1
    assert "passphrase is wrong" in restore.stderr
    assert "Traceback" not in restore.stderr
    assert PASSPHRASE not in restore.stderr + restore.stdout
    assert not (tmp_path / "b").exists()


def test_cli_backup_rejects_existing_out(tmp_path: Path) -> None:
    init_server(tmp_path / "a", tmp_path)
    passphrase_file = tmp_path / "backup-passphrase"
    passphrase_file.write_text(PASSPHRASE + "\n")
    existing = tmp_path / "existing.hcab"
    existing.write_bytes(b"older backup")

    backup = hostca(
        "server", "backup", "--data-dir", tmp_path / "a", "--out", existing,
        "--passphrase-file", passphrase_file,
    )  # fmt: skip

    assert backup.returncode != 0
    assert "already exists" in backup.stderr
    assert existing.read_bytes() == b"older backup"


def test_cli_without_terminal_needs_passphrase_file(tmp_path: Path) -> None:
    init_server(tmp_path / "a", tmp_path)
    backup = hostca("server", "backup", "--data-dir", tmp_path / "a", "--out", tmp_path / "x.hcab")

    assert backup.returncode != 0
    assert "--passphrase-file" in backup.stderr
    assert not (tmp_path / "x.hcab").exists()


def run_in_terminal(
    arguments: list[str], answers: list[str], timeout: float = 60
) -> tuple[int, str]:
    """Run ``hostca`` on a pseudo-terminal, typing each answer after a prompt; return status and output."""
    import os
    import pty
    import select
    import signal
    import time

    pid, descriptor = pty.fork()
    if pid == 0:
        # The child of pty.fork has the terminal as its controlling terminal, which getpass needs.
        os.execv(HOSTCA, [HOSTCA, *arguments])  # noqa: S606 - a fixed executable, no shell
    output = b""
    pending = list(answers)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([descriptor], [], [], 0.5)
            if not ready:
                continue
            try:
                chunk = os.read(descriptor, 4096)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
            if pending and output.rstrip().endswith(b":"):
                # getpass turns echo off only after the prompt is written, so an
                # answer typed at once could still be echoed by the terminal.
                time.sleep(0.5)
                os.write(descriptor, (pending.pop(0) + "\n").encode())
    finally:
        os.close(descriptor)
        if time.monotonic() >= deadline:
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace")


def test_cli_prompts_without_echo(tmp_path: Path) -> None:
    init_server(tmp_path / "a", tmp_path)
    archive = tmp_path / "prompted.hcab"

    status, output = run_in_terminal(
        ["server", "backup", "--data-dir", str(tmp_path / "a"), "--out", str(archive)],
        [PASSPHRASE, PASSPHRASE],
    )

    assert status == 0, output
    assert "Backup passphrase:" in output
    assert "Repeat for confirmation:" in output
    assert PASSPHRASE not in output
    passphrase_file = tmp_path / "backup-passphrase"
    passphrase_file.write_text(PASSPHRASE + "\n")
    restore = hostca(
        "server", "restore", archive, "--data-dir", tmp_path / "b",
        "--passphrase-file", passphrase_file,
    )  # fmt: skip
    assert restore.returncode == 0, restore.stderr
