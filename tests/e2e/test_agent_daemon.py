"""`hostca agent run` as a real process against real `hostca server run` processes.

The primary issues certificates for one day, its shortest lifetime. Instead of
waiting half a day, the daemon's clock is shifted with the agent's testing aid
HOSTCA_AGENT_CLOCK_OFFSET_SECONDS, so that a renewal is due, or the certificate
has expired, from the daemon's point of view. The daemon logs one JSON object
per event on stderr, and the tests wait for those events.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from hostca.agent.certificates import format_serial_number
from hostca.core.fingerprints import fingerprint

from conftest import (
    HOSTCA,
    PrimaryServer,
    init_server,
    start_server,
    stop_server,
    wait_until_ready,
)

pytestmark = pytest.mark.e2e

HOST_NAME = "daemon-01.example.test"
HOUR = 3600
# Just past half of the one-day lifetime, when the agent renews.
RENEWAL_DUE_OFFSET = 12 * HOUR + 600
# Past the end of the one-day lifetime.
EXPIRED_OFFSET = 2 * 24 * HOUR
CHECK_INTERVAL = "0.5"
WAIT_SECONDS = 60.0
EXIT_REISSUE_TOKEN_REQUIRED = 77


@dataclass
class Setup:
    """A primary, an agent state directory enrolled with it, and the daemons started."""

    server: PrimaryServer
    state_dir: Path
    host_id: str
    serial_number: str
    daemons: list[Daemon] = field(default_factory=list)


@dataclass
class Daemon:
    """A running `hostca agent run` and its log of JSON events."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def events(self) -> list[dict[str, Any]]:
        events = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                events.append(json.loads(line))
        return events

    def named(self, name: str) -> list[dict[str, Any]]:
        return [event for event in self.events() if event["event"] == name]

    def wait_for(
        self, name: str, condition: Callable[[dict[str, Any]], bool] = lambda _event: True
    ) -> dict[str, Any]:
        """Return the first event ``name`` that meets ``condition``, waiting for it if needed."""
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            matching = [event for event in self.named(name) if condition(event)]
            if matching:
                return matching[0]
            if self.process.poll() is not None:
                pytest.fail(f"the daemon exited with {self.process.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {name} event within {WAIT_SECONDS} s:\n{self.log()}")
            time.sleep(0.1)

    def stop(self, number: signal.Signals = signal.SIGTERM) -> int:
        self.process.send_signal(number)
        return self.process.wait(timeout=WAIT_SECONDS)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def agent(state_dir: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = subprocess.run(
        [HOSTCA, "agent", "--state-dir", str(state_dir), *args, "--json"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )
    assert result.returncode == 0, result.stderr
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def trust(state_dir: Path, server: PrimaryServer) -> None:
    ca = x509.load_pem_x509_certificate(server.ca_file.read_bytes())
    agent(state_dir, "trust", "--server", server.url, "--fingerprint", fingerprint(ca, "sha256"))


def start_daemon(setup: Setup, *args: str, offset: float | None = None) -> Daemon:
    env = dict(os.environ)
    env.pop("HOSTCA_AGENT_CLOCK_OFFSET_SECONDS", None)
    if offset is not None:
        env["HOSTCA_AGENT_CLOCK_OFFSET_SECONDS"] = str(offset)
    log_path = setup.state_dir.parent / f"daemon-{len(setup.daemons)}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                HOSTCA,
                "agent",
                "--state-dir",
                str(setup.state_dir),
                "--timeout",
                "5",
                "run",
                "--check-interval",
                CHECK_INTERVAL,
                *args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    daemon = Daemon(process=process, log_path=log_path)
    setup.daemons.append(daemon)
    return daemon


def restart_on_same_port(server: PrimaryServer) -> PrimaryServer:
    """Start a new server process on the data directory and port of ``server``, which is stopped."""
    log_path = server.log_path.with_name("server-restarted.log")
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                HOSTCA,
                "server",
                "run",
                "--data-dir",
                str(server.data_dir),
                "--listen",
                f"127.0.0.1:{server.port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    restarted = PrimaryServer(
        data_dir=server.data_dir, port=server.port, process=process, log_path=log_path
    )
    try:
        wait_until_ready(restarted)
    except BaseException:
        stop_server(restarted)
        raise
    return restarted


def check_files_consistent(state_dir: Path) -> x509.Certificate:
    """Assert that the key matches the certificate, a trusted CA issued it, and no file is half written."""
    certificate = x509.load_pem_x509_certificate((state_dir / "cert.pem").read_bytes())
    key_file = state_dir / "private" / "key.pem"
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    assert key.public_key().public_bytes(der, spki) == certificate.public_key().public_bytes(
        der, spki
    )
    ca = x509.load_pem_x509_certificate((state_dir / "ca.pem").read_bytes())
    certificate.verify_directly_issued_by(ca)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert [path.name for path in state_dir.rglob("*.tmp")] == []
    return certificate


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    """A primary with one-day certificates, and an agent enrolled with it."""
    data_dir = tmp_path / "primary"
    init_server(data_dir, tmp_path)
    server = start_server(data_dir, tmp_path / "server.log")
    holder = Setup(server=server, state_dir=tmp_path / "agent", host_id="", serial_number="")
    try:
        changed = server.admin(
            "PATCH", "/api/v1/settings/certificate_lifetime_days", json={"value": 1}
        )
        assert changed.status_code == 200, changed.text
        trust(holder.state_dir, server)
        enrolled = agent(
            holder.state_dir,
            "enroll",
            "--name",
            HOST_NAME,
            "--token-env",
            "E2E_TOKEN",
            env={"E2E_TOKEN": server.create_token("daemon")},
        )
        holder.host_id = enrolled["host_id"]
        holder.serial_number = enrolled["serial_number"]
        yield holder
    finally:
        for daemon in holder.daemons:
            if daemon.process.poll() is None:
                daemon.process.kill()
                daemon.process.wait()
        stop_server(holder.server)


def test_daemon_renews_on_time(setup: Setup) -> None:
    daemon = start_daemon(setup, offset=RENEWAL_DUE_OFFSET)

    renewed = daemon.wait_for("certificate_renewed")

    assert renewed["previous_serial_number"] == setup.serial_number
    assert renewed["host_id"] == setup.host_id
    status = agent(setup.state_dir, "status")
    assert status["serial_number"] == renewed["serial_number"] != setup.serial_number
    assert status["host_id"] == setup.host_id
    check_files_consistent(setup.state_dir)
    record = setup.server.admin("GET", f"/api/v1/certificates/{renewed['serial_number']}")
    assert record.json()["status"] == "valid"

    # It keeps running, and does not renew the new certificate again at once.
    daemon.wait_for("crl_refreshed")
    assert daemon.process.poll() is None
    assert daemon.stop() == 0
    assert len(daemon.named("certificate_renewed")) == 1
    assert daemon.named("agent_stopped")[-1]["signal"] == "SIGTERM"


def test_daemon_retries_through_restart(setup: Setup) -> None:
    stop_server(setup.server)
    daemon = start_daemon(setup, offset=RENEWAL_DUE_OFFSET)
    daemon.wait_for("retry_scheduled", lambda event: event["attempt"] >= 2)
    assert agent(setup.state_dir, "status")["serial_number"] == setup.serial_number

    setup.server = restart_on_same_port(setup.server)
    renewed = daemon.wait_for("certificate_renewed")

    retries = daemon.named("retry_scheduled")
    assert [event["attempt"] for event in retries[:2]] == [1, 2]
    assert {event["code"] for event in retries} == {"server_unreachable"}
    assert renewed["previous_serial_number"] == setup.serial_number
    assert renewed["host_id"] == setup.host_id
    assert agent(setup.state_dir, "status")["serial_number"] == renewed["serial_number"]
    check_files_consistent(setup.state_dir)
    assert daemon.stop() == 0


def test_daemon_refreshes_crl(setup: Setup, tmp_path: Path) -> None:
    config_file = setup.state_dir / "agent.json"
    config = json.loads(config_file.read_text())
    config["crl_refresh_hours"] = 0.001  # 3.6 s, shorter than any security level's interval
    config_file.write_text(json.dumps(config))
    daemon = start_daemon(setup)

    first = daemon.wait_for("crl_refreshed")
    crl_file = setup.state_dir / "crl.pem"
    stored = x509.load_pem_x509_crl(crl_file.read_bytes())
    assert (
        stored.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        == (first["crl_number"])
    )
    learned = daemon.wait_for("crl_interval_learned")
    assert learned["security_level"] == "high"
    assert learned["crl_refresh_interval_seconds"] == 4 * HOUR

    # Revoke another host's certificate, so that the primary publishes a newer CRL.
    other_dir = tmp_path / "other-agent"
    trust(other_dir, setup.server)
    other = agent(
        other_dir,
        "enroll",
        "--name",
        "daemon-02.example.test",
        "--token-env",
        "E2E_TOKEN",
        env={"E2E_TOKEN": setup.server.create_token("daemon-other")},
    )
    revoked = setup.server.admin(
        "POST",
        "/api/v1/certificates/revoke",
        json={"host_id": other["host_id"], "reason_code": "key-compromise"},
    )
    assert revoked.status_code == 200, revoked.text

    newer = daemon.wait_for(
        "crl_refreshed", lambda event: event["crl_number"] > first["crl_number"]
    )
    crl = x509.load_pem_x509_crl(crl_file.read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(int(other["serial_number"], 16))
    assert newer["revoked_count"] >= 1
    assert daemon.stop(signal.SIGINT) == 0


def test_sigterm_leaves_valid_files(setup: Setup) -> None:
    for round_number in range(3):
        daemon = start_daemon(setup, "--rekey", offset=RENEWAL_DUE_OFFSET)
        daemon.wait_for("renewal_started")

        assert daemon.stop() == 0, daemon.log()

        certificate = check_files_consistent(setup.state_dir)
        stopped = daemon.named("agent_stopped")
        assert stopped, f"round {round_number}: no agent_stopped event:\n{daemon.log()}"
        assert stopped[-1]["signal"] == "SIGTERM"
        # Whether the renewal finished or was never sent, the files belong together.
        status = agent(setup.state_dir, "status")
        assert status["serial_number"] == format_serial_number(certificate.serial_number)
        assert status["status"] in ("valid", "renew_due")


def test_expired_reissued_in_window(setup: Setup) -> None:
    opened = setup.server.admin(
        "POST", f"/api/v1/hosts/{setup.host_id}/auto-reissue", json={"minutes": 60}
    )
    assert opened.status_code == 200, opened.text
    daemon = start_daemon(setup, offset=EXPIRED_OFFSET)

    reissued = daemon.wait_for("certificate_reissued")

    assert reissued["previous_serial_number"] == setup.serial_number
    assert reissued["host_id"] == setup.host_id
    status = agent(setup.state_dir, "status")
    assert status["serial_number"] == reissued["serial_number"]
    assert status["host_id"] == setup.host_id
    check_files_consistent(setup.state_dir)
    host = setup.server.admin("GET", f"/api/v1/hosts/{setup.host_id}").json()
    assert host["auto_reissue_until"] is None
    previous = setup.server.admin("GET", f"/api/v1/certificates/{setup.serial_number}").json()
    assert previous["status"] == "revoked"

    # By the shifted clock the new certificate has expired too. The daemon logs a
    # suspected clock skew and waits instead of requesting another reissue.
    daemon.wait_for("clock_skew_suspected")
    assert daemon.process.poll() is None
    assert daemon.stop() == 0
    assert len(daemon.named("reissue_started")) == 1


def test_expired_without_window_exits(setup: Setup) -> None:
    certificate_before = (setup.state_dir / "cert.pem").read_bytes()
    daemon = start_daemon(setup, offset=EXPIRED_OFFSET)

    status = daemon.process.wait(timeout=WAIT_SECONDS)

    assert status == EXIT_REISSUE_TOKEN_REQUIRED, daemon.log()
    message = daemon.log().strip().splitlines()[-1]
    assert message.startswith("hostca: error: ")
    assert "A reissue token is needed" in message
    assert "`hostca agent enroll --force --token --server " in message
    assert "ahead of the primary's" in message
    assert (setup.state_dir / "cert.pem").read_bytes() == certificate_before
    given_up = daemon.named("server_given_up")
    assert given_up[0]["code"] == "reissue_token_required"


def revoke_host(setup: Setup) -> None:
    revoked = setup.server.admin(
        "POST",
        "/api/v1/certificates/revoke",
        json={"host_id": setup.host_id, "reason_code": "key-compromise"},
    )
    assert revoked.status_code == 200, revoked.text


def test_revoked_without_window_exits(setup: Setup) -> None:
    certificate_before = (setup.state_dir / "cert.pem").read_bytes()
    revoke_host(setup)
    daemon = start_daemon(setup)

    status = daemon.process.wait(timeout=WAIT_SECONDS)

    assert status == EXIT_REISSUE_TOKEN_REQUIRED, daemon.log()
    message = daemon.log().strip().splitlines()[-1]
    assert message.startswith("hostca: error: ")
    assert f"certificate {setup.serial_number} of host {setup.host_id} was revoked" in message
    assert "A reissue token is needed" in message
    assert (setup.state_dir / "cert.pem").read_bytes() == certificate_before
    assert daemon.named("certificate_rejected")[0]["code"] == "certificate_revoked"
    assert daemon.named("server_given_up")[0]["code"] == "reissue_token_required"


def test_revoked_reissued_in_window(setup: Setup) -> None:
    revoke_host(setup)
    opened = setup.server.admin(
        "POST", f"/api/v1/hosts/{setup.host_id}/auto-reissue", json={"minutes": 60}
    )
    assert opened.status_code == 200, opened.text
    daemon = start_daemon(setup)

    reissued = daemon.wait_for("certificate_reissued")

    assert reissued["previous_serial_number"] == setup.serial_number
    assert reissued["host_id"] == setup.host_id
    status = agent(setup.state_dir, "status")
    assert status["serial_number"] == reissued["serial_number"]
    assert status["status"] == "valid"
    check_files_consistent(setup.state_dir)
    record = setup.server.admin("GET", f"/api/v1/certificates/{reissued['serial_number']}")
    assert record.json()["status"] == "valid"
    daemon.wait_for("crl_refreshed")
    assert daemon.process.poll() is None
    assert daemon.stop() == 0
    assert len(daemon.named("reissue_started")) == 1


def test_run_once_revoked_exits(setup: Setup) -> None:
    revoke_host(setup)

    result = subprocess.run(
        [HOSTCA, "agent", "--state-dir", str(setup.state_dir), "--timeout", "5", "run", "--once"],
        capture_output=True,
        text=True,
        check=False,
        timeout=WAIT_SECONDS,
    )

    assert result.returncode == EXIT_REISSUE_TOKEN_REQUIRED, result.stderr
    message = result.stderr.strip().splitlines()[-1]
    assert "was revoked" in message
    assert "A reissue token is needed" in message
