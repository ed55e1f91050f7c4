"""`hostca agent` end to end against a real `hostca server run` on 127.0.0.1.

The test starts its own primary in a temporary data directory, so it needs no
other fixture, and drives the agent as a user would: one `hostca` process per
command. It covers trust, enroll with a token, status, self-check, renew with
and without a new key, CRL fetch, a failed enroll that must leave the state
alone, and revocation.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.e2e

HOSTCA = str(Path(sys.executable).with_name("hostca"))
ADMIN_PASSWORD = "e2e-admin-password-123"
HOST_NAME = "web-01.example.test"
STARTUP_TIMEOUT_SECONDS = 30.0


@dataclass
class Primary:
    """A running primary. ``ca_file`` is set once the agent has trusted the CA."""

    url: str
    ca_sha256: str
    ca_file: Path | None = None

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        assert self.ca_file is not None, "trust the CA before calling the admin API"
        context = ssl.create_default_context(cafile=str(self.ca_file))
        with httpx.Client(base_url=self.url, verify=context, trust_env=False) as client:
            login = client.post("/api/v1/login", json={"user": "admin", "password": ADMIN_PASSWORD})
            login.raise_for_status()
            headers = {"Authorization": f"Bearer {login.json()['session']}"}
            return client.request(method, path, headers=headers, **kwargs)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def wait_until_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"hostca server run exited with {process.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"hostca server run did not listen within {STARTUP_TIMEOUT_SECONDS} s")


@pytest.fixture
def primary(tmp_path: Path) -> Iterator[Primary]:
    data_dir = tmp_path / "primary"
    password_file = tmp_path / "admin-password"
    password_file.write_text(ADMIN_PASSWORD)
    password_file.chmod(0o600)
    init = subprocess.run(
        [
            HOSTCA,
            "server",
            "init",
            "--data-dir",
            str(data_dir),
            "--name",
            "primary.example.test",
            "--alt-name",
            "127.0.0.1",
            "--admin-password-file",
            str(password_file),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    ca_sha256 = json.loads(init.stdout)["ca_sha256"]

    port = free_port()
    log = tmp_path / "server.log"
    with log.open("wb") as log_stream:
        process = subprocess.Popen(
            [HOSTCA, "server", "run", "--data-dir", str(data_dir), "--listen", f"127.0.0.1:{port}"],
            stdout=log_stream,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_listening(port, process, log)
        yield Primary(url=f"https://127.0.0.1:{port}", ca_sha256=ca_sha256)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def agent(
    state_dir: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HOSTCA, "agent", "--state-dir", str(state_dir), *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )


def agent_json(state_dir: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = agent(state_dir, *args, "--json", env=env)
    assert result.returncode == 0, result.stderr
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def snapshot(state_dir: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(state_dir)): path.read_bytes()
        for path in sorted(state_dir.rglob("*"))
        if path.is_file()
    }


def test_agent_lifecycle(primary: Primary, tmp_path: Path) -> None:
    state_dir = tmp_path / "agent"
    key_file = state_dir / "private" / "key.pem"

    # Trust on first use, confirmed by the fingerprint that `server init` printed.
    trusted = agent_json(
        state_dir, "trust", "--server", primary.url, "--fingerprint", primary.ca_sha256
    )
    assert trusted["certificates"][0]["sha256"] == primary.ca_sha256
    primary.ca_file = state_dir / "ca.pem"

    # Enrolment with an authorization token from the admin API.
    created = primary.admin("POST", "/api/v1/tokens", json={"name": "e2e-agent"})
    assert created.status_code == 201, created.text
    token = created.json()["value"]
    enrolled = agent(
        state_dir,
        "enroll",
        "--token-env",
        "E2E_TOKEN",
        "--name",
        HOST_NAME,
        "--json",
        env={"E2E_TOKEN": token},
    )
    assert enrolled.returncode == 0, enrolled.stderr
    assert token not in enrolled.stdout + enrolled.stderr
    first = json.loads(enrolled.stdout)
    assert first["names"][0] == HOST_NAME
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700

    status = agent_json(state_dir, "status")
    assert status["host_id"] == first["host_id"]
    assert status["serial_number"] == first["serial_number"]
    assert status["server"] == primary.url
    assert status["status"] == "valid"

    checked = agent_json(state_dir, "self-check")
    assert checked["status"] == "valid"
    assert checked["server"]["primary_name"] == HOST_NAME

    # The spent token cannot enrol again, and the failure leaves the state alone.
    before = snapshot(state_dir)
    again = agent(
        state_dir,
        "enroll",
        "--force",
        "--token-env",
        "E2E_TOKEN",
        "--name",
        HOST_NAME,
        env={"E2E_TOKEN": token},
    )
    assert again.returncode == 1
    assert again.stderr.startswith("hostca: error: ")
    assert snapshot(state_dir) == before

    # Renewal with the same key, then with a new key.
    key_before = key_file.read_bytes()
    renewed = agent_json(state_dir, "renew")
    assert renewed["host_id"] == first["host_id"]
    assert renewed["serial_number"] != first["serial_number"]
    assert key_file.read_bytes() == key_before

    rekeyed = agent_json(state_dir, "renew", "--rekey")
    assert rekeyed["host_id"] == first["host_id"]
    assert rekeyed["serial_number"] != renewed["serial_number"]
    assert key_file.read_bytes() != key_before
    assert agent_json(state_dir, "self-check")["status"] == "valid"

    fetched = agent_json(state_dir, "crl", "fetch")
    assert fetched["crl_number"] >= 1
    assert (state_dir / "crl.pem").is_file()

    # Revocation: the primary rejects the certificate at once, and the CRL lists it.
    revoked = primary.admin(
        "POST",
        "/api/v1/certificates/revoke",
        json={"host": HOST_NAME, "reason_code": "key-compromise"},
    )
    assert revoked.status_code == 200, revoked.text
    rejected = agent(state_dir, "self-check", "--json")
    assert rejected.returncode == 1
    report = json.loads(rejected.stdout)
    assert report["status"] == "revoked"
    assert report["server"]["code"] == "certificate_revoked"

    renew_after_revocation = agent(state_dir, "renew")
    assert renew_after_revocation.returncode == 1
    assert "revoked" in renew_after_revocation.stderr

    refetched = agent_json(state_dir, "crl", "fetch")
    assert refetched["crl_number"] > fetched["crl_number"]
    report = json.loads(agent(state_dir, "self-check", "--json").stdout)
    assert report["crl"]["revocation"]["serial_number"] == rekeyed["serial_number"]
