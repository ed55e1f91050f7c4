"""Count stale answers after revocations, with several server workers under load.

Usage: ``python bench/stale_revocation.py [--workers 2] [--hosts 16] [--smoke]``.

The script starts ``hostca server run --workers N`` on core 0, enrols H hosts,
and from core 1 keeps one keep-alive connection per host per worker slot busy
with ``GET /api/v1/self``. While that load runs, it revokes the hosts one at a
time through the administration API. A stale answer is a 200 to a request that
was sent after the revocation request returned, for the revoked certificate:
whichever worker answers must already refuse it. The script writes
``bench/results/stale.json`` and regenerates BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import ssl
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import run  # noqa: E402 - bench/run.py, importable once bench/ is on the path
from loadgen import build_request, client_context, read_response  # noqa: E402

CONNECTIONS_PER_HOST = 4
SETTLE_SECONDS = 0.5


@dataclass
class HostLoad:
    """One enrolled host: its TLS context, and the answers its connections got."""

    name: str
    context: ssl.SSLContext
    revoked_at: float | None = None
    stale: int = 0
    refused_after: int = 0
    answers: int = 0
    errors: dict[str, int] = field(default_factory=dict)


async def keep_asking(port: int, host: HostLoad, stop: asyncio.Event) -> None:
    request = build_request("GET", "/api/v1/self", host=run.HOST)
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection(run.HOST, port, ssl=host.context)
        except (OSError, ssl.SSLError) as error:
            host.errors[type(error).__name__] = host.errors.get(type(error).__name__, 0) + 1
            await asyncio.sleep(0.01)
            continue
        try:
            while not stop.is_set():
                sent = time.monotonic()
                writer.write(request)
                status, _body = await read_response(reader)
                host.answers += 1
                if host.revoked_at is not None and sent > host.revoked_at:
                    if status == 200:
                        host.stale += 1
                    else:
                        host.refused_after += 1
        except (OSError, ssl.SSLError, asyncio.IncompleteReadError) as error:
            host.errors[type(error).__name__] = host.errors.get(type(error).__name__, 0) + 1
        finally:
            writer.close()


async def revoke_all(bench: run.Bench, hosts: list[HostLoad], warmup: float) -> None:
    await asyncio.sleep(warmup)
    for host in hosts:
        # bench.call blocks; run it in a thread so the load keeps going meanwhile.
        await asyncio.to_thread(
            bench.call,
            "POST",
            "/api/v1/certificates/revoke",
            {"host": host.name, "reason_code": "key-compromise"},
        )
        host.revoked_at = time.monotonic()
        await asyncio.sleep(SETTLE_SECONDS)


async def drive(bench: run.Bench, hosts: list[HostLoad], warmup: float) -> None:
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(keep_asking(bench.hostca_port, host, stop))
        for host in hosts
        for _ in range(CONNECTIONS_PER_HOST)
    ]
    await revoke_all(bench, hosts, warmup)
    stop.set()
    await asyncio.wait(tasks, timeout=10)
    for task in tasks:
        task.cancel()


def enrol_hosts(bench: run.Bench, count: int) -> list[HostLoad]:
    key_file = bench.tmp / "stale.key.pem"
    run.write_key(key_file)
    token = bench.create_token("bench-stale", count)
    hosts = []
    for index in range(count):
        name = f"stale-{index}.bench.test"
        cert_file = bench.tmp / f"{name}.cert.pem"
        cert_file.write_text(run.enrol_host(bench, name, key_file, token))
        context = client_context(str(bench.ca_file), str(cert_file), str(key_file))
        hosts.append(HostLoad(name, context))
    return hosts


def main() -> None:
    parser = argparse.ArgumentParser(description="Count stale answers after revocations.")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--hosts", type=int, default=16, help="hosts to enrol and revoke")
    parser.add_argument("--smoke", action="store_true", help="2 hosts, a short warm-up")
    parser.add_argument("--results-dir", type=Path, default=BENCH_DIR / "results")
    parser.add_argument("--markdown", type=Path, default=run.REPOSITORY / "BENCHMARKS.md")
    arguments = parser.parse_args()
    count = 2 if arguments.smoke else arguments.hosts
    warmup = 0.5 if arguments.smoke else 2.0
    run.pin_to_client_core()
    load_before = round(os.getloadavg()[0], 2)

    with tempfile.TemporaryDirectory(prefix="hostca-bench-stale-") as directory:
        tmp = Path(directory)
        data_dir = run.init_data_dir(tmp)
        bench = run.Bench(tmp=tmp, data_dir=data_dir, hostca_port=run.free_port(), ceiling_port=0)
        command = [
            run.HOSTCA,
            "server",
            "run",
            "--data-dir",
            str(data_dir),
            "--listen",
            f"{run.HOST}:{bench.hostca_port}",
            "--workers",
            str(arguments.workers),
        ]
        with run.pinned_process(command, tmp / "server.log") as process:
            run.wait_until_ready(bench.hostca_port, bench.ca_file, "/healthz", process)
            bench.session = bench.call(
                "POST", "/api/v1/login", {"user": "admin", "password": run.ADMIN_PASSWORD}
            )["session"]
            hosts = enrol_hosts(bench, count)
            asyncio.run(drive(bench, hosts, warmup))

    report: dict[str, Any] = {
        "part": "stale",
        "command": "python bench/stale_revocation.py"
        + (" --smoke" if arguments.smoke else f" --workers {arguments.workers} --hosts {count}"),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "workers": arguments.workers,
        "hosts": count,
        "answers": sum(host.answers for host in hosts),
        "refused_after_revocation": sum(host.refused_after for host in hosts),
        "stale_answers": sum(host.stale for host in hosts),
        "connection_errors": sum(sum(host.errors.values()) for host in hosts),
        "met": all(host.stale == 0 for host in hosts),
        "machine": run.machine(),
        "source": run.measured_source(),
        "load_average": [load_before, round(os.getloadavg()[0], 2)],
    }
    run.write_results(arguments.results_dir, report)
    arguments.markdown.write_text(run.render_markdown(arguments.results_dir))
    print(json.dumps({k: v for k, v in report.items() if k not in ("machine", "source")}))


if __name__ == "__main__":
    main()
