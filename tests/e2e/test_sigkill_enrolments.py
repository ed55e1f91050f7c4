"""SIGKILL the real server at random moments during 500 enrolments, and check what survived.

Parallel clients enrol hosts with a mix of single-use and over-subscribed multi-use
authorization tokens. In each round a random number of responses arrives, then the
``hostca server run`` process is killed with SIGKILL, with requests and transactions
in flight. After every restart the database and the answers the clients received
must agree:

- no serial number is duplicated;
- every certificate a client received is in the database, unchanged;
- every certificate row has its success audit event;
- no token issued more certificates than its ``max_uses``, and its ``uses`` count is
  the number of certificates issued with it;
- no host name got two certificates;
- ``hostca audit verify`` passes.

At the end every job has settled, and every over-subscribed token issued exactly
its ``max_uses`` certificates.

A request whose answer was lost in the kill has an unknown outcome. It is sent again,
with the same CSR and token, after the restart: it then either gets its certificate
(the first attempt did not commit) or is rejected because the name or the token was
already used (the first attempt committed).

The moments are random; ``HOSTCA_FAULT_SEED`` replays a run, and every failure names
its seed. Nothing here is timed.
"""

from __future__ import annotations

import json
import os
import queue
import random
import signal
import sqlite3
import subprocess
import threading
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import HOSTCA, PrimaryServer, init_server, start_server, stop_server

# The checks read the SQLite file of the data directory.
pytestmark = [pytest.mark.e2e, pytest.mark.sqlite_only]

ENROLMENTS = 500
CLIENTS = 4
KEYS = 8
# Every third job has a token of its own. The others share tokens of MULTI_USES uses
# among MULTI_SHARERS jobs, so some of them must be rejected as used up.
MULTI_USES = 5
MULTI_SHARERS = 7
# A round is killed after this many responses, or at its end once fewer jobs are left.
KILL_AFTER = (40, 130)
# Rejections that leave the token uses and the certificate count unchanged.
EXPECTED_REJECTIONS = {"token_used_up", "reissue_token_required"}


@dataclass
class Token:
    name: str
    max_uses: int
    value: str = ""


@dataclass
class Job:
    index: int
    name: str
    csr_pem: str
    token: Token
    # Outcomes of the attempts so far: "issued", an error code, or "unknown".
    attempts: list[str] = field(default_factory=list)
    received: dict[str, str] | None = None


@dataclass
class Run:
    seed: int
    jobs: list[Job]
    tokens: list[Token]
    received_serials: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)


def make_jobs(seed: int) -> tuple[list[Job], list[Token]]:
    """Build every CSR once, from a few keys, and plan which token each job uses."""
    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(KEYS)]
    jobs: list[Job] = []
    tokens: list[Token] = []
    shared: Token | None = None
    sharers = 0
    for index in range(ENROLMENTS):
        name = f"h{index:03d}-{seed % 10_000}.kill.example.test"
        if index % 3 == 0:
            token = Token(f"kill-single-{index}", 1)
            tokens.append(token)
        else:
            if shared is None or sharers == MULTI_SHARERS:
                shared = Token(f"kill-multi-{index}", MULTI_USES)
                tokens.append(shared)
                sharers = 0
            token = shared
            sharers += 1
        jobs.append(Job(index, name, csr_for(keys[index % KEYS], name), token))
    return jobs, tokens


def csr_for(key: ec.EllipticCurvePrivateKey, name: str) -> str:
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


class Round:
    """One server lifetime: parallel clients work through the pending jobs until the kill."""

    def __init__(self, server: PrimaryServer, run: Run, pending: deque[Job], kill_after: int):
        self.server = server
        self.run = run
        self.work: queue.Queue[Job] = queue.Queue()
        for job in pending:
            self.work.put(job)
        self.kill_after = kill_after
        self.answers = 0
        self.killed = threading.Event()
        self.condition = threading.Condition()
        self.retry: list[Job] = []

    def client_loop(self) -> None:
        with self.server.client() as client:
            while not self.killed.is_set():
                try:
                    job = self.work.get_nowait()
                except queue.Empty:
                    return
                self.attempt(client, job)

    def attempt(self, client: httpx.Client, job: Job) -> None:
        try:
            answer = client.post(
                "/api/v1/enroll", json={"csr": job.csr_pem, "token": job.token.value}
            )
        except httpx.ConnectError:
            # Rejected before anything was sent, so the job waits for the next round.
            with self.condition:
                self.retry.append(job)
            return
        except httpx.TransportError:
            # Sent or not, depending on the kill. The database shows which.
            with self.condition:
                job.attempts.append("unknown")
                self.retry.append(job)
            return
        with self.condition:
            self.record(job, answer)
            self.answers += 1
            self.condition.notify_all()

    def record(self, job: Job, answer: httpx.Response) -> None:
        if answer.status_code == 200:
            body = answer.json()
            job.attempts.append("issued")
            job.received = body
            self.run.received_serials.append(body["serial_number"])
            return
        is_problem = answer.headers.get("content-type") == "application/problem+json"
        code = answer.json().get("code") if is_problem else None
        job.attempts.append(str(code))
        if code not in EXPECTED_REJECTIONS:
            self.run.unexpected.append(f"{job.name}: {answer.status_code} {answer.text}")

    def run_until_killed(self, rng: random.Random) -> None:
        clients = [threading.Thread(target=self.client_loop) for _ in range(CLIENTS)]
        for thread in clients:
            thread.start()
        with self.condition:
            # The timeout only re-checks whether the clients ran out of jobs.
            while self.answers < self.kill_after and any(t.is_alive() for t in clients):
                self.condition.wait(timeout=0.5)
        # A random phase, so that the kill lands at different steps of a transaction.
        threading.Event().wait(rng.uniform(0, 0.01))
        self.server.process.send_signal(signal.SIGKILL)
        self.killed.set()
        self.server.process.wait()
        for thread in clients:
            thread.join()
        # Jobs never taken from the queue go to the next round unchanged.
        while not self.work.empty():
            self.retry.append(self.work.get_nowait())


def rows(database: Path, query: str) -> list[tuple[object, ...]]:
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        return connection.execute(query).fetchall()
    finally:
        connection.close()


def check_after_restart(server: PrimaryServer, run: Run, api_key: str) -> None:
    seed = f"(HOSTCA_FAULT_SEED={run.seed})"
    database = server.data_dir / "hostca.db"

    certificates = {
        str(serial): (str(pem), json.loads(str(names)))
        for serial, pem, names in rows(
            database, "SELECT serial_number, pem, names FROM certificates"
        )
    }
    duplicated = rows(
        database,
        "SELECT serial_number FROM certificates GROUP BY serial_number HAVING COUNT(*) > 1",
    )
    assert duplicated == [], seed
    assert len(run.received_serials) == len(set(run.received_serials)), seed

    # Every certificate a client received is stored as it was received.
    for job in run.jobs:
        if job.received is not None:
            stored = certificates.get(job.received["serial_number"])
            assert stored is not None, f"{job.name}: received but not stored {seed}"
            assert stored[0] == job.received["certificate"], f"{job.name} {seed}"

    # Every certificate row has its success event, and each serial was issued once.
    issued_events = rows(
        database,
        "SELECT target, details FROM audit_events WHERE category = 'CERT' "
        "AND outcome = 'success' AND action IN ('enroll', 'reissue', 'renew')",
    )
    audited = Counter(str(target) for target, _details in issued_events)
    assert set(certificates) <= set(audited), f"{set(certificates) - set(audited)} {seed}"
    assert set(audited) <= set(certificates), seed
    assert max(audited.values()) == 1, seed

    # No name has two certificates.
    per_name = Counter(name for _pem, names in certificates.values() for name in names)
    test_names = {job.name for job in run.jobs}
    assert [n for n, count in per_name.items() if n in test_names and count > 1] == [], seed

    # Tokens: never past max_uses, and uses match the certificates issued with them.
    issued_with = Counter(
        json.loads(str(details)).get("token")
        for _target, details in issued_events
        if json.loads(str(details)).get("token")
    )
    received_with = Counter(job.token.name for job in run.jobs if job.received is not None)
    token_rows = rows(database, "SELECT name, uses, max_uses FROM tokens WHERE name LIKE 'kill-%'")
    assert len(token_rows) == len(run.tokens), seed
    for name, uses, max_uses in token_rows:
        assert int(str(uses)) <= int(str(max_uses)), f"{name} {seed}"
        assert issued_with[name] == uses, f"{name}: {issued_with[name]} issued, uses {uses} {seed}"
        assert received_with[name] <= int(str(uses)), f"{name} {seed}"

    verify = subprocess.run(
        [HOSTCA, "audit", "verify", "--json"],
        env={
            **os.environ,
            "HOSTCA_SERVER": server.url,
            "HOSTCA_CA_FILE": str(server.ca_file),
            "HOSTCA_API_KEY": api_key,
        },
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert verify.returncode == 0, f"{verify.stdout}{verify.stderr} {seed}"
    assert json.loads(verify.stdout)["intact"] is True, seed


def create_tokens(server: PrimaryServer, tokens: list[Token]) -> str:
    """Create every planned token and an auditor API key; return the key."""
    for token in tokens:
        token.value = server.create_token(token.name, max_uses=token.max_uses)
    answer = server.admin(
        "POST", "/api/v1/apikeys", json={"name": "kill-auditor", "role": "auditor", "expires": "1d"}
    )
    assert answer.status_code == 201, answer.text
    value: str = answer.json()["value"]
    return value


def test_sigkill_during_enrolments(tmp_path: Path) -> None:
    seed = int(os.environ.get("HOSTCA_FAULT_SEED") or random.SystemRandom().randrange(2**32))
    rng = random.Random(seed)
    jobs, tokens = make_jobs(seed)
    run = Run(seed, jobs, tokens)
    data_dir = tmp_path / "data"
    init_server(data_dir, tmp_path)

    server = start_server(data_dir, tmp_path / "server-0.log")
    # The server of the current round is stopped also when a check fails.
    try:
        api_key = create_tokens(server, tokens)
        pending: deque[Job] = deque(jobs)
        rounds = 0
        while pending:
            current = Round(server, run, pending, rng.randint(*KILL_AFTER))
            current.run_until_killed(rng)
            pending = deque(current.retry)
            rounds += 1

            server = start_server(data_dir, tmp_path / f"server-{rounds}.log")
            check_after_restart(server, run, api_key)

        check_every_job_settled(server, run, rounds)
    finally:
        stop_server(server)


def check_every_job_settled(server: PrimaryServer, run: Run, rounds: int) -> None:
    """Check that each job ended in its certificate or a rejection, as the database records."""
    seed = f"(HOSTCA_FAULT_SEED={run.seed})"
    assert run.unexpected == [], f"{run.unexpected[:5]} {seed}"
    assert rounds >= 4, f"{rounds} rounds {seed}"
    stored = rows(server.data_dir / "hostca.db", "SELECT names FROM certificates")
    names_with_certificate = {name for (names,) in stored for name in json.loads(str(names))}

    for job in run.jobs:
        assert job.attempts and job.attempts[-1] != "unknown", f"{job} {seed}"
        if job.received is not None:
            assert job.name in names_with_certificate, f"{job} {seed}"
        elif "unknown" in job.attempts and job.name in names_with_certificate:
            # The killed attempt committed, so its retry was rejected.
            assert job.attempts[-1] in EXPECTED_REJECTIONS, f"{job} {seed}"
        else:
            assert job.attempts[-1] == "token_used_up", f"{job} {seed}"
            assert job.name not in names_with_certificate, f"{job} {seed}"

    # An over-subscribed token ends with all its uses taken, and no more.
    sharers = Counter(job.token.name for job in run.jobs)
    uses = dict(rows(server.data_dir / "hostca.db", "SELECT name, uses FROM tokens"))
    for token in run.tokens:
        assert uses[token.name] == min(token.max_uses, sharers[token.name]), f"{token} {seed}"
