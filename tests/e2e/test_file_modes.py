"""File modes of a primary's data directory, and the real server's rejection of loose ones.

The server is initialized and run with umask 000, so that every mode checked here
comes from hostca itself and not from a cautious umask.
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import (
    ADMIN_PASSWORD,
    HOSTCA,
    PrimaryServer,
    free_port,
    stop_server,
    wait_until_ready,
)

pytestmark = pytest.mark.e2e

# Files that group and others may read: the CA and server certificates.
PUBLIC_FILES = {"ca/ca.cert.pem", "tls/server.cert.pem"}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def init_with_umask_zero(data_dir: Path, *, password_file: Path | None) -> None:
    command = [
        HOSTCA, "server", "init", "--data-dir", str(data_dir), "--name", "localhost",
        "--alt-name", "127.0.0.1",
    ]  # fmt: skip
    if password_file is not None:
        command += ["--admin-password-file", str(password_file)]
    subprocess.run(command, check=True, capture_output=True, timeout=120, umask=0)


def run_server(data_dir: Path, log_path: Path) -> PrimaryServer:
    port = free_port()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [HOSTCA, "server", "run", "--data-dir", str(data_dir), "--listen", f"127.0.0.1:{port}"],
            stdout=log,
            stderr=subprocess.STDOUT,
            umask=0,
        )
    server = PrimaryServer(data_dir=data_dir, port=port, process=process, log_path=log_path)
    try:
        wait_until_ready(server)
    except BaseException:
        stop_server(server)
        raise
    return server


@pytest.fixture
def running(tmp_path: Path) -> Iterator[PrimaryServer]:
    password_file = tmp_path / "admin-password"
    password_file.write_text(ADMIN_PASSWORD + "\n")
    init_with_umask_zero(tmp_path / "data", password_file=password_file)
    server = run_server(tmp_path / "data", tmp_path / "server.log")
    yield server
    stop_server(server)


def test_data_dir_modes_while_running(running: PrimaryServer) -> None:
    # A write, so that the WAL and shared-memory files exist.
    running.create_token("modes")
    root = running.data_dir

    paths = [root, *sorted(root.rglob("*"))]

    assert {p.name for p in paths} >= {"hostca.db", "hostca.db-wal", "hostca.db-shm"}
    for path in paths:
        relative = str(path.relative_to(root))
        if path.is_dir():
            assert mode(path) == 0o700, relative
        elif relative in PUBLIC_FILES:
            assert mode(path) & 0o022 == 0, f"{relative}: {mode(path):04o}"
        else:
            assert mode(path) == 0o600, f"{relative}: {mode(path):04o}"


def test_generated_admin_password_mode(tmp_path: Path) -> None:
    init_with_umask_zero(tmp_path / "data", password_file=None)

    generated = tmp_path / "data" / "secrets" / "initial-admin-password"

    assert mode(generated) == 0o600
    assert mode(generated.parent) == 0o700


@pytest.mark.parametrize(
    ("relative", "loose", "fix"),
    [
        ("", 0o755, "chmod 700"),
        ("ca/ca.key.pem", 0o640, "chmod 600"),
        ("tls/server.key.pem", 0o604, "chmod 600"),
        ("secrets/token-hmac.key", 0o644, "chmod 600"),
        ("secrets/initial-admin-password", 0o660, "chmod 600"),
    ],
)
def test_server_refuses_loose_mode(tmp_path: Path, relative: str, loose: int, fix: str) -> None:
    data_dir = tmp_path / "data"
    init_with_umask_zero(data_dir, password_file=None)
    path = data_dir / relative if relative else data_dir
    os.chmod(path, loose)

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
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode != 0
    assert f"{path}: mode {loose:04o}" in result.stderr
    assert f"'{fix} {path}'" in result.stderr
    assert not (data_dir / "server.lock").exists()
