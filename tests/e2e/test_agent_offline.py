"""The offline flow end to end: `hostca agent csr`, `hostca cert sign`, `hostca agent install-cert`.

Every step is a real `hostca` process, against real `hostca server run`
processes on 127.0.0.1. The host side and the administrator side share nothing
but the CSR file and the certificate file, as on an offline host.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from hostca.core.fingerprints import fingerprint

from conftest import HOSTCA, PrimaryServer, init_server, start_server, stop_server

pytestmark = pytest.mark.e2e

HOST_NAME = "offline-01.example.test"
ALIAS = "offline-01"
WAIT_SECONDS = 60.0


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HOSTCA, *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )


def agent(state_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run("agent", "--state-dir", str(state_dir), *args)


def agent_json(state_dir: Path, *args: str) -> dict[str, Any]:
    result = agent(state_dir, *args, "--json")
    assert result.returncode == 0, result.stderr
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def error_of(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """Return the JSON error line that a failed command printed with --json."""
    assert result.returncode == 1, result.stdout + result.stderr
    error: dict[str, Any] = json.loads(result.stderr.strip().splitlines()[-1])
    return error


def trust(state_dir: Path, server: PrimaryServer) -> None:
    ca = x509.load_pem_x509_certificate(server.ca_file.read_bytes())
    agent_json(
        state_dir, "trust", "--server", server.url, "--fingerprint", fingerprint(ca, "sha256")
    )


def cert_sign(
    server: PrimaryServer, csr: Path, token: str, out: Path, config_home: Path
) -> subprocess.CompletedProcess[str]:
    """Run `hostca cert sign` as the administrator, with no stored session."""
    return run(
        "cert",
        "sign",
        "--csr",
        str(csr),
        "--token",
        token,
        "--out",
        str(out),
        "--server",
        server.url,
        "--ca-file",
        str(server.ca_file),
        "--json",
        env={"XDG_CONFIG_HOME": str(config_home), "HOSTCA_SERVER": "", "HOSTCA_CA_FILE": ""},
    )


def snapshot(state_dir: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(state_dir)): path.read_bytes()
        for path in sorted(state_dir.rglob("*"))
        if path.is_file()
    }


def server_time(server: PrimaryServer) -> datetime:
    with server.client() as client:
        return datetime.fromisoformat(client.get("/api/v1/time").json()["time"])


@pytest.fixture
def other_server(tmp_path: Path) -> Iterator[PrimaryServer]:
    """A second primary with its own CA, which the agent does not trust."""
    directory = tmp_path / "other-primary"
    directory.mkdir()
    init_server(directory / "data", directory)
    server = start_server(directory / "data", directory / "server.log")
    yield server
    stop_server(server)


def test_offline_flow(primary_server: PrimaryServer, tmp_path: Path) -> None:
    state_dir = tmp_path / "agent"
    trust(state_dir, primary_server)
    csr = tmp_path / "offline.csr"
    request = agent_json(state_dir, "csr", "--out", str(csr), "--name", HOST_NAME, "--alias", ALIAS)
    pending = state_dir / "private" / "pending-key.pem"
    assert request["names"] == [HOST_NAME, ALIAS]
    assert stat.S_IMODE(pending.stat().st_mode) == 0o600
    assert not (state_dir / "cert.pem").exists()

    token = primary_server.create_token("offline-flow")
    signed = tmp_path / "offline.pem"
    signing = cert_sign(primary_server, csr, token, signed, tmp_path / "admin-config")
    assert signing.returncode == 0, signing.stderr
    issued = json.loads(signing.stdout)
    assert token not in signing.stdout + signing.stderr

    installed = agent_json(state_dir, "install-cert", str(signed))
    assert installed["host_id"] == issued["host_id"]
    assert installed["serial_number"] == issued["serial_number"]
    assert installed["names"][0] == HOST_NAME
    assert not pending.exists()
    key_file = state_dir / "private" / "key.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700

    status = agent_json(state_dir, "status")
    assert status["status"] == "valid"
    assert status["server"] == primary_server.url
    # The installed key and certificate work for mutual TLS with the primary.
    checked = agent_json(state_dir, "self-check")
    assert checked["status"] == "valid"
    assert checked["server"]["host_id"] == issued["host_id"]

    # A new CSR leaves the installed key and certificate in use.
    before = snapshot(state_dir)
    agent_json(state_dir, "csr", "--out", str(tmp_path / "next.csr"), "--name", HOST_NAME)
    after = snapshot(state_dir)
    assert after.pop("private/pending-key.pem")
    assert after == before


def test_used_up_token_rejected(primary_server: PrimaryServer, tmp_path: Path) -> None:
    state_dir = tmp_path / "agent"
    trust(state_dir, primary_server)
    token = primary_server.create_token("offline-used-up")
    first_csr = tmp_path / "first.csr"
    agent_json(state_dir, "csr", "--out", str(first_csr), "--name", "offline-02.example.test")
    first = cert_sign(primary_server, first_csr, token, tmp_path / "first.pem", tmp_path / "cfg")
    assert first.returncode == 0, first.stderr

    second_csr = tmp_path / "second.csr"
    agent_json(state_dir, "csr", "--out", str(second_csr), "--name", "offline-03.example.test")
    second = cert_sign(primary_server, second_csr, token, tmp_path / "second.pem", tmp_path / "cfg")

    error = error_of(second)
    assert error["code"] == "token_used_up"
    assert token not in second.stderr
    assert not (tmp_path / "second.pem").exists()


def test_expired_token_rejected(primary_server: PrimaryServer, tmp_path: Path) -> None:
    state_dir = tmp_path / "agent"
    trust(state_dir, primary_server)
    expires = (server_time(primary_server) + timedelta(seconds=3)).replace(microsecond=0)
    token = primary_server.create_token("offline-expired", valid_until=expires.isoformat())
    csr = tmp_path / "host.csr"
    agent_json(state_dir, "csr", "--out", str(csr), "--name", "offline-04.example.test")

    deadline = time.monotonic() + WAIT_SECONDS
    while server_time(primary_server) <= expires:
        assert time.monotonic() < deadline, "the token did not expire on the primary"
        time.sleep(0.2)
    signing = cert_sign(primary_server, csr, token, tmp_path / "host.pem", tmp_path / "cfg")

    error = error_of(signing)
    assert error["code"] == "token_expired"
    assert "expired" in error["message"]
    assert not (tmp_path / "host.pem").exists()


def test_certificate_for_other_key_rejected(primary_server: PrimaryServer, tmp_path: Path) -> None:
    state_dir = tmp_path / "agent"
    trust(state_dir, primary_server)
    first_csr = tmp_path / "first.csr"
    agent_json(state_dir, "csr", "--out", str(first_csr), "--name", "offline-05.example.test")
    token = primary_server.create_token("offline-other-key")
    signing = cert_sign(primary_server, first_csr, token, tmp_path / "first.pem", tmp_path / "cfg")
    assert signing.returncode == 0, signing.stderr
    # A second CSR replaces the pending key, so the first certificate no longer fits.
    agent_json(
        state_dir, "csr", "--out", str(tmp_path / "second.csr"), "--name", "offline-05.example.test"
    )
    before = snapshot(state_dir)

    installing = agent(state_dir, "install-cert", str(tmp_path / "first.pem"), "--json")

    error = error_of(installing)
    assert error["code"] == "certificate_key_mismatch"
    assert "pending key" in error["message"]
    assert snapshot(state_dir) == before


def test_certificate_from_other_ca_rejected(
    primary_server: PrimaryServer, other_server: PrimaryServer, tmp_path: Path
) -> None:
    state_dir = tmp_path / "agent"
    trust(state_dir, primary_server)
    csr = tmp_path / "host.csr"
    agent_json(state_dir, "csr", "--out", str(csr), "--name", "offline-06.example.test")
    token = other_server.create_token("offline-other-ca")
    signing = cert_sign(other_server, csr, token, tmp_path / "other.pem", tmp_path / "cfg")
    assert signing.returncode == 0, signing.stderr
    before = snapshot(state_dir)

    installing = agent(state_dir, "install-cert", str(tmp_path / "other.pem"), "--json")

    error = error_of(installing)
    assert error["code"] == "certificate_untrusted"
    assert "not a CA in" in error["message"]
    assert snapshot(state_dir) == before
