"""Clock skew end to end: `hostca agent clock-skew`, and the skew in a time error.

The agent's clock is shifted with HOSTCA_AGENT_CLOCK_OFFSET_SECONDS, the agent's
testing aid, while the primary runs on the real clock of this machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from hostca.core.fingerprints import fingerprint

from conftest import HOSTCA, PrimaryServer

pytestmark = pytest.mark.e2e

OFFSET_SECONDS = 7200
# Generous: two readings of the same clock, a few milliseconds apart on loopback.
SKEW_TOLERANCE_SECONDS = 30.0
WAIT_SECONDS = 60.0


def agent(
    state_dir: Path, *args: str, offset: float | None = None
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("HOSTCA_AGENT_CLOCK_OFFSET_SECONDS", None)
    if offset is not None:
        env["HOSTCA_AGENT_CLOCK_OFFSET_SECONDS"] = str(offset)
    return subprocess.run(
        [HOSTCA, "agent", "--state-dir", str(state_dir), *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )


def trust(state_dir: Path, server: PrimaryServer) -> None:
    ca = x509.load_pem_x509_certificate(server.ca_file.read_bytes())
    result = agent(
        state_dir, "trust", "--server", server.url, "--fingerprint", fingerprint(ca, "sha256")
    )
    assert result.returncode == 0, result.stderr


def server_time(server: PrimaryServer) -> datetime:
    with server.client() as client:
        return datetime.fromisoformat(client.get("/api/v1/time").json()["time"])


def expired_token(server: PrimaryServer, name: str) -> str:
    """Create a token that expires in a few seconds, and wait until it has expired on the primary."""
    expires = (server_time(server) + timedelta(seconds=3)).replace(microsecond=0)
    token = server.create_token(name, valid_until=expires.isoformat())
    deadline = time.monotonic() + WAIT_SECONDS
    while server_time(server) <= expires:
        assert time.monotonic() < deadline, "the token did not expire on the primary"
        time.sleep(0.2)
    return token


def test_clock_skew_reports_offset(primary_server: PrimaryServer, tmp_path: Path) -> None:
    trust(tmp_path, primary_server)

    measured = agent(tmp_path, "clock-skew", "--json", offset=OFFSET_SECONDS)
    text = agent(tmp_path, "clock-skew", offset=-OFFSET_SECONDS)

    # 7200 s is far beyond the 300 s tolerance, so both runs warn and exit with 1.
    assert measured.returncode == 1, measured.stderr
    answer: dict[str, Any] = json.loads(measured.stdout)
    assert abs(answer["clock_skew_seconds"] - OFFSET_SECONDS) < SKEW_TOLERANCE_SECONDS
    assert answer["round_trip_seconds"] < SKEW_TOLERANCE_SECONDS
    assert answer["server"] == primary_server.url
    assert answer["within_tolerance"] is False
    assert measured.stderr.startswith("hostca: warning: the clock skew of +7")
    assert text.returncode == 1, text.stderr
    assert text.stdout.startswith("This host's clock is 7")
    assert "behind the primary's (round trip " in text.stdout
    assert "exceeds the tolerance of 300 s" in text.stderr


def test_clock_skew_without_offset(primary_server: PrimaryServer, tmp_path: Path) -> None:
    trust(tmp_path, primary_server)

    measured = agent(tmp_path, "clock-skew", "--json")

    assert measured.returncode == 0, measured.stderr
    assert abs(json.loads(measured.stdout)["clock_skew_seconds"]) < SKEW_TOLERANCE_SECONDS
    assert json.loads(measured.stdout)["within_tolerance"] is True
    assert measured.stderr == ""


def test_expired_token_error_states_skew(primary_server: PrimaryServer, tmp_path: Path) -> None:
    trust(tmp_path, primary_server)
    token = expired_token(primary_server, "clock-expired")

    enrolled = agent(
        tmp_path,
        "enroll",
        "--name",
        "clock-01.example.test",
        "--token",
        token,
        offset=OFFSET_SECONDS,
    )

    assert enrolled.returncode == 1
    message = enrolled.stderr.strip()
    assert message.startswith("hostca: error: the token clock-expired expired at ")
    assert "7200" in message
    assert "ahead" in message
    assert message.endswith("Correct this host's clock (for example with NTP) and try again.")
    assert token not in enrolled.stdout + enrolled.stderr
    assert not (tmp_path / "cert.pem").exists()


def test_expired_token_json_error(primary_server: PrimaryServer, tmp_path: Path) -> None:
    trust(tmp_path, primary_server)
    token = expired_token(primary_server, "clock-expired-json")

    enrolled = agent(
        tmp_path,
        "enroll",
        "--name",
        "clock-02.example.test",
        "--token",
        token,
        "--json",
        offset=-OFFSET_SECONDS,
    )

    assert enrolled.returncode == 1
    error = json.loads(enrolled.stderr.strip().splitlines()[-1])
    assert error["code"] == "token_expired"
    assert "7200" in error["message"]
    assert "behind" in error["message"]
