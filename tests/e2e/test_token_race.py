"""Parallel enrolments with one single-use token: exactly one certificate each round."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from conftest import PrimaryServer
from e2e_helpers import openssl_csr

pytestmark = pytest.mark.e2e

PARALLEL = 20
ROUNDS = 5


def enrol(
    server: PrimaryServer,
    csr: str,
    token: str,
    barrier: threading.Barrier,
    lock: threading.Lock,
    results: list[tuple[int, dict]],
) -> None:
    """Send one enrolment once every thread is ready, and record the response."""
    with server.client() as client:
        barrier.wait()
        answer = client.post("/api/v1/enroll", json={"csr": csr, "token": token})
    with lock:
        results.append((answer.status_code, answer.json()))


def test_single_use_token_issues_once(primary_server: PrimaryServer, tmp_path: Path) -> None:
    for round_number in range(ROUNDS):
        token_name = f"race-round-{round_number}"
        token = primary_server.create_token(token_name)
        before = primary_server.admin("GET", "/api/v1/certificates").json()
        events_before = primary_server.admin(
            "GET", "/api/v1/audit", params={"category": "CERT"}
        ).json()
        barrier = threading.Barrier(PARALLEL)
        results: list[tuple[int, dict]] = []
        lock = threading.Lock()
        # Fresh names each round, so the winner is always a new host.
        csrs = [
            openssl_csr(tmp_path, f"r{round_number}-{i}.example.test")[1].read_text()
            for i in range(PARALLEL)
        ]
        threads = [
            threading.Thread(
                target=enrol, args=(primary_server, csr, token, barrier, lock, results)
            )
            for csr in csrs
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        successes = [body for status, body in results if status == 200]
        rejections = [body for status, body in results if status != 200]
        assert len(successes) == 1, results
        assert len(rejections) == PARALLEL - 1
        assert {body["code"] for body in rejections} == {"token_used_up"}

        after = primary_server.admin("GET", "/api/v1/certificates").json()
        assert len(after) == len(before) + 1
        shown = primary_server.admin("GET", f"/api/v1/tokens/{token_name}").json()
        assert shown["uses"] == 1
        assert shown["state"] == "used-up"

        events = primary_server.admin("GET", "/api/v1/audit", params={"category": "CERT"}).json()
        new_events = events[len(events_before) :]
        assert len(new_events) == PARALLEL
        assert sum(e["outcome"] == "success" for e in new_events) == 1
        failures = [e for e in new_events if e["outcome"] == "failure"]
        assert {e["error_code"] for e in failures} == {"token_used_up"}
