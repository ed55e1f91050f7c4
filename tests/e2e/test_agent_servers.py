"""One agent, two primaries: two real `hostca server run` processes with their own CAs.

The agent trusts and enrols with both, keeps the first one's files at the top
of the state directory and the second one's under servers/, and chooses between
them with --server.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from hostca.core.fingerprints import fingerprint

from conftest import HOSTCA, PrimaryServer, init_server, start_server, stop_server

pytestmark = pytest.mark.e2e

HOST_NAME = "multi-01.example.test"
STATUS_KEYS = {
    "host_id",
    "names",
    "serial_number",
    "not_after",
    "certificate_file",
    "key_file",
    "ca_file",
    "server",
}


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


def trust_and_enroll(state_dir: Path, server: PrimaryServer, token_name: str) -> dict[str, Any]:
    ca = x509.load_pem_x509_certificate(server.ca_file.read_bytes())
    agent_json(
        state_dir, "trust", "--server", server.url, "--fingerprint", fingerprint(ca, "sha256")
    )
    return agent_json(
        state_dir,
        "enroll",
        "--server",
        server.url,
        "--name",
        HOST_NAME,
        "--token-env",
        "E2E_TOKEN",
        env={"E2E_TOKEN": server.create_token(token_name)},
    )


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[tuple[PrimaryServer, PrimaryServer]]:
    started: list[PrimaryServer] = []
    try:
        for label in ("primary-a", "primary-b"):
            directory = tmp_path / label
            directory.mkdir()
            init_server(directory / "data", directory)
            started.append(start_server(directory / "data", directory / "server.log"))
        yield started[0], started[1]
    finally:
        for server in started:
            stop_server(server)


def test_two_primaries(two_servers: tuple[PrimaryServer, PrimaryServer], tmp_path: Path) -> None:
    first_server, second_server = two_servers
    state_dir = tmp_path / "agent"
    first = trust_and_enroll(state_dir, first_server, "multi-a")
    second = trust_and_enroll(state_dir, second_server, "multi-b")

    # Each primary has its own host ID, CA bundle, key and certificate.
    assert first["host_id"] != second["host_id"]
    assert first["certificate_file"] == str(state_dir / "cert.pem")
    second_dir = Path(second["certificate_file"]).parent
    assert second_dir.parent == state_dir / "servers"
    assert (second_dir / "ca.pem").read_bytes() == second_server.ca_file.read_bytes()
    assert (state_dir / "ca.pem").read_bytes() == first_server.ca_file.read_bytes()

    status = agent_json(state_dir, "status")
    assert status.keys() >= STATUS_KEYS
    assert status["server"] == first_server.url
    assert status["host_id"] == first["host_id"]
    servers = {item["server"]: item for item in status["servers"]}
    assert list(servers) == [first_server.url, second_server.url]
    assert servers[second_server.url]["host_id"] == second["host_id"]
    assert servers[second_server.url]["status"] == "valid"
    assert (
        agent_json(state_dir, "status", "--server", second_server.url)["host_id"]
        == (second["host_id"])
    )

    # Without --server, a command that talks to one primary names both.
    ambiguous = agent(state_dir, "renew", "--json")
    assert ambiguous.returncode == 1
    error = json.loads(ambiguous.stderr.strip().splitlines()[-1])
    assert error["code"] == "server_ambiguous"
    assert first_server.url in error["message"]
    assert second_server.url in error["message"]

    # Each command reaches the primary it is given, over mutual TLS with that primary's certificate.
    renewed = agent_json(state_dir, "renew", "--server", second_server.url)
    assert renewed["host_id"] == second["host_id"]
    assert renewed["serial_number"] != second["serial_number"]
    checked = agent_json(state_dir, "self-check", "--server", first_server.url)
    assert checked["status"] == "valid"
    assert checked["server"]["host_id"] == first["host_id"]
    for server in (first_server, second_server):
        fetched = agent_json(state_dir, "crl", "fetch", "--server", server.url)
        assert fetched["crl_number"] >= 1

    # One daemon pass looks after both primaries.
    once = agent(state_dir, "run", "--once")
    assert once.returncode == 0, once.stderr
    events = [json.loads(line) for line in once.stderr.splitlines() if line.startswith("{")]
    started = [event for event in events if event["event"] == "agent_started"]
    assert started[0]["servers"] == [first_server.url, second_server.url]
    measured = [event["server"] for event in events if event["event"] == "clock_skew_measured"]
    assert measured == [first_server.url, second_server.url]
    assert [event for event in events if event["level"] in ("warning", "error")] == []

    forgotten = agent(state_dir, "forget", "--server", second_server.url, "--force")
    assert forgotten.returncode == 0, forgotten.stderr
    assert not (state_dir / "servers").exists()
    remaining = agent_json(state_dir, "status")
    assert [item["server"] for item in remaining["servers"]] == [first_server.url]
    # With one primary left, --server is optional again.
    assert agent_json(state_dir, "renew")["host_id"] == first["host_id"]


def test_first_primary_keeps_single_server_layout(
    two_servers: tuple[PrimaryServer, PrimaryServer], tmp_path: Path
) -> None:
    first_server, second_server = two_servers
    state_dir = tmp_path / "agent"
    first = trust_and_enroll(state_dir, first_server, "layout-a")
    top_level = {path.name for path in state_dir.iterdir()}
    assert top_level == {"ca.pem", "cert.pem", "agent.json", "private"}

    trust_and_enroll(state_dir, second_server, "layout-b")

    # Adding a primary moved nothing: the first one's files are where they were.
    assert {path.name for path in state_dir.iterdir()} == top_level | {"servers"}
    assert (
        agent_json(state_dir, "status", "--server", first_server.url)["serial_number"]
        == (first["serial_number"])
    )
