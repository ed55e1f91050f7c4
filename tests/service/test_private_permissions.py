"""``hostca server run`` rejects a data directory whose private files group or others can access."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from hostca.core.errors import HostcaError
from hostca.datadir import DataDir
from hostca.service.server_setup import InitRequest, initialize_server

from conftest import HOSTCA, free_port


@pytest.fixture
def data_dir(tmp_path: Path) -> DataDir:
    root = tmp_path / "data"
    initialize_server(InitRequest(data_dir=root, name="localhost"))
    return DataDir(root)


def test_initialized_permissions_accepted(data_dir: DataDir) -> None:
    data_dir.check_private_permissions()

    assert data_dir.root.stat().st_mode & 0o777 == 0o700
    assert data_dir.tls_key.stat().st_mode & 0o777 == 0o600
    assert data_dir.token_hmac_key.stat().st_mode & 0o777 == 0o600
    assert (data_dir.ca_dir / "ca.key.pem").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("relative", "mode", "fix"),
    [
        ("", 0o750, "chmod 700"),
        ("ca/ca.key.pem", 0o640, "chmod 600"),
        ("tls/server.key.pem", 0o604, "chmod 600"),
        ("secrets/token-hmac.key", 0o620, "chmod 600"),
    ],
)
def test_loose_permissions_rejected(data_dir: DataDir, relative: str, mode: int, fix: str) -> None:
    path = data_dir.root / relative if relative else data_dir.root
    os.chmod(path, mode)

    with pytest.raises(HostcaError) as raised:
        data_dir.check_private_permissions()

    assert raised.value.code == "permissions_too_open"
    assert f"'{fix} {path}'" in raised.value.message
    assert f"{mode:04o}" in raised.value.message


def test_server_run_refuses_loose_key(data_dir: DataDir) -> None:
    key = data_dir.ca_dir / "ca.key.pem"
    os.chmod(key, 0o644)

    result = subprocess.run(
        [
            HOSTCA,
            "server",
            "run",
            "--data-dir",
            str(data_dir.root),
            "--listen",
            f"127.0.0.1:{free_port()}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode != 0
    assert result.stderr.count("\n") == 1, result.stderr
    assert str(key) in result.stderr
    assert f"chmod 600 {key}" in result.stderr
    assert not data_dir.lock_file.exists()
