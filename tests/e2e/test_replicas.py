"""Two server replicas on one PostgreSQL database, and one server with two worker processes.

Every replica is a real ``hostca server run`` process with a data directory of its
own. Replica B is restored from a backup of replica A, as docs/replicas.md describes.
Waits poll with a generous bound and assert no duration.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509

from conftest import (
    ADMIN_PASSWORD,
    HOSTCA,
    PrimaryServer,
    init_server,
    query_rows,
    start_server,
    stop_server,
)
from e2e_helpers import openssl_csr

pytestmark = pytest.mark.e2e

PASSPHRASE = "replica backup passphrase"
# The leader refreshes the CRL every few seconds, so a takeover shows soon.
CRL_INTERVAL_SECONDS = "3"
PARALLEL = 20
ROUNDS = 5
WAIT_SECONDS = 90


def hostca(*arguments: str | Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [HOSTCA, *map(str, arguments)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, **(env or {})},
    )
    assert result.returncode == 0, f"hostca {' '.join(map(str, arguments))}:\n{result.stderr}"
    return result.stdout


def wait_for(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition`` until it holds; fail after a bound far above the expected wait."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"{what}: not within {WAIT_SECONDS} s")


@dataclass
class Replicas:
    a: PrimaryServer
    b: PrimaryServer
    tmp: Path

    @property
    def both(self) -> tuple[PrimaryServer, PrimaryServer]:
        return self.a, self.b


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    """Replica A on a fresh PostgreSQL database, and replica B restored from A's backup."""
    tmp = tmp_path_factory.mktemp("replicas")
    init_server(tmp / "a", tmp)
    passphrase_file = tmp / "backup-passphrase"
    passphrase_file.write_text(PASSPHRASE + "\n")
    archive = tmp / "a.hcab"
    hostca(
        "server", "backup", "--data-dir", tmp / "a", "--out", archive,
        "--passphrase-file", passphrase_file,
    )  # fmt: skip
    hostca(
        "server", "restore", archive, "--data-dir", tmp / "b", "--passphrase-file", passphrase_file
    )

    env = {"HOSTCA_CRL_INTERVAL_SECONDS": CRL_INTERVAL_SECONDS}
    a = start_server(tmp / "a", tmp / "a.log", env=env)
    try:
        b = start_server(tmp / "b", tmp / "b.log", env=env)
    except BaseException:
        stop_server(a)
        raise
    yield Replicas(a, b, tmp)
    stop_server(b)
    stop_server(a)


def enrol(server: PrimaryServer, directory: Path, name: str) -> tuple[Path, Path, str]:
    """Enrol ``name`` through ``server``; return its key and certificate files and serial."""
    key, csr = openssl_csr(directory, name)
    token = server.create_token(f"{name}-token")
    with server.client() as client:
        answer = client.post("/api/v1/enroll", json={"csr": csr.read_text(), "token": token})
    assert answer.status_code == 200, answer.text
    certificate = directory / f"{name}.cert.pem"
    certificate.write_text(answer.json()["certificate"])
    return key, certificate, answer.json()["serial_number"]


def revoke(server: PrimaryServer, serial: str) -> None:
    answer = server.admin(
        "POST", "/api/v1/certificates/revoke", json={"serial_number": serial, "reason_code": 4}
    )
    assert answer.status_code == 200, answer.text


def crl_number(server: PrimaryServer) -> int:
    with server.client() as client:
        answer = client.get("/api/v1/crl")
    assert answer.status_code == 200
    crl = x509.load_der_x509_crl(answer.content)
    number = int(crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number)
    assert int(answer.headers["x-crl-number"]) == number
    return number


def readiness(server: PrimaryServer) -> dict[str, Any] | None:
    try:
        with server.client() as client:
            answer = client.get("/readyz")
    except httpx.TransportError:
        return None
    return answer.json() if answer.status_code == 200 else None


@pytest.mark.postgresql_only
def test_replicas_share_one_database(replicas: Replicas) -> None:
    config_a = json.loads((replicas.tmp / "a" / "server.json").read_text())
    config_b = json.loads((replicas.tmp / "b" / "server.json").read_text())
    assert config_a["database_url"].startswith("postgresql://")
    assert config_b["database_url"] == config_a["database_url"]
    assert not (replicas.tmp / "b" / "hostca.db").exists()

    ready = [readiness(server) for server in replicas.both]
    assert all(state is not None and state["status"] == "ready" for state in ready)
    leaders = [state["leader"] for state in ready if state is not None]
    assert sorted(leaders) == [False, True]


@pytest.mark.postgresql_only
def test_revocation_through_a_refused_by_b(replicas: Replicas, tmp_path: Path) -> None:
    key, certificate, serial = enrol(replicas.a, tmp_path, "revoked-on-a.example.test")
    # One keep-alive connection to B, opened before the revocation, serves both requests.
    with replicas.b.client(cert=(certificate, key)) as client:
        assert client.get("/api/v1/self").status_code == 200
        revoke(replicas.a, serial)
        refused = client.get("/api/v1/self")
    assert refused.status_code == 403
    assert refused.json()["code"] == "certificate_revoked"
    with replicas.b.client(cert=(certificate, key)) as client:
        assert client.get("/api/v1/self").json()["code"] == "certificate_revoked"


def race_round(replicas: Replicas, tmp_path: Path, round_number: int) -> list[tuple[int, Any]]:
    """Send PARALLEL enrolments with one new single-use token, alternating the replicas."""
    token = replicas.a.create_token(f"replica-race-{round_number}")
    csrs = [
        openssl_csr(tmp_path, f"race{round_number}-{i}.example.test")[1].read_text()
        for i in range(PARALLEL)
    ]
    barrier = threading.Barrier(PARALLEL)

    def send(index: int) -> tuple[int, Any]:
        server = replicas.both[index % 2]
        with server.client() as client:
            barrier.wait()
            answer = client.post("/api/v1/enroll", json={"csr": csrs[index], "token": token})
        return answer.status_code, answer.json()

    with ThreadPoolExecutor(PARALLEL) as pool:
        return list(pool.map(send, range(PARALLEL)))


@pytest.mark.postgresql_only
def test_single_use_token_across_replicas(replicas: Replicas, tmp_path: Path) -> None:
    for round_number in range(ROUNDS):
        results = race_round(replicas, tmp_path, round_number)

        successes = [body for status, body in results if status == 200]
        rejections = [body for status, body in results if status != 200]
        assert len(successes) == 1, results
        assert {body["code"] for body in rejections} == {"token_used_up"}
        shown = replicas.b.admin("GET", f"/api/v1/tokens/replica-race-{round_number}").json()
        assert shown["uses"] == 1


@pytest.mark.postgresql_only
def test_crl_numbers_increase_across_replicas(replicas: Replicas, tmp_path: Path) -> None:
    serials = [enrol(replicas.a, tmp_path, f"crl-{i}.example.test")[2] for i in range(6)]
    seen = [crl_number(replicas.a)]
    for index, serial in enumerate(serials):
        revoked_by, read_from = replicas.both[index % 2], replicas.both[1 - index % 2]
        revoke(revoked_by, serial)
        seen.append(crl_number(read_from))
        assert seen[-1] > seen[-2], seen

    # Every stored CRL carries its own number, and later CRLs have later thisUpdate times.
    rows = query_rows(replicas.a.data_dir, "SELECT crl_number, this_update, der FROM crls")
    rows.sort()
    for number, _this_update, der in rows:
        crl = x509.load_der_x509_crl(bytes(der))
        assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == number
    times = [this_update for _number, this_update, _der in rows]
    assert times == sorted(times)


@pytest.mark.postgresql_only
def test_audit_chain_intact_after_concurrent_writes(replicas: Replicas, tmp_path: Path) -> None:
    def write_events(server: PrimaryServer, prefix: str) -> None:
        for i in range(10):
            server.create_token(f"{prefix}-{i}")
            with server.client() as client:
                # A rejected enrolment writes a failure event in a transaction of its own.
                client.post("/api/v1/enroll", json={"csr": "not a csr", "token": "X" * 16})

    threads = [
        threading.Thread(target=write_events, args=(server, name))
        for server, name in ((replicas.a, "chain-a"), (replicas.b, "chain-b"))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    config_home = tmp_path / "config"
    env = {"XDG_CONFIG_HOME": str(config_home)}
    password_file = tmp_path / "admin-password"
    password_file.write_text(ADMIN_PASSWORD + "\n")
    hostca(
        "login", "--server", replicas.b.url, "--password-file", password_file,
        "--ca-file", replicas.b.ca_file, env=env,
    )  # fmt: skip
    verified = json.loads(hostca("audit", "verify", "--json", env=env))
    assert verified["intact"] is True
    sequences = [
        row[0] for row in query_rows(replicas.a.data_dir, "SELECT sequence FROM audit_events")
    ]
    assert sorted(sequences) == list(range(1, len(sequences) + 1))


@pytest.mark.postgresql_only
def test_killed_leader_is_replaced(replicas: Replicas) -> None:
    # Runs last in this module: it kills one of the replicas.
    leader, follower = (
        replicas.both if (readiness(replicas.a) or {}).get("leader") else replicas.both[::-1]
    )
    assert (readiness(leader) or {}).get("leader") is True
    before = crl_number(follower)

    leader.process.send_signal(signal.SIGKILL)
    leader.process.wait()

    wait_for(lambda: (readiness(follower) or {}).get("leader") is True, "follower takes over")
    wait_for(lambda: crl_number(follower) > before, "new leader publishes the next CRL")
    assert '"trigger": "leader"' in follower.log_text()


# The same revocation check with two worker processes of one server, on either backend.


def server_processes(server: PrimaryServer) -> list[int]:
    """Return the PIDs of the server's worker processes."""
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
    workers = []
    for pid in children.read_text().split():
        # multiprocessing also starts a resource tracker beside the workers.
        command_line = Path(f"/proc/{pid}/cmdline").read_bytes()
        if b"resource_tracker" not in command_line:
            workers.append(int(pid))
    return workers


def worker_serving(workers: list[int], client_port: int, server_port: int) -> int | None:
    """Return the worker PID whose socket is the server end of a connection from ``client_port``."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].split(":")[1], 16)
        remote_port = int(fields[2].split(":")[1], 16)
        if local_port == server_port and remote_port == client_port:
            inode = fields[9]
    if inode is None:
        return None
    for pid in workers:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    return None


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[PrimaryServer]:
    init_server(tmp_path / "data", tmp_path)
    server = start_server(tmp_path / "data", tmp_path / "server.log", options=["--workers", "2"])
    yield server
    stop_server(server)


def test_revocation_refused_by_every_worker(two_workers: PrimaryServer, tmp_path: Path) -> None:
    key, certificate, serial = enrol(two_workers, tmp_path, "workers.example.test")
    workers = server_processes(two_workers)
    assert len(workers) == 2

    def connect() -> tuple[httpx.Client, int | None]:
        client = two_workers.client(cert=(certificate, key))
        answer = client.get("/api/v1/self")
        assert answer.status_code == 200
        client_port = answer.extensions["network_stream"].get_extra_info("client_addr")[1]
        return client, worker_serving(workers, client_port, two_workers.port)

    # Keep-alive connections, opened in parallel bursts so that a busy worker leaves
    # some to the other, until both workers serve at least one of them.
    clients: list[httpx.Client] = []
    connection_workers: list[int | None] = []
    served_by: set[int | None] = set()
    deadline = time.monotonic() + WAIT_SECONDS
    try:
        with ThreadPoolExecutor(8) as pool:
            while not set(workers) <= served_by and time.monotonic() < deadline:
                for client, pid in pool.map(lambda _: connect(), range(8)):
                    clients.append(client)
                    connection_workers.append(pid)
                    served_by.add(pid)
        assert set(workers) <= served_by, "the kernel never handed a connection to one worker"
        leading = {
            pid: client.get("/readyz").json()["leader"]
            for client, pid in zip(clients, connection_workers, strict=True)
        }
        assert sorted(leading[pid] for pid in workers) == [False, True]

        revoke(two_workers, serial)
        for client in clients:
            refused = client.get("/api/v1/self")
            assert refused.status_code == 403
            assert refused.json()["code"] == "certificate_revoked"
    finally:
        for client in clients:
            client.close()


def test_public_base_url_names_crl(tmp_path: Path) -> None:
    init_server(tmp_path / "data", tmp_path)
    server = start_server(
        tmp_path / "data",
        tmp_path / "server.log",
        options=["--public-base-url", "https://ca.example.test:8443"],
    )
    try:
        _key, certificate, _serial = enrol(server, tmp_path, "behind-balancer.example.test")
    finally:
        stop_server(server)
    issued = x509.load_pem_x509_certificate(certificate.read_bytes())
    points = issued.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    urls = [name.value for point in points for name in point.full_name or []]
    assert urls == ["https://ca.example.test:8443/api/v1/crl"]


def test_public_base_url_with_path_rejected(tmp_path: Path) -> None:
    result = subprocess.run(
        [HOSTCA, "server", "run", "--data-dir", str(tmp_path / "data"),
         "--public-base-url", "https://ca.example.test/hostca"],
        capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "hostca: error: https://ca.example.test/hostca: invalid public-base-url (Value error, give "
        "https://HOST or https://HOST:PORT, with no path); correct --public-base-url or "
        "HOSTCA_PUBLIC_BASE_URL."
    ]
    assert not (tmp_path / "data").exists()
