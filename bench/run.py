"""Run hostca's benchmark suite and write bench/results/*.json and BENCHMARKS.md.

Usage: ``python bench/run.py [PART ...] [--runs N]`` with parts ``self``, ``enroll``,
``renew``, ``startup``, ``core``, ``cfssl``, ``crl``, ``search`` and ``stale`` (all of
them by default). The ``cfssl`` part compares enrolment with ``cfssl serve`` from Debian's
``golang-cfssl`` package, which it installs with apt-get when it runs as root. The
``crl``, ``search`` and ``stale`` parts run ``bench/crl_scale.py``,
``bench/host_search.py`` and ``bench/stale_revocation.py``.

The script starts a fresh hostca server and the bare ceiling app from
``bench/ceiling_app.py`` in a temporary directory, both pinned to core 0 with
``taskset``, and drives them from core 1, where it re-executes itself under
``taskset``. Each run is bounded by a request count and a duration, and all traffic
goes to 127.0.0.1. Every process started here is stopped by its PID on the way out,
also after an error.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPOSITORY = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

from core_rate import make_csr  # noqa: E402 - bench/ is on the path only after the line above
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from loadgen import LoadResult, build_request, client_context, run_load, send_once  # noqa: E402

# Hand-written findings (profiles of missed targets), appended to BENCHMARKS.md.
OBSERVATIONS = BENCH_DIR / "observations.md"

PARTS = ("self", "enroll", "renew", "startup", "core", "cfssl", "crl", "search", "stale")
# Parts with a script of their own, which starts its own processes.
SCRIPT_PARTS = {"crl": "crl_scale.py", "search": "host_search.py", "stale": "stale_revocation.py"}
SERVER_CORE = "0"
CLIENT_CORE = "1"
HOST = "127.0.0.1"
ADMIN_PASSWORD = "bench-admin-password-not-secret"  # noqa: S105 - a throw-away server on loopback
HOSTCA = str(Path(sys.executable).with_name("hostca"))


@dataclass(frozen=True)
class Bounds:
    """Limits of one measured run and of the warm-up before it."""

    concurrency: int
    max_requests: int
    max_seconds: float
    warmup_requests: int


FULL_BOUNDS = {
    "cfssl": Bounds(concurrency=16, max_requests=6_000, max_seconds=5.0, warmup_requests=100),
    "self": Bounds(concurrency=32, max_requests=100_000, max_seconds=5.0, warmup_requests=2_000),
    "enroll": Bounds(concurrency=16, max_requests=6_000, max_seconds=5.0, warmup_requests=100),
    "renew": Bounds(concurrency=16, max_requests=6_000, max_seconds=5.0, warmup_requests=100),
}
SMOKE_BOUNDS = {
    part: Bounds(concurrency=2, max_requests=4, max_seconds=5.0, warmup_requests=2)
    for part in FULL_BOUNDS
}

TARGETS = {
    "self": (
        "keep-alive authenticated GET /api/v1/self",
        "bare app that reads the peer certificate",
        0.70,
    ),
    "enroll": (
        "enrolment: new TLS connection, token, CSR, sign, store, audit",
        "bare app that signs a CSR",
        0.80,
    ),
    "renew": (
        "renewal over mutual TLS, new connection per request",
        "bare app that signs for the peer key",
        0.80,
    ),
    "cfssl": (
        "enrolment, as above, against a peer CA",
        "`cfssl serve` sign API over TLS (Debian golang-cfssl)",
        2.0,
    ),
    "core": (
        "in-process issuance from a CSR, hostca core profile",
        "the same leaf built with raw cryptography",
        0.85,
    ),
}
STARTUP_LIMITS_MS = {"hostca --help": 150.0, "hostca agent status": 250.0}

NOT_MEASURED = [
    (
        "CRL with 10,000 / 100,000 / 1,000,000 revoked entries, time and peak memory",
        "≤ 1.3 times the bare builder",
    ),
    ("host search with 1,000,000 hosts, p95", "≤ 50 ms"),
]


# --- processes -----------------------------------------------------------------------


def machine_idle_share(seconds: float = 1.0) -> float:
    """Return the share of all cores' time that was idle over ``seconds``, from /proc/stat."""

    def sample() -> tuple[int, int]:
        values = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        # Fields idle and iowait of the aggregate "cpu" line, proc(5).
        return values[3] + values[4], sum(values)

    idle_before, total_before = sample()
    time.sleep(seconds)
    idle_after, total_after = sample()
    return (idle_after - idle_before) / max(1, total_after - total_before)


def pin_to_client_core() -> None:
    """Re-execute this script under ``taskset -c 1`` unless it already runs on core 1 alone."""
    if os.sched_getaffinity(0) == {int(CLIENT_CORE)}:
        return
    if os.cpu_count() is None or os.cpu_count() < 2:  # type: ignore[operator]
        sys.exit("bench/run.py needs two cores: one for the server, one for the load generator.")
    taskset = shutil.which("taskset")
    if taskset is None:
        sys.exit("taskset not found; install util-linux to pin the server and the generator.")

    os.execv(taskset, [taskset, "-c", CLIENT_CORE, sys.executable, *sys.argv])  # noqa: S606


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@contextmanager
def pinned_process(command: list[str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``command`` on the server core and stop it by its PID when the block ends."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            ["taskset", "-c", SERVER_CORE, *command], stdout=log, stderr=subprocess.STDOUT
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def wait_until_ready(port: int, ca_file: Path, path: str, process: subprocess.Popen[bytes]) -> None:
    context = client_context(str(ca_file))
    request = build_request("GET", path, host=HOST, keep_alive=False)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"server exited with status {process.returncode} before it responded"
            )
        try:
            asyncio.run(send_once(HOST, port, context, request, timeout=2))
            return
        except (OSError, ssl.SSLError, TimeoutError):
            time.sleep(0.1)
    raise RuntimeError(f"no response from {HOST}:{port}{path} within 30 s")


# --- the hostca side ------------------------------------------------------------------


@dataclass
class Bench:
    """The temporary directory, data directory and ports of one suite run."""

    tmp: Path
    data_dir: Path
    hostca_port: int
    ceiling_port: int
    cfssl_port: int = 0
    session: str = ""
    # The process ID that serves each port, to read its CPU time.
    server_pids: dict[int, int] = field(default_factory=dict)
    # With --profile: py-spy's path and the directory for hostca's profiles.
    py_spy: str | None = None
    profile_dir: Path | None = None
    profiles: int = 0

    @property
    def ca_file(self) -> Path:
        return self.data_dir / "ca" / "ca.cert.pem"

    def call(
        self, method: str, path: str, body: dict[str, Any] | None = None, **tls: str
    ) -> dict[str, Any]:
        """Send one JSON request to hostca and return the decoded JSON body; raise on a non-2xx status."""
        headers = {"Authorization": f"Bearer {self.session}"} if self.session else {}
        data = json.dumps(body).encode() if body is not None else b""
        request = build_request(
            method, path, host=HOST, body=data, headers=headers, keep_alive=False
        )
        context = client_context(str(self.ca_file), tls.get("cert"), tls.get("key"))
        status, answer = asyncio.run(send_once(HOST, self.hostca_port, context, request))
        if not 200 <= status < 300:
            raise RuntimeError(f"{method} {path}: HTTP {status}: {answer.decode(errors='replace')}")
        result: dict[str, Any] = json.loads(answer)
        return result

    def create_token(self, name: str, max_uses: int) -> str:
        answer = self.call(
            "POST", "/api/v1/tokens", {"name": name, "max_uses": max_uses, "valid_for": "4h"}
        )
        return str(answer["value"])


def init_data_dir(tmp: Path) -> Path:
    data_dir = tmp / "data"
    password_file = tmp / "admin-password"
    password_file.write_text(ADMIN_PASSWORD + "\n")
    subprocess.run(
        [
            HOSTCA,
            "server",
            "init",
            "--data-dir",
            str(data_dir),
            "--name",
            "localhost",
            "--alt-name",
            HOST,
            "--admin-password-file",
            str(password_file),
        ],
        check=True,
        capture_output=True,
    )
    return data_dir


# --- scenarios ------------------------------------------------------------------------


class FixedScenario:
    """The same request with the same TLS context, for keep-alive GET /self."""

    def __init__(self, context: ssl.SSLContext, request: bytes) -> None:
        self.context = context
        self.data = request

    def tls_context(self, worker: int) -> ssl.SSLContext:
        return self.context

    def request(self, worker: int, index: int) -> bytes:
        return self.data

    def response(self, worker: int, status: int, body: bytes) -> None:
        pass


class EnrolScenario:
    """One prepared CSR with a new name per request, sent without a client certificate.

    The warm-up and the measured run share one list, because hostca rejects a second
    enrolment for a name with 409 (a reissue token is needed).
    """

    def __init__(self, context: ssl.SSLContext, path: str, bodies: list[bytes]) -> None:
        self.context = context
        self.requests = [
            build_request("POST", path, host=HOST, body=body, keep_alive=False) for body in bodies
        ]
        self.sent = 0

    def tls_context(self, worker: int) -> ssl.SSLContext:
        return self.context

    def request(self, worker: int, index: int) -> bytes:
        self.sent += 1
        return self.requests[self.sent - 1]

    def response(self, worker: int, status: int, body: bytes) -> None:
        pass


class RenewScenario:
    """One host per worker, each presenting the certificate its last renewal returned.

    hostca renews only a host's newest certificate, so each worker replaces its
    certificate file after every successful answer.
    """

    def __init__(self, ca_file: Path, key_file: Path, cert_files: list[Path], path: str) -> None:
        self.ca_file = ca_file
        self.key_file = key_file
        self.cert_files = cert_files
        self.contexts = [
            client_context(str(ca_file), str(cert), str(key_file)) for cert in cert_files
        ]
        self.data = build_request("POST", path, host=HOST, body=b"{}", keep_alive=False)

    def tls_context(self, worker: int) -> ssl.SSLContext:
        return self.contexts[worker]

    def request(self, worker: int, index: int) -> bytes:
        return self.data

    def response(self, worker: int, status: int, body: bytes) -> None:
        if status != 200:
            return
        cert_file = self.cert_files[worker]
        cert_file.write_text(json.loads(body)["certificate"])
        # Loading the new certificate into the worker's context replaces the old one,
        # and is cheaper for the generator than building a new context.
        self.contexts[worker].load_cert_chain(str(cert_file), str(self.key_file))


def enrol_host(bench: Bench, name: str, key_file: Path, token: str) -> str:
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    csr = make_csr(name, key)  # type: ignore[arg-type]
    return str(
        bench.call("POST", "/api/v1/enroll", {"csr": csr.decode(), "token": token})["certificate"]
    )


def write_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return key


# --- parts ----------------------------------------------------------------------------


def process_cpu_seconds(pid: int) -> float:
    """Return the user and system CPU time of process ``pid`` and its threads, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # Fields 14 and 15 of proc(5), utime and stime, counted from the state field.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(bench: Bench, scenario: Any, port: int, mode: str, bounds: Bounds) -> LoadResult:
    """Warm up, then run and return one bounded load run with the server's CPU share."""

    def load(max_requests: int) -> LoadResult:
        return asyncio.run(
            run_load(
                scenario,
                host=HOST,
                port=port,
                mode=mode,  # type: ignore[arg-type]
                concurrency=bounds.concurrency,
                max_requests=max_requests,
                max_seconds=bounds.max_seconds,
            )
        )

    load(bounds.warmup_requests)
    pid = bench.server_pids[port]
    with ExitStack() as stack:
        if bench.py_spy and bench.profile_dir and port == bench.hostca_port:
            stack.enter_context(profiled(bench, pid))
        cpu_before = process_cpu_seconds(pid)
        result = load(bounds.max_requests)
    if result.elapsed_seconds > 0:
        result.server_cpu_share = (process_cpu_seconds(pid) - cpu_before) / result.elapsed_seconds
    check_run(result, port)
    return result


class RunFailedError(Exception):
    """A load run in which most requests failed, so that its figures mean nothing."""


def check_run(result: LoadResult, port: int) -> None:
    """Raise ``RunFailedError`` when at least half of the run's requests failed."""
    failed = sum(result.errors.values())
    if result.ok > failed:
        return
    kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(result.errors.items()))
    raise RunFailedError(
        f"port {port}: {failed:,} of {result.requests:,} requests failed ({kinds or 'none sent'}); "
        "the server may have stopped. No results were written for this part."
    )


@contextmanager
def profiled(bench: Bench, pid: int) -> Iterator[None]:
    """Sample the hostca server with py-spy while the block runs, and write its raw stacks.

    py-spy slows the server while it samples, so only the shares in the profile
    mean something, not the rates of a profiled run.
    """
    assert bench.py_spy and bench.profile_dir  # the caller checked
    bench.profiles += 1
    output = bench.profile_dir / f"hostca-{bench.profiles}.txt"
    sampler = subprocess.Popen(
        [bench.py_spy, "record", "-r", "200", "-f", "raw", "-o", str(output), "--pid", str(pid)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)  # time for py-spy to attach before the load starts (an estimate)
    try:
        yield
    finally:
        sampler.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        try:
            sampler.wait(timeout=30)
        except subprocess.TimeoutExpired:
            sampler.kill()
            sampler.wait()
        print(f"profile of hostca written to {output}", flush=True)


def part_self(bench: Bench, runs: int, bounds: Bounds) -> dict[str, Any]:
    key_file = bench.tmp / "self.key.pem"
    cert_file = bench.tmp / "self.cert.pem"
    write_key(key_file)
    token = bench.create_token("bench-self", 1)
    cert_file.write_text(enrol_host(bench, "self.bench.test", key_file, token))
    context = client_context(str(bench.ca_file), str(cert_file), str(key_file))

    hostca = FixedScenario(context, build_request("GET", "/api/v1/self", host=HOST))
    ceiling = FixedScenario(context, build_request("GET", "/self", host=HOST))
    pairs = [
        (
            measure(bench, hostca, bench.hostca_port, "keepalive", bounds),
            measure(bench, ceiling, bench.ceiling_port, "keepalive", bounds),
        )
        for _ in range(runs)
    ]
    return load_report("self", "keepalive", bounds, pairs)


def enrolment_pairs(
    bench: Bench, runs: int, bounds: Bounds, label: str, peer: tuple[int, str, str]
) -> list[tuple[LoadResult, LoadResult]]:
    """Measure hostca's enrolment against a peer that signs the same CSRs, ``runs`` times.

    ``peer`` is the peer's port, its signing path, and the JSON key it reads the CSR from.
    """
    peer_port, peer_path, csr_key = peer
    key = write_key(bench.tmp / f"{label}.key.pem")
    count = bounds.max_requests + bounds.warmup_requests
    pairs = []
    for run in range(runs):
        token = bench.create_token(f"bench-{label}-{run}", count)
        csrs = [
            make_csr(f"{label[0]}{run}-{index}.bench.test", key).decode() for index in range(count)
        ]
        context = client_context(str(bench.ca_file))
        hostca = EnrolScenario(
            context,
            "/api/v1/enroll",
            [json.dumps({"csr": csr, "token": token}).encode() for csr in csrs],
        )
        other = EnrolScenario(
            context, peer_path, [json.dumps({csr_key: csr}).encode() for csr in csrs]
        )
        pairs.append(
            (
                measure(bench, hostca, bench.hostca_port, "new", bounds),
                measure(bench, other, peer_port, "new", bounds),
            )
        )
    return pairs


def part_enroll(bench: Bench, runs: int, bounds: Bounds) -> dict[str, Any]:
    pairs = enrolment_pairs(bench, runs, bounds, "enroll", (bench.ceiling_port, "/sign", "csr"))
    return load_report("enroll", "new", bounds, pairs)


def part_cfssl(bench: Bench, runs: int, bounds: Bounds) -> dict[str, Any]:
    """Enrolment in hostca against signing the same CSRs with ``cfssl serve``, both over TLS."""
    peer = (bench.cfssl_port, "/api/v1/cfssl/sign", "certificate_request")
    pairs = enrolment_pairs(bench, runs, bounds, "cfssl", peer)
    return load_report("cfssl", "new", bounds, pairs)


def cfssl_command(bench: Bench) -> list[str]:
    """Return the ``cfssl serve`` command for the bench CA, installing cfssl if needed."""
    cfssl = shutil.which("cfssl")
    if cfssl is None and os.geteuid() == 0:
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "golang-cfssl"], check=True)
        cfssl = shutil.which("cfssl")
    if cfssl is None:
        sys.exit(
            "cfssl not found; install Debian's golang-cfssl package (apt-get install golang-cfssl)."
        )
    data = bench.data_dir
    return [
        cfssl,
        "serve",
        "-address",
        HOST,
        "-port",
        str(bench.cfssl_port),
        "-ca",
        str(data / "ca" / "ca.cert.pem"),
        "-ca-key",
        str(data / "ca" / "ca.key.pem"),
        "-tls-cert",
        str(data / "tls" / "server.cert.pem"),
        "-tls-key",
        str(data / "tls" / "server.key.pem"),
        "-loglevel",
        "5",
    ]


def part_renew(bench: Bench, runs: int, bounds: Bounds) -> dict[str, Any]:
    key_file = bench.tmp / "renew.key.pem"
    write_key(key_file)
    token = bench.create_token("bench-renew", bounds.concurrency)
    hostca_certs = []
    for worker in range(bounds.concurrency):
        path = bench.tmp / f"renew-{worker}.cert.pem"
        path.write_text(enrol_host(bench, f"renew-{worker}.bench.test", key_file, token))
        hostca_certs.append(path)
    ceiling_certs = []
    for worker, source in enumerate(hostca_certs):
        path = bench.tmp / f"renew-ceiling-{worker}.cert.pem"
        shutil.copyfile(source, path)
        ceiling_certs.append(path)

    hostca = RenewScenario(bench.ca_file, key_file, hostca_certs, "/api/v1/renew")
    ceiling = RenewScenario(bench.ca_file, key_file, ceiling_certs, "/sign")
    pairs = [
        (
            measure(bench, hostca, bench.hostca_port, "new", bounds),
            measure(bench, ceiling, bench.ceiling_port, "new", bounds),
        )
        for _ in range(runs)
    ]
    return load_report("renew", "new", bounds, pairs)


def part_startup(bench: Bench, runs: int) -> dict[str, Any]:
    state_dir = bench.tmp / "agent"
    token_file = bench.tmp / "agent-token"
    token_file.write_text(bench.create_token("bench-agent", 1) + "\n")
    fingerprint = ca_fingerprint(bench.ca_file)
    agent = [HOSTCA, "agent", "--state-dir", str(state_dir)]
    server = f"https://{HOST}:{bench.hostca_port}"
    subprocess.run(
        [*agent, "trust", "--server", server, "--fingerprint", fingerprint],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [*agent, "enroll", "--name", "agent.bench.test", "--token-file", str(token_file)],
        check=True,
        capture_output=True,
    )

    commands = {"hostca --help": [HOSTCA, "--help"], "hostca agent status": [*agent, "status"]}
    report: dict[str, Any] = {"part": "startup", "runs": runs, "commands": {}}
    for label, command in commands.items():
        subprocess.run(["taskset", "-c", SERVER_CORE, *command], check=True, capture_output=True)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run(
                ["taskset", "-c", SERVER_CORE, *command], check=True, capture_output=True
            )
            times.append((time.perf_counter() - start) * 1000)
        median = statistics.median(times)
        report["commands"][label] = {
            "command": " ".join(["taskset", "-c", SERVER_CORE, *command]).replace(
                str(bench.tmp), "$TMP"
            ),
            "median_ms": round(median, 1),
            "min_ms": round(min(times), 1),
            "max_ms": round(max(times), 1),
            "limit_ms": STARTUP_LIMITS_MS[label],
            "met": median <= STARTUP_LIMITS_MS[label],
        }
    return report


def ca_fingerprint(ca_file: Path) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    certificate = x509.load_pem_x509_certificate(ca_file.read_bytes())
    return certificate.fingerprint(hashes.SHA256()).hex(":").upper()


DJANGO_CA_VERSION = "3.2.0"
PEERS_DIR = REPOSITORY / ".bench-peers"
DJANGO_CA_TARGET = 1.5


def django_ca_python() -> Path:
    """Return the Python of the separate django-ca environment, creating it on first use."""
    venv = PEERS_DIR / "django-ca"
    python = venv / "bin" / "python"
    marker = venv / f"django-ca-{DJANGO_CA_VERSION}"
    if not marker.exists():
        print(f"installing django-ca {DJANGO_CA_VERSION} into {venv} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", f"django-ca=={DJANGO_CA_VERSION}"],
            check=True,
        )
        marker.touch()
    return python


def part_core(bench: Bench, runs: int, seconds: float) -> dict[str, Any]:
    command = [
        "taskset",
        "-c",
        SERVER_CORE,
        sys.executable,
        str(BENCH_DIR / "core_rate.py"),
        "--data-dir",
        str(bench.data_dir),
        "--seconds",
        str(seconds),
    ]
    django_command = [
        "taskset",
        "-c",
        SERVER_CORE,
        str(django_ca_python()),
        str(BENCH_DIR / "django_ca_rate.py"),
        "--seconds",
        str(seconds),
    ]
    samples = []
    for _ in range(runs):
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        peer = subprocess.run(django_command, check=True, capture_output=True, text=True).stdout
        samples.append({**json.loads(output), **json.loads(peer.splitlines()[-1])})
    hostca = [sample["hostca"]["per_second"] for sample in samples]
    raw = [sample["raw"]["per_second"] for sample in samples]
    sign = [sample["sign"]["per_second"] for sample in samples]
    django_ca = [sample["django_ca"]["per_second"] for sample in samples]
    ratio = statistics.median(hostca) / statistics.median(raw)
    django_ratio = statistics.median(hostca) / statistics.median(django_ca)
    return {
        "part": "core",
        "runs": runs,
        "seconds_per_loop": seconds,
        "hostca_per_second": spread(hostca),
        "ceiling_per_second": spread(raw),
        "ca_key_sign_per_second": spread(sign),
        "django_ca_per_second": spread(django_ca),
        "django_ca_version": DJANGO_CA_VERSION,
        "django_ca_ratio": round(django_ratio, 3),
        "django_ca_target": DJANGO_CA_TARGET,
        "django_ca_met": django_ratio >= DJANGO_CA_TARGET,
        "ratio": round(ratio, 3),
        "target": TARGETS["core"][2],
        "met": ratio >= TARGETS["core"][2],
        "samples": samples,
    }


def spread(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 1),
        "min": round(min(values), 1),
        "max": round(max(values), 1),
    }


def load_report(
    part: str, mode: str, bounds: Bounds, pairs: list[tuple[LoadResult, LoadResult]]
) -> dict[str, Any]:
    hostca = [pair[0].summary() for pair in pairs]
    ceiling = [pair[1].summary() for pair in pairs]

    def median_of(results: list[dict[str, Any]], key: str) -> float | None:
        values = [result[key] for result in results if result[key] is not None]
        return round(statistics.median(values), 3) if values else None

    hostca_rate = statistics.median(result["requests_per_second"] for result in hostca)
    ceiling_rate = statistics.median(result["requests_per_second"] for result in ceiling)
    ratio = hostca_rate / ceiling_rate if ceiling_rate else 0.0
    return {
        "part": part,
        "mode": mode,
        "runs": len(pairs),
        "bounds": bounds.__dict__,
        "hostca_per_second": spread([result["requests_per_second"] for result in hostca]),
        "ceiling_per_second": spread([result["requests_per_second"] for result in ceiling]),
        "hostca_p50_ms": median_of(hostca, "p50_ms"),
        "hostca_p99_ms": median_of(hostca, "p99_ms"),
        "ceiling_p50_ms": median_of(ceiling, "p50_ms"),
        "ceiling_p99_ms": median_of(ceiling, "p99_ms"),
        "hostca_server_cpu_share": median_of(hostca, "server_cpu_share"),
        "ceiling_server_cpu_share": median_of(ceiling, "server_cpu_share"),
        "hostca_errors": sum(sum(result["errors"].values()) for result in hostca),
        "ceiling_errors": sum(sum(result["errors"].values()) for result in ceiling),
        "ratio": round(ratio, 3),
        "target": TARGETS[part][2],
        "met": ratio >= TARGETS[part][2],
        "hostca_runs": hostca,
        "ceiling_runs": ceiling,
    }


# --- machine and output ---------------------------------------------------------------


def machine() -> dict[str, Any]:
    model = "unknown"
    for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
        if line.startswith("Model name:"):
            model = line.split(":", 1)[1].strip()
    from cryptography.hazmat.backends.openssl.backend import backend

    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "ssl_openssl": ssl.OPENSSL_VERSION,
        "cryptography_openssl": backend.openssl_version_text(),
        "server_core": int(SERVER_CORE),
        "client_core": int(CLIENT_CORE),
    }


def measured_source() -> dict[str, Any]:
    """Return where the measured hostca package comes from, and its git commit."""
    import hostca

    package_dir = Path(hostca.__file__).resolve().parent

    def git(*arguments: str) -> str:
        completed = subprocess.run(
            ["git", "-C", str(package_dir), *arguments], capture_output=True, text=True
        )
        return completed.stdout.strip() if completed.returncode == 0 else ""

    return {
        "package_dir": str(package_dir),
        # Empty when the package is not inside a git checkout, such as an export.
        "commit": git("rev-parse", "HEAD"),
        "changed_files": git("status", "--porcelain", "--", ".").splitlines(),
        # The benchmark scripts that ran, where they differ from that commit.
        "bench_changed_files": git("status", "--porcelain", "--", str(BENCH_DIR)).splitlines(),
    }


def write_results(results_dir: Path, report: dict[str, Any]) -> None:
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{report['part']}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")


def render_markdown(results_dir: Path) -> str:
    """Return BENCHMARKS.md built from the JSON results in ``results_dir``."""
    reports = {
        path.stem: json.loads(path.read_text()) for path in sorted(results_dir.glob("*.json"))
    }
    lines = [
        "# Benchmarks",
        "",
        "Generated by `bench/run.py` from `bench/results/*.json`; do not edit by hand.",
        "Each figure is the median of the runs, with the lowest and highest run in",
        "brackets. The server (hostca or the bare ceiling) runs on core 0 and the load",
        "generator on core 1, both pinned with `taskset`. All traffic goes to 127.0.0.1.",
        "",
        "## Against the bare ceiling",
        "",
        "| measure | hostca | ceiling | ratio | target | result "
        "| hostca p50 / p99 | ceiling p50 / p99 | server CPU, hostca / ceiling |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    commands = []
    for part in ("self", "enroll", "renew", "cfssl", "core"):
        report = reports.get(part)
        description, ceiling, target = TARGETS[part]
        if report is None:
            lines.append(
                f"| {description} | not measured yet | {ceiling} | | ≥ {target:.0%} | | | |"
            )
            continue
        latency_hostca = latency_ceiling = cpu_share = "-"
        if report.get("hostca_server_cpu_share") is not None:
            cpu_share = f"{report['hostca_server_cpu_share']:.0%} / {report['ceiling_server_cpu_share']:.0%}"
        if part != "core":
            latency_hostca = f"{report['hostca_p50_ms']:.1f} / {report['hostca_p99_ms']:.1f} ms"
            latency_ceiling = f"{report['ceiling_p50_ms']:.1f} / {report['ceiling_p99_ms']:.1f} ms"
        lines.append(
            f"| {description} | {format_spread(report['hostca_per_second'])} "
            f"| {ceiling}: {format_spread(report['ceiling_per_second'])} "
            f"| {report['ratio']:.0%} | ≥ {target:.0%} | {'met' if report['met'] else '**missed**'} "
            f"| {latency_hostca} | {latency_ceiling} | {cpu_share} |"
        )
        commands.append(
            f"- {part}: `{report['command']}`, {report['runs']} runs, {report['date']}, "
            f"machine idle {report.get('machine_idle_before', 0):.0%} in the second before, "
            f"load average {report['load_average'][0]} before and {report['load_average'][1]} after"
        )
    core = reports.get("core")
    if core is not None and core.get("django_ca_per_second"):
        lines.append(
            f"| in-process issuance, as above | {format_spread(core['hostca_per_second'])} "
            f"| django-ca {core['django_ca_version']} `CertificateAuthority.sign` (separate venv): "
            f"{format_spread(core['django_ca_per_second'])} | {core['django_ca_ratio']:.0%} "
            f"| ≥ {core['django_ca_target']:.0%} | {'met' if core['django_ca_met'] else '**missed**'} "
            "| - | - | - |"
        )
    if core is not None:
        commands.append(
            "- core: the CA key alone signs "
            f"{format_spread(core['ca_key_sign_per_second'])} (ECDSA P-256, SHA-256, 64 bytes). "
            "Both issuance loops include a CSR signature check and building the certificate, "
            "so they are compared with each other, not with this rate."
        )
    lines += ["", *commands, ""]

    startup = reports.get("startup")
    lines += [
        "## Start-up",
        "",
        "| command | median | range | limit | result | runs | measured |",
        "|---|---|---|---|---|---|---|",
    ]
    if startup is None:
        lines.append("| `hostca --help`, `hostca agent status` | not measured yet | | | | | |")
    else:
        for label, figures in startup["commands"].items():
            lines.append(
                f"| `{label}` | {figures['median_ms']} ms | {figures['min_ms']} to {figures['max_ms']} ms "
                f"| ≤ {figures['limit_ms']:.0f} ms | {'met' if figures['met'] else '**missed**'} "
                f"| {startup['runs']} | {startup['date']} |"
            )
        lines += [
            "",
            f"- startup: `{startup['command']}`, "
            f"machine idle {startup.get('machine_idle_before', 0):.0%} in the second before, load average "
            f"{startup['load_average'][0]} before and {startup['load_average'][1]} after",
        ]
    lines += [""]

    search = reports.get("host_search")
    if search is not None:
        lines += render_host_search(search)
    crl = reports.get("crl")
    if crl is not None:
        lines += render_crl(crl)
    stale = reports.get("stale")
    if stale is not None:
        lines += render_stale(stale)
    measured_prefixes = tuple(
        prefix
        for prefix, report in (("host search", search), ("CRL with", crl), ("stale", stale))
        if report is not None
    )
    not_measured = [
        (name, target) for name, target in NOT_MEASURED if not name.startswith(measured_prefixes)
    ]
    if not_measured:
        lines += ["## Not measured yet", "", "| measure | target |", "|---|---|"]
        lines += [f"| {measure_name} | {target} |" for measure_name, target in not_measured]
        lines += [""]

    any_report = next(iter(reports.values()), None)
    if any_report is not None:
        info = any_report["machine"]
        source = any_report.get("source", {})
        lines += [
            "## Machine",
            "",
            f"- CPU: {info['cpu_model']}, {info['cores']} cores",
            f"- Python {info['python']}; `ssl` module: {info['ssl_openssl']}; "
            f"cryptography's OpenSSL: {info['cryptography_openssl']}",
            f"- server on core {info['server_core']}, load generator on core {info['client_core']} (`taskset`)",
            f"- hostca measured: commit `{source.get('commit') or 'unknown'}` from "
            f"`{source.get('package_dir')}`, "
            f"{'with uncommitted changes' if source.get('changed_files') else 'without uncommitted changes'}",
            "",
        ]
    lines += NOTES
    if OBSERVATIONS.exists():
        lines += ["", OBSERVATIONS.read_text().rstrip()]
    return "\n".join(lines) + "\n"


HOST_SEARCH_PAGES = {
    "first_page": "console: first page of the host list",
    "name_prefix": "console: search by name prefix, first page",
    "next_pages": "console: next page of that search (keyset)",
    "host_id_prefix": "console: search by host ID prefix",
    "host": "console: host detail page",
    "dashboard": "console: dashboard (counts and expiry chart)",
    "api_list": "API: `GET /api/v1/hosts`, first 50 with the total",
    "api_search": "API: `GET /api/v1/hosts?search=`, substring of a name or ID, first 50 with the total",
}


def render_host_search(report: dict[str, Any]) -> list[str]:
    """Return the BENCHMARKS.md section of ``bench/host_search.py``."""
    service = report["service_search"]
    lines = [
        f"## Host search with {report['hosts']:,} hosts",
        "",
        "| measure | median | p95 | worst | loads | target | result |",
        "|---|---|---|---|---|---|---|",
        f"| service search (`find_hosts`, 50 a page), in-process | {service['median_ms']} ms "
        f"| {service['p95_ms']} ms | {service['worst_ms']} ms | {service['loads']} "
        f"| p95 ≤ {report['search_target_ms']:.0f} ms | {'met' if report['met'] else '**missed**'} |",
    ]
    for kind, label in HOST_SEARCH_PAGES.items():
        figures = report["console_pages"].get(kind)
        if figures is None:
            continue  # a report from before this kind was measured
        lines.append(
            f"| {label}, over HTTPS | {figures['median_ms']} ms | {figures['p95_ms']} ms "
            f"| {figures['worst_ms']} ms | {figures['loads']} | | |"
        )
    lines += [
        "",
        f"- `{report['command']}`, {report['date']}, load average {report['load_average'][0]} "
        f"before and {report['load_average'][1]} after; generating the hosts took "
        f"{report['generation_seconds']} s. Page loads are timed at the client on core 1, "
        "with a keep-alive connection and a console session, and include rendering.",
        "",
    ]
    return lines


def render_stale(report: dict[str, Any]) -> list[str]:
    """Return the BENCHMARKS.md section of ``bench/stale_revocation.py``."""
    return [
        f"## Stale answers after revocation, {report['workers']} workers",
        "",
        "| hosts revoked under load | answers | refused after revocation | stale answers "
        "| target | result |",
        "|---|---|---|---|---|---|",
        f"| {report['hosts']} | {report['answers']:,} | {report['refused_after_revocation']:,} "
        f"| {report['stale_answers']} | 0 | {'met' if report['met'] else '**missed**'} |",
        "",
        f"- `{report['command']}`, {report['date']}, load average {report['load_average'][0]} "
        f"before and {report['load_average'][1]} after. Each host keeps "
        "four keep-alive connections busy with `GET /api/v1/self` while the hosts are revoked "
        "one at a time; a stale answer is a 200 to a request sent after the revocation "
        "request returned. The kernel spreads the connections over the workers.",
        "",
    ]


def render_crl(report: dict[str, Any]) -> list[str]:
    """Return the BENCHMARKS.md section of ``bench/crl_scale.py``."""
    lines = [
        "## CRL generation",
        "",
        "| revoked entries | hostca `publish_crl` | bare builder | time ratio "
        "| memory growth, hostca / bare | memory ratio | peak RSS, hostca / bare | target | result |",
        "|---|---|---|---|---|---|---|---|---|",
    ]

    def milliseconds(figures: dict[str, float]) -> str:
        return f"{figures['median']:,} ms ({figures['min']:,} to {figures['max']:,})"

    for size in report["sizes"]:
        lines.append(
            f"| {size['entries']:,} | {milliseconds(size['hostca_milliseconds'])} "
            f"| {milliseconds(size['bare_milliseconds'])} | {size['time_ratio']:.2f} "
            f"| {size['hostca_growth_mb']['median']} / {size['bare_growth_mb']['median']} MB "
            f"| {size['memory_ratio']:.2f} "
            f"| {size['hostca_peak_rss_mb']['median']} / {size['bare_peak_rss_mb']['median']} MB "
            f"| ≤ {report['target_ratio']} times | {'met' if size['met'] else '**missed**'} |"
        )
    lines += [
        "",
        f"- `{report['command']}`, {report['runs']} runs per size, {report['date']}, load average "
        f"{report['load_average'][0]} before and {report['load_average'][1]} after. hostca's time "
        "covers reading the revoked certificates from SQLite, building, signing, DER encoding "
        "and storing the CRL; the bare builder gets the same entries from memory. Memory "
        "growth is the step's peak resident memory above what the process used when the "
        "step started.",
        "",
    ]
    return lines


NOTES = [
    "## What each row measures",
    "",
    "- **self**: 32 keep-alive connections with one host's client certificate send",
    "  `GET /api/v1/self`. The ceiling app reads the peer certificate from the TLS",
    "  scope and responds with its size. Nothing is written meanwhile, so hostca",
    "  sends its cached response after the first poll (see `GET /api/v1/self` under",
    '  "What bounds the missed targets"); any commit would empty that cache.',
    "- **enroll**: 16 workers, each request on a new TLS connection without a client",
    "  certificate (a new host has none), posting a new P-256 CSR with a new name and",
    "  an authorization token. The ceiling app loads the CSR, checks its signature and",
    "  signs a leaf with three extensions.",
    "- **renew**: 16 hosts, each request on a new mutual TLS connection with the",
    "  host's newest certificate, posting `{}`. The ceiling app signs a leaf for the",
    "  peer certificate's key.",
    "- **core**: one process on core 0 runs hostca's `load_csr` and",
    "  `build_host_certificate` and PEM encoding, against the same eight-extension",
    "  leaf built with `cryptography` alone. The bare CA key sign rate is in",
    "  `bench/results/core.json` as `ca_key_sign_per_second`.",
    "",
    "Neither client resumes TLS sessions, so every new connection is a full handshake.",
    "Server CPU is the share of core 0 that the server process used during the measured",
    "runs (median), read from /proc. Well below 100% for the ceiling means the generator",
    "on core 1 was the bottleneck, so the true ceiling is higher and the ratio lower.",
    "The load average is the 1-minute figure of the machine. It also counts the",
    "suite's own server, its worker threads and the generator, so values of 2 to 6",
    'are expected during a load part. "Machine idle" is the idle share of both cores in',
    "the second before a part, while the suite's servers wait: below about 95% means",
    "other work was running, and the figures of that part are suspect.",
    "",
]


def format_spread(values: dict[str, float]) -> str:
    return f"{values['median']:,.0f}/s ({values['min']:,.0f} to {values['max']:,.0f})"


# --- main -----------------------------------------------------------------------------


def positive_integer(text: str) -> int:
    """Parse a command-line count that must be 1 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text}: not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: must be 1 or more")
    return value


def main() -> None:
    try:
        run_suite()
    except KeyboardInterrupt:
        print(
            "interrupted: the part in progress wrote no results; the servers it started "
            "are stopped",
            file=sys.stderr,
        )
        sys.exit(130)
    except RunFailedError as error:
        print(f"benchmark run failed: {error}", file=sys.stderr)
        sys.exit(1)


def run_suite() -> None:
    parser = argparse.ArgumentParser(description="Run hostca's benchmarks on loopback.")
    parser.add_argument(
        "parts",
        nargs="*",
        metavar="PART",
        help=f"parts to run, from {', '.join(PARTS)}; all by default",
    )
    parser.add_argument(
        "--runs",
        type=positive_integer,
        default=5,
        help="runs per part; the median is reported (default 5)",
    )
    parser.add_argument(
        "--results-dir",
        type=Path,
        help="directory for the JSON results (default bench/results, or a new temporary "
        "directory with --smoke)",
    )
    parser.add_argument(
        "--markdown",
        type=Path,
        help="file to regenerate from the results (default BENCHMARKS.md, or a file in the "
        "results directory with --smoke)",
    )
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="only regenerate the Markdown file from the JSON results; run nothing",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="one tiny run per part, to check that the suite works; figures mean nothing, so "
        "they go to a temporary directory unless --results-dir and --markdown are given",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="sample the hostca server with py-spy during each measured load run and write "
        "raw stacks to DIR; the figures of such a run are slowed by the sampler",
    )
    parser.add_argument(
        "--py-spy",
        default=shutil.which("py-spy"),
        help="the py-spy program for --profile (default: py-spy on PATH)",
    )
    arguments = parser.parse_args()
    if arguments.results_dir is None:
        arguments.results_dir = (
            Path(tempfile.mkdtemp(prefix="hostca-bench-smoke-"))
            if arguments.smoke
            else BENCH_DIR / "results"
        )
    if arguments.markdown is None:
        arguments.markdown = (
            arguments.results_dir / "BENCHMARKS.md"
            if arguments.smoke
            else REPOSITORY / "BENCHMARKS.md"
        )
    if arguments.results_dir.exists() and not arguments.results_dir.is_dir():
        parser.error(f"--results-dir {arguments.results_dir}: exists and is not a directory")
    if arguments.markdown.is_dir():
        parser.error(f"--markdown {arguments.markdown}: is a directory; give a file name")
    if arguments.profile and not arguments.py_spy:
        parser.error(
            "--profile needs py-spy: install it (pip install py-spy) or pass --py-spy PATH"
        )
    parts = arguments.parts or list(PARTS)
    unknown = [part for part in parts if part not in PARTS]
    if unknown:
        parser.error(f"{', '.join(unknown)}: unknown part; choose from {', '.join(PARTS)}")
    if arguments.render_only:
        arguments.markdown.write_text(render_markdown(arguments.results_dir))
        return
    runs = 1 if arguments.smoke else arguments.runs
    bounds = SMOKE_BOUNDS if arguments.smoke else FULL_BOUNDS

    pin_to_client_core()
    print(
        f"server and ceiling pinned to core {SERVER_CORE}, load generator on core {CLIENT_CORE} (taskset)"
    )
    started = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    info = machine()
    source = measured_source()

    for part in [part for part in parts if part in SCRIPT_PARTS]:
        print(f"{part}: bench/{SCRIPT_PARTS[part]} ...", flush=True)
        options = ["--smoke"] if arguments.smoke else []
        if part == "crl" and not arguments.smoke:
            options += ["--runs", str(runs)]
        subprocess.run(
            [
                sys.executable,
                str(BENCH_DIR / SCRIPT_PARTS[part]),
                *options,
                "--results-dir",
                str(arguments.results_dir),
                "--markdown",
                str(arguments.markdown),
            ],
            check=True,
        )
    parts = [part for part in parts if part not in SCRIPT_PARTS]
    if not parts:
        return

    with tempfile.TemporaryDirectory(prefix="hostca-bench-") as tmp_name:
        tmp = Path(tmp_name)
        data_dir = init_data_dir(tmp)
        bench = Bench(
            tmp=tmp,
            data_dir=data_dir,
            hostca_port=free_port(),
            ceiling_port=free_port(),
            cfssl_port=free_port(),
            py_spy=arguments.py_spy if arguments.profile else None,
            profile_dir=arguments.profile,
        )
        if arguments.profile:
            arguments.profile.mkdir(parents=True, exist_ok=True)
        hostca_command = [
            HOSTCA,
            "server",
            "run",
            "--data-dir",
            str(data_dir),
            "--listen",
            f"{HOST}:{bench.hostca_port}",
        ]
        ceiling_command = [
            sys.executable,
            str(BENCH_DIR / "ceiling_app.py"),
            "--data-dir",
            str(data_dir),
            "--listen",
            f"{HOST}:{bench.ceiling_port}",
        ]
        with ExitStack() as processes:
            hostca = processes.enter_context(pinned_process(hostca_command, tmp / "hostca.log"))
            ceiling = processes.enter_context(pinned_process(ceiling_command, tmp / "ceiling.log"))
            wait_until_ready(bench.hostca_port, bench.ca_file, "/healthz", hostca)
            wait_until_ready(bench.ceiling_port, bench.ca_file, "/none", ceiling)
            bench.server_pids = {bench.hostca_port: hostca.pid, bench.ceiling_port: ceiling.pid}
            # cfssl runs only for its own part, so the other parts do not need it installed.
            if "cfssl" in parts:
                peer = processes.enter_context(
                    pinned_process(cfssl_command(bench), tmp / "cfssl.log")
                )
                wait_until_ready(bench.cfssl_port, bench.ca_file, "/api/v1/cfssl/info", peer)
                bench.server_pids[bench.cfssl_port] = peer.pid
            bench.session = bench.call(
                "POST", "/api/v1/login", {"user": "admin", "password": ADMIN_PASSWORD}
            )["session"]

            for part in parts:
                print(f"{part}: {runs} run(s) ...", flush=True)
                load_before = os.getloadavg()[0]
                # The servers are idle here, so anything below 100% is other work.
                idle_before = machine_idle_share()
                if part == "startup":
                    report = part_startup(bench, max(runs, 10) if not arguments.smoke else 1)
                elif part == "core":
                    report = part_core(bench, runs, 0.2 if arguments.smoke else 2.0)
                else:
                    runner = {
                        "self": part_self,
                        "enroll": part_enroll,
                        "renew": part_renew,
                        "cfssl": part_cfssl,
                    }[part]
                    report = runner(bench, runs, bounds[part])
                report.update(
                    machine=info,
                    source=source,
                    date=started,
                    command=f"python bench/run.py {part} --runs {runs}"
                    + (" --smoke" if arguments.smoke else "")
                    + (f" --profile {arguments.profile}" if arguments.profile else ""),
                    # Other work on the machine skews every figure. The 1-minute load
                    # average hints at it, but also counts this suite's own processes.
                    load_average=[round(load_before, 2), round(os.getloadavg()[0], 2)],
                    machine_idle_before=round(idle_before, 3),
                )
                write_results(arguments.results_dir, report)
                print(
                    json.dumps(
                        {
                            key: value
                            for key, value in report.items()
                            if not key.endswith("_runs") and key not in ("samples", "machine")
                        }
                    )
                )

    arguments.markdown.write_text(render_markdown(arguments.results_dir))
    print(f"wrote {arguments.results_dir} and {arguments.markdown}")


if __name__ == "__main__":
    main()
