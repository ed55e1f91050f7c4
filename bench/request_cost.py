"""Time enrolment, renewal and GET /self in one process, without TLS or a network.

Usage: ``taskset -c 0 python bench/request_cost.py [--count 500]``.

The load rows of BENCHMARKS.md give the rate of a whole server. This script splits
that cost. It times each operation as a call of the service function, and as a
request through the ASGI application, which runs FastAPI and hostca's layers. The
client certificate goes into the TLS scope, as the server's TLS protocol puts it
there. It also counts the SQL statements of one call. What the server spends beyond these,
compared with the bare ceiling app, is the TLS handshake and HTTP, which both pay.
It starts from a new data directory in a temporary directory and starts no server.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import structlog
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import event

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import run  # noqa: E402 - bench/run.py, importable once bench/ is on the path
from core_rate import make_csr  # noqa: E402

from hostca.datadir import DataDir  # noqa: E402
from hostca.service.context import Actor  # noqa: E402
from hostca.service.enrolment import EnrolRequest, enroll  # noqa: E402
from hostca.service.renewal import RenewRequest, renew  # noqa: E402
from hostca.service.server_setup import open_context  # noqa: E402
from hostca.service.token_service import CreateTokenRequest, create_token  # noqa: E402
from hostca.web.app import create_app  # noqa: E402
from hostca.web.self_cache import SelfResponseCache  # noqa: E402

ADMIN = Actor(name="admin", role="security-admin")


def der_of(certificate_pem: str) -> bytes:
    certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
    return certificate.public_bytes(serialization.Encoding.DER)


async def asgi_request(
    app: Any, method: str, path: str, body: bytes, peer_der: bytes | None
) -> tuple[int, bytes]:
    """Send one request to the ASGI app and return its status and body."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", run.HOST.encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": (run.HOST, 50000),
        "server": (run.HOST, 443),
        "extensions": {"tls": {"client_cert_der": peer_der}} if peer_der else {},
        "state": {},
    }
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    await app(scope, receive, send)
    return messages[0]["status"], b"".join(m.get("body", b"") for m in messages[1:])


def mean_microseconds(operation: Callable[[int], object], count: int) -> tuple[float, float]:
    """Return the mean wall time and CPU time (all threads of the process) of one call, in µs."""
    started, cpu_started = time.perf_counter(), time.process_time()
    for index in range(count):
        operation(index)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return wall / count * 1e6, cpu / count * 1e6


async def mean_microseconds_async(
    operation: Callable[[int], Awaitable[object]], count: int
) -> tuple[float, float]:
    """Return the mean wall time and CPU time of one awaited call, in µs."""
    started, cpu_started = time.perf_counter(), time.process_time()
    for index in range(count):
        await operation(index)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return wall / count * 1e6, cpu / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--count",
        type=run.positive_integer,
        default=500,
        help="calls per operation; the table gives their mean (default 500)",
    )
    arguments = parser.parse_args()
    count = arguments.count
    # The server logs each issuance; the cost of writing the line is left out here.
    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())

    with tempfile.TemporaryDirectory(prefix="hostca-bench-cost-") as directory:
        data_dir = run.init_data_dir(Path(directory))
        context = open_context(DataDir(data_dir), ca_passphrase=None, database_url=None)
        app = create_app(context)
        statements: list[str] = []
        event.listen(
            context.database.engine,
            "before_cursor_execute",
            lambda _c, _cu, statement, *_a: statements.append(statement),
        )
        token = create_token(
            context, ADMIN, CreateTokenRequest(name="cost", max_uses=99_999, valid_for="4h")
        ).value
        key = ec.generate_private_key(ec.SECP256R1())
        csrs = [
            make_csr(f"cost-{index}.bench.test", key).decode() for index in range(3 * count + 2)
        ]
        rows: list[tuple[str, tuple[float, float], int]] = []

        def enrol_call(index: int) -> Any:
            return enroll(
                context, EnrolRequest(csr_pem=csrs[index], token_value=token, source_ip=run.HOST)
            )

        statements.clear()
        issued = enrol_call(3 * count)
        enrol_statements = len(statements)
        rows.append(
            ("enrolment, service call", mean_microseconds(enrol_call, count), enrol_statements)
        )

        bodies = [
            json.dumps({"csr": csrs[count + index], "token": token}).encode()
            for index in range(count)
        ]
        loop = asyncio.new_event_loop()

        async def enrol_request(index: int) -> None:
            status, answer = await asgi_request(app, "POST", "/api/v1/enroll", bodies[index], None)
            if status != 200:
                raise RuntimeError(f"enrolment: HTTP {status}: {answer[:300]!r}")

        rows.append(
            (
                "enrolment, request through the ASGI app",
                loop.run_until_complete(mean_microseconds_async(enrol_request, count)),
                enrol_statements,
            )
        )

        peer = [der_of(issued.certificate_pem)]

        def renew_call(_index: int) -> None:
            renewed = renew(
                context, RenewRequest(peer_der=peer[0], csr_pem=None, source_ip=run.HOST)
            )
            peer[0] = der_of(renewed.certificate_pem)

        statements.clear()
        renew_call(0)
        renew_statements = len(statements)
        rows.append(
            ("renewal, service call", mean_microseconds(renew_call, count), renew_statements)
        )

        async def renew_request(_index: int) -> None:
            status, answer = await asgi_request(app, "POST", "/api/v1/renew", b"{}", peer[0])
            if status != 200:
                raise RuntimeError(f"renewal: HTTP {status}: {answer[:300]!r}")
            peer[0] = der_of(json.loads(answer)["certificate"])

        rows.append(
            (
                "renewal, request through the ASGI app",
                loop.run_until_complete(mean_microseconds_async(renew_request, count)),
                renew_statements,
            )
        )

        async def self_request(_index: int) -> None:
            status, _answer = await asgi_request(app, "GET", "/api/v1/self", b"", peer[0])
            if status != 200:
                raise RuntimeError(f"self: HTTP {status}")

        statements.clear()
        loop.run_until_complete(self_request(0))
        rows.append(
            (
                "GET /api/v1/self, cached response",
                loop.run_until_complete(mean_microseconds_async(self_request, count)),
                0,
            )
        )

        async def self_request_uncached(index: int) -> None:
            app.self_cache = SelfResponseCache()  # an empty cache, so the route runs
            await self_request(index)

        statements.clear()
        loop.run_until_complete(self_request_uncached(0))
        self_statements = len(statements)
        rows.append(
            (
                "GET /api/v1/self, through the route",
                loop.run_until_complete(mean_microseconds_async(self_request_uncached, count)),
                self_statements,
            )
        )
        loop.close()
        context.database.dispose()

    source = run.measured_source()
    print(
        f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, commit {source['commit'][:12]}"
        f"{' with uncommitted changes' if source['changed_files'] else ''}, "
        f"mean of {count} calls per operation"
    )
    # The wall time also counts waits, such as a route's hand-off to a worker thread
    # and back. The CPU time is what a loaded server spends on the call.
    print("| operation | wall time per call | CPU time per call | SQL statements per call |")
    print("|---|---|---|---|")
    for label, (wall, cpu), statement_count in rows:
        print(f"| {label} | {wall:,.0f} µs | {cpu:,.0f} µs | {statement_count} |")


if __name__ == "__main__":
    main()
