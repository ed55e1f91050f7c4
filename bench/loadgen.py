"""An asyncio load generator for HTTP/1.1 over TLS with client certificates.

It uses only the standard library (``ssl`` and ``asyncio.open_connection``), so that
one core of client can drive a server that has one core of its own. A scenario
supplies the TLS context and the request bytes for each request, and may look at
each response, for example to present the certificate that a renewal returned.

Two modes: ``keepalive`` sends every request of a worker on one connection, and
``new`` opens a new connection (a full TLS handshake) for every request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal, Protocol

__all__ = ["LoadResult", "Scenario", "build_request", "run_load", "send_once"]

Mode = Literal["keepalive", "new"]

# A response header block larger than this is treated as an error, not read further.
MAX_HEADER_BYTES = 65536


class Scenario(Protocol):
    """Source of the TLS context and request bytes for each worker and request."""

    def tls_context(self, worker: int) -> ssl.SSLContext: ...

    def request(self, worker: int, index: int) -> bytes: ...

    def response(self, worker: int, status: int, body: bytes) -> None: ...


@dataclass
class LoadResult:
    """Counts and latencies of one bounded run."""

    mode: str
    concurrency: int
    requests: int
    elapsed_seconds: float
    latencies_ms: list[float] = field(repr=False)
    errors: dict[str, int]
    # Share of one core that the server process used during the run, where the
    # caller measured it. Near 1.0 the server is the bottleneck; well below 1.0
    # the generator or a lock is.
    server_cpu_share: float | None = None

    @property
    def ok(self) -> int:
        return len(self.latencies_ms)

    @property
    def requests_per_second(self) -> float:
        return self.ok / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0

    def percentile_ms(self, fraction: float) -> float | None:
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    def summary(self) -> dict[str, object]:
        return {
            "mode": self.mode,
            "concurrency": self.concurrency,
            "requests": self.requests,
            "ok": self.ok,
            "errors": self.errors,
            "elapsed_seconds": round(self.elapsed_seconds, 4),
            "requests_per_second": round(self.requests_per_second, 1),
            "p50_ms": _round(self.percentile_ms(0.50)),
            "p99_ms": _round(self.percentile_ms(0.99)),
            "mean_ms": _round(statistics.fmean(self.latencies_ms) if self.latencies_ms else None),
            "server_cpu_share": _round(self.server_cpu_share),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def build_request(
    method: str,
    path: str,
    *,
    host: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    keep_alive: bool = True,
) -> bytes:
    """Encode one HTTP/1.1 request; a body is sent as JSON with its Content-Length."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    if body:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + body


class ResponseError(Exception):
    """A response that cannot be read as HTTP/1.1 with a Content-Length."""


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Read one response and return its status and body."""
    head = await reader.readuntil(b"\r\n\r\n")
    if len(head) > MAX_HEADER_BYTES:
        raise ResponseError("header_too_large")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise ResponseError("bad_status_line")

    length: int | None = None
    for line in header_lines:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    if length is None:
        # Every route measured here responds with a Content-Length, so chunked bodies
        # are not parsed.
        raise ResponseError("no_content_length")
    return int(parts[1]), await reader.readexactly(length)


async def _open(
    host: str, port: int, context: ssl.SSLContext
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(host, port, ssl=context, server_hostname=host)


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    # The peer may already have closed its side; the connection is gone either way.
    with contextlib.suppress(OSError, ssl.SSLError):
        await writer.wait_closed()


def _error_kind(error: BaseException) -> str:
    if isinstance(error, ResponseError):
        return str(error)
    if isinstance(error, ssl.SSLError):
        return f"ssl:{error.reason or type(error).__name__}"
    if isinstance(error, asyncio.IncompleteReadError):
        return "connection_closed"
    if isinstance(error, TimeoutError):
        return "timeout"
    return type(error).__name__


async def run_load(
    scenario: Scenario,
    *,
    host: str,
    port: int,
    mode: Mode,
    concurrency: int,
    max_requests: int,
    max_seconds: float,
    request_timeout: float = 10.0,
) -> LoadResult:
    """Send up to ``max_requests`` requests for at most ``max_seconds`` and count them.

    A request counts as successful when the server returns a 2xx status. Other statuses and
    connection failures are counted by kind in ``errors``. After a failure on a
    keep-alive connection the worker opens a new one.
    """
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    issued = 0
    start = time.perf_counter()
    deadline = start + max_seconds

    def next_index() -> int | None:
        nonlocal issued
        if issued >= max_requests or time.perf_counter() >= deadline:
            return None
        issued += 1
        return issued - 1

    async def one(worker: int, index: int, streams: list[object]) -> None:
        sent = time.perf_counter()
        if not streams:
            streams.extend(await _open(host, port, scenario.tls_context(worker)))
        reader, writer = streams  # type: ignore[misc]
        writer.write(scenario.request(worker, index))  # type: ignore[attr-defined]
        status, body = await read_response(reader)  # type: ignore[arg-type]
        elapsed_ms = (time.perf_counter() - sent) * 1000
        scenario.response(worker, status, body)
        if 200 <= status < 300:
            latencies.append(elapsed_ms)
        else:
            errors[f"http_{status}"] += 1

    async def worker_loop(worker: int) -> None:
        streams: list[object] = []
        try:
            while (index := next_index()) is not None:
                try:
                    await asyncio.wait_for(one(worker, index, streams), request_timeout)
                except (
                    OSError,
                    ssl.SSLError,
                    ResponseError,
                    asyncio.IncompleteReadError,
                    TimeoutError,
                ) as error:
                    errors[_error_kind(error)] += 1
                    if streams:
                        await _close(streams[1])  # type: ignore[arg-type]
                    streams.clear()
                    continue
                if mode == "new":
                    await _close(streams[1])  # type: ignore[arg-type]
                    streams.clear()
        finally:
            if streams:
                await _close(streams[1])  # type: ignore[arg-type]

    await asyncio.gather(*(worker_loop(worker) for worker in range(concurrency)))
    elapsed = time.perf_counter() - start
    return LoadResult(
        mode=mode,
        concurrency=concurrency,
        requests=issued,
        elapsed_seconds=elapsed,
        latencies_ms=latencies,
        errors=dict(errors),
    )


async def send_once(
    host: str, port: int, context: ssl.SSLContext, request: bytes, timeout: float = 30.0
) -> tuple[int, bytes]:
    """Send one request on a new connection and return the status and body."""
    reader, writer = await asyncio.wait_for(_open(host, port, context), timeout)
    try:
        writer.write(request)
        return await asyncio.wait_for(read_response(reader), timeout)
    finally:
        await _close(writer)


def client_context(
    ca_file: str, cert_file: str | None = None, key_file: str | None = None
) -> ssl.SSLContext:
    """Return a TLS client context that trusts ``ca_file`` and may present a certificate."""
    context = ssl.create_default_context(cafile=ca_file)
    if cert_file is not None:
        context.load_cert_chain(cert_file, key_file)
    return context


if __name__ == "__main__":
    import argparse

    class _FixedRequest:
        def __init__(self, context: ssl.SSLContext, data: bytes) -> None:
            self.context = context
            self.data = data

        def tls_context(self, worker: int) -> ssl.SSLContext:
            return self.context

        def request(self, worker: int, index: int) -> bytes:
            return self.data

        def response(self, worker: int, status: int, body: bytes) -> None:
            pass

    parser = argparse.ArgumentParser(description="Send bounded HTTPS load to a loopback server.")
    parser.add_argument("url_path", help="path to request, such as /api/v1/self")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ca", required=True, help="CA certificate file (PEM) to trust")
    parser.add_argument("--cert", help="client certificate file (PEM)")
    parser.add_argument("--key", help="client private key file (PEM)")
    parser.add_argument("--mode", choices=["keepalive", "new"], default="keepalive")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--requests", type=int, default=10_000, help="maximum request count")
    parser.add_argument("--seconds", type=float, default=5.0, help="maximum duration in seconds")
    arguments = parser.parse_args()

    scenario = _FixedRequest(
        client_context(arguments.ca, arguments.cert, arguments.key),
        build_request(
            "GET", arguments.url_path, host="127.0.0.1", keep_alive=arguments.mode == "keepalive"
        ),
    )
    result = asyncio.run(
        run_load(
            scenario,
            host="127.0.0.1",
            port=arguments.port,
            mode=arguments.mode,
            concurrency=arguments.concurrency,
            max_requests=arguments.requests,
            max_seconds=arguments.seconds,
        )
    )
    print(json.dumps(result.summary(), indent=2))
