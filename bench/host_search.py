"""Benchmark host search and console pages with a million generated hosts.

Usage: ``python bench/host_search.py [--hosts N] [--loads K] [--smoke]``.

The script initializes a throw-away data directory, inserts N hosts (1,000,000 by
default) with their primary names straight through hostca's tables, starts
``hostca server run`` on core 0, logs in to the console from core 1, and times K
loads (20 by default) of each console page kind: the first page of the host list,
a search by name prefix, the following pages of that search, a search by host ID
prefix, a host's detail page and the dashboard. It also times the service-level
search (``find_hosts``) in-process. It writes ``bench/results/host_search.json``
and regenerates BENCHMARKS.md. All traffic goes to 127.0.0.1, and the server is
stopped by its PID on the way out.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import httpx  # noqa: E402
import run  # noqa: E402 - bench/run.py, importable once bench/ is on the path
from sqlalchemy import insert  # noqa: E402

from hostca.datadir import DataDir  # noqa: E402
from hostca.service.host_search import HostSearch, find_hosts  # noqa: E402
from hostca.service.server_setup import open_context  # noqa: E402
from hostca.store.database import Database, sqlite_url  # noqa: E402
from hostca.store.tables import host_names, hosts  # noqa: E402

ROLES = ("web", "db", "backup", "app", "mail", "file", "media", "build")
BATCH = 20_000
SEARCH_TARGET_MS = 50.0


def generate_hosts(data_dir: Path, count: int, seed: int = 7) -> list[tuple[str, str]]:
    """Insert ``count`` hosts with one primary name each; return a sample of (host ID, name)."""
    generator = random.Random(seed)
    now = datetime.datetime.now(datetime.UTC)
    database = Database(sqlite_url(data_dir / "hostca.db"))
    sample: list[tuple[str, str]] = []
    try:
        for start in range(0, count, BATCH):
            host_rows, name_rows = [], []
            for number in range(start, min(count, start + BATCH)):
                host_id = str(uuid.UUID(int=generator.getrandbits(128), version=4))
                name = (
                    f"{ROLES[number % len(ROLES)]}-{number:07d}.site{number % 97:02d}.example.com"
                )
                host_rows.append({"host_id": host_id, "primary_name": name, "created_at": now})
                name_rows.append(
                    {
                        "host_id": host_id,
                        "name": name,
                        "is_primary": True,
                        "state": "approved",
                        "origin": "admin",
                        "shared": False,
                        "created_at": now,
                    }
                )
                if number % (max(1, count // 200)) == 0:
                    sample.append((host_id, name))
            with database.transaction() as connection:
                connection.execute(insert(hosts), host_rows)
                connection.execute(insert(host_names), name_rows)
            print(f"\r{min(count, start + BATCH):,} of {count:,} hosts", end="", flush=True)
        print()
    finally:
        database.dispose()
    return sample


def timed(call: Callable[..., Any], *args: Any, **kwargs: Any) -> float:
    """Call ``call(*args, **kwargs)`` and return how long it took, in milliseconds."""
    started = time.perf_counter()
    call(*args, **kwargs)
    return (time.perf_counter() - started) * 1000


def summary(milliseconds: list[float]) -> dict[str, float]:
    ordered = sorted(milliseconds)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "loads": len(ordered),
        "median_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(p95, 2),
        "worst_ms": round(ordered[-1], 2),
    }


def console_login(client: httpx.Client) -> None:
    form = client.get("/console/login")
    nonce = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    if nonce is None:
        raise RuntimeError("the console login page has no CSRF nonce")
    answer = client.post(
        "/console/login",
        data={"csrf_token": nonce.group(1), "user": "admin", "password": run.ADMIN_PASSWORD},
    )
    if answer.status_code != 303:
        raise RuntimeError(f"console login failed: HTTP {answer.status_code}")


def page_loads(
    client: httpx.Client, sample: list[tuple[str, str]], loads: int, generator: random.Random
) -> dict[str, dict[str, float]]:
    """Time ``loads`` loads of each console page kind."""

    def load(path: str, **params: str) -> httpx.Response:
        answer = client.get(path, params=params)
        if answer.status_code != 200:
            raise RuntimeError(f"GET {path} {params}: HTTP {answer.status_code}")
        return answer

    def next_cursor(answer: httpx.Response) -> str:
        match = re.search(r'after=([^"&]+)"', answer.text)
        if match is None:
            raise RuntimeError("a search page without a next page link")
        return httpx.QueryParams(f"after={match.group(1)}")["after"]

    results: dict[str, list[float]] = {
        kind: []
        for kind in (
            "first_page",
            "name_prefix",
            "next_pages",
            "host_id_prefix",
            "host",
            "dashboard",
            "api_list",
            "api_search",
        )
    }
    session = client.post(
        "/api/v1/login", json={"user": "admin", "password": run.ADMIN_PASSWORD}
    ).json()["session"]
    api_headers = {"Authorization": f"Bearer {session}"}

    def api_load(**params: str) -> httpx.Response:
        answer = client.get("/api/v1/hosts", params={**params, "limit": "50"}, headers=api_headers)
        if answer.status_code != 200:
            raise RuntimeError(f"GET /api/v1/hosts {params}: HTTP {answer.status_code}")
        return answer

    for _ in range(loads):
        host_id, name = generator.choice(sample)
        prefix = name.split("-")[0] + "-" + name.split("-")[1][:3]
        results["first_page"].append(timed(load, "/console/hosts"))
        results["name_prefix"].append(timed(load, "/console/hosts", q=prefix))
        cursor = next_cursor(load("/console/hosts", q=prefix))
        results["next_pages"].append(timed(load, "/console/hosts", q=prefix, after=cursor))
        results["host_id_prefix"].append(timed(load, "/console/hosts", q=host_id[:6]))
        results["host"].append(timed(load, f"/console/hosts/{host_id}"))
        results["dashboard"].append(timed(load, "/console/"))
        # The REST API's search matches any part of a name or host ID, as the CLI's
        # 'host list --search' does, so it cannot walk an index range.
        results["api_list"].append(timed(api_load))
        results["api_search"].append(timed(api_load, search=prefix))
    return {kind: summary(values) for kind, values in results.items()}


def service_searches(
    data_dir: Path, sample: list[tuple[str, str]], count: int, generator: random.Random
) -> dict[str, float]:
    """Time ``find_hosts`` in this process: name and host ID prefixes, 50 hosts a page."""
    context = open_context(DataDir(data_dir), ca_passphrase=None, database_url=None)
    try:
        times = []
        for index in range(count):
            host_id, name = generator.choice(sample)
            text = host_id[:6] if index % 2 else name[: 6 + index % 8]
            times.append(timed(find_hosts, context, HostSearch(text=text, limit=50)))
        return summary(times)
    finally:
        context.database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark host search with many hosts.")
    parser.add_argument("--hosts", type=int, default=1_000_000, help="hosts to generate")
    parser.add_argument("--loads", type=int, default=20, help="loads of each page kind")
    parser.add_argument(
        "--smoke", action="store_true", help="1,000 hosts and 2 loads, no timing use"
    )
    parser.add_argument("--results-dir", type=Path, default=BENCH_DIR / "results")
    parser.add_argument("--markdown", type=Path, default=run.REPOSITORY / "BENCHMARKS.md")
    arguments = parser.parse_args()
    if arguments.smoke:
        arguments.hosts, arguments.loads = 1_000, 2
    run.pin_to_client_core()
    generator = random.Random(11)
    load_before = round(os.getloadavg()[0], 2)

    with tempfile.TemporaryDirectory(prefix="hostca-bench-search-") as directory:
        tmp = Path(directory)
        data_dir = run.init_data_dir(tmp)
        started = time.monotonic()
        sample = generate_hosts(data_dir, arguments.hosts)
        generation_seconds = time.monotonic() - started
        service = service_searches(data_dir, sample, max(20, arguments.loads * 5), generator)

        port = run.free_port()
        command = [
            run.HOSTCA,
            "server",
            "run",
            "--data-dir",
            str(data_dir),
            "--listen",
            f"{run.HOST}:{port}",
        ]
        with run.pinned_process(command, tmp / "server.log") as process:
            ca_file = data_dir / "ca" / "ca.cert.pem"
            run.wait_until_ready(port, ca_file, "/healthz", process)
            with httpx.Client(
                base_url=f"https://{run.HOST}:{port}", verify=str(ca_file), timeout=60
            ) as client:
                console_login(client)
                pages = page_loads(client, sample, arguments.loads, generator)

    report = {
        "part": "host_search",
        "command": "python bench/host_search.py"
        + (
            " --smoke"
            if arguments.smoke
            else f" --hosts {arguments.hosts} --loads {arguments.loads}"
        ),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "hosts": arguments.hosts,
        "generation_seconds": round(generation_seconds, 1),
        "console_pages": pages,
        "service_search": service,
        "search_target_ms": SEARCH_TARGET_MS,
        "met": service["p95_ms"] <= SEARCH_TARGET_MS,
        "machine": run.machine(),
        "source": run.measured_source(),
        "load_average": [load_before, round(os.getloadavg()[0], 2)],
    }
    run.write_results(arguments.results_dir, report)
    arguments.markdown.write_text(run.render_markdown(arguments.results_dir))
    print(json.dumps({"console_pages": pages, "service_search": service}, indent=2))


if __name__ == "__main__":
    main()
