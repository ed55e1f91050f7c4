"""Benchmark CRL generation with 10,000, 100,000 and 1,000,000 revoked entries.

Usage: ``python bench/crl_scale.py [--sizes 10000,100000,1000000] [--runs N] [--smoke]``.

For each size, hostca's ``publish_crl`` (read the revoked certificates from the
database, build, sign, encode and store the CRL) is compared with the bare
``cryptography`` builder, which gets the same entries from memory and builds,
signs and encodes the CRL with the same CA key. Each run is a fresh process on
core 0, and the peak resident memory (VmHWM) is reset just before the measured step. The
report gives the step's peak and its growth above the memory in use when it
started, which leaves out the interpreter and the imported libraries. The script writes
``bench/results/crl.json`` and regenerates BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import run  # noqa: E402 - bench/run.py, importable once bench/ is on the path

TARGET_RATIO = 1.3
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
REASONS = ("key-compromise", "superseded", "cessation-of-operation", "unspecified")
BATCH = 50_000


def peak_rss_mb() -> float:
    """Return the peak resident memory since the last ``reset_peak_rss``, from VmHWM."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss() -> float:
    """Reset the peak resident memory to the current one (Linux 4.0+), and return it in MB."""
    Path("/proc/self/clear_refs").write_text("5")
    resident_pages = int(Path("/proc/self/statm").read_text().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)


def measured(entries: int, seconds: float, rss_before_mb: float) -> dict[str, Any]:
    """The figures of one child run: the step's time, and its memory above the baseline."""
    peak = peak_rss_mb()
    return {
        "entries": entries,
        "milliseconds": round(seconds * 1000, 1),
        "peak_rss_mb": round(peak, 1),
        "growth_mb": round(peak - rss_before_mb, 1),
    }


def serial_of(number: int) -> int:
    # Serial numbers as hostca makes them: positive, up to 20 octets, high bit clear.
    return (uuid.UUID(int=number * 2654435761 % (1 << 128)).int >> 1) | 1


def fill_database(data_dir: Path, entries: int) -> None:
    """Insert one host and ``entries`` revoked, unexpired certificates of it."""
    from sqlalchemy import insert

    from hostca.store import host_records
    from hostca.store.database import Database, sqlite_url
    from hostca.store.tables import certificates

    now = datetime.datetime.now(datetime.UTC)
    database = Database(sqlite_url(data_dir / "hostca.db"))
    try:
        with database.transaction() as connection:
            host_id = host_records.create_host(connection, "revoked.example.test", now)
        for start in range(0, entries, BATCH):
            rows = [
                {
                    "serial_number": f"{serial_of(number):X}",
                    "host_id": host_id,
                    "status": "revoked",
                    "names": ["revoked.example.test"],
                    "not_before": now - datetime.timedelta(days=1),
                    "not_after": now + datetime.timedelta(days=365),
                    "issued_at": now - datetime.timedelta(days=1),
                    "revoked_at": now - datetime.timedelta(seconds=number % 86_400),
                    "revocation_reason": REASONS[number % len(REASONS)],
                    "fingerprint_sha256": "00",
                    "key_type": "ec-p256",
                    "pem": "",
                }
                for number in range(start, min(entries, start + BATCH))
            ]
            with database.transaction() as connection:
                connection.execute(insert(certificates), rows)
    finally:
        database.dispose()


def child_hostca(data_dir: Path) -> dict[str, Any]:
    from hostca.datadir import DataDir
    from hostca.service.crl_service import publish_crl
    from hostca.service.server_setup import open_context

    context = open_context(DataDir(data_dir), ca_passphrase=None, database_url=None)
    rss_before = reset_peak_rss()
    started = time.perf_counter()
    published = publish_crl(context)
    seconds = time.perf_counter() - started
    context.database.dispose()
    return measured(published.entries, seconds, rss_before)


def child_bare(data_dir: Path, entries: int) -> dict[str, Any]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    key = serialization.load_pem_private_key(
        (data_dir / "ca" / "ca.key.pem").read_bytes(), password=None
    )
    certificate = x509.load_pem_x509_certificate((data_dir / "ca" / "ca.cert.pem").read_bytes())
    now = datetime.datetime.now(datetime.UTC)
    flags = {
        "key-compromise": x509.ReasonFlags.key_compromise,
        "superseded": x509.ReasonFlags.superseded,
        "cessation-of-operation": x509.ReasonFlags.cessation_of_operation,
    }
    # The same entries as in hostca's database, made before the clock starts.
    records = [
        (
            serial_of(number),
            now - datetime.timedelta(seconds=number % 86_400),
            flags.get(REASONS[number % len(REASONS)]),
        )
        for number in range(entries)
    ]

    rss_before = reset_peak_rss()
    started = time.perf_counter()
    # Each entry gets a shared list with its reason's extension, passed to the
    # builder's constructor, as hostca does. Adding a new CRLReason to each entry
    # with add_extension takes about a third longer per entry.
    reason_extensions: dict[x509.ReasonFlags | None, list[x509.Extension[x509.CRLReason]]] = {
        flag: [x509.Extension(x509.CRLReason.oid, False, x509.CRLReason(flag))]
        for flag in flags.values()
    }
    reason_extensions[None] = []
    revoked = [
        x509.RevokedCertificateBuilder(serial, revoked_at, reason_extensions[flag]).build()  # type: ignore[arg-type]
        for serial, revoked_at, flag in records
    ]
    crl = x509.CertificateRevocationListBuilder(
        issuer_name=certificate.subject,
        last_update=now,
        next_update=now + datetime.timedelta(days=7),
        revoked_certificates=revoked,
        extensions=[
            x509.Extension(
                x509.AuthorityKeyIdentifier.oid,
                False,
                x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()),  # type: ignore[arg-type]
            ),
            x509.Extension(x509.CRLNumber.oid, False, x509.CRLNumber(1)),
        ],
    ).sign(key, hashes.SHA256())  # type: ignore[arg-type]
    crl.public_bytes(serialization.Encoding.DER)
    seconds = time.perf_counter() - started
    return measured(len(revoked), seconds, rss_before)


def run_child(kind: str, data_dir: Path, entries: int) -> dict[str, Any]:
    command = [
        "taskset",
        "-c",
        run.SERVER_CORE,
        sys.executable,
        __file__,
        "--child",
        kind,
        "--data-dir",
        str(data_dir),
        "--entries",
        str(entries),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if completed.returncode != 0:
        raise RuntimeError(f"{kind} child failed:\n{completed.stderr}")
    result: dict[str, Any] = json.loads(completed.stdout.splitlines()[-1])
    if result["entries"] != entries:
        raise RuntimeError(f"{kind} listed {result['entries']} entries instead of {entries}")
    return result


def measure_size(tmp: Path, entries: int, runs: int) -> dict[str, Any]:
    size_dir = tmp / f"size-{entries}"
    size_dir.mkdir()
    data_dir = run.init_data_dir(size_dir)
    fill_database(data_dir, entries)
    hostca_runs, bare_runs = [], []
    for _ in range(runs):
        hostca_runs.append(run_child("hostca", data_dir, entries))
        bare_runs.append(run_child("bare", data_dir, entries))
        print(f"{entries:,} entries: hostca {hostca_runs[-1]}, bare {bare_runs[-1]}", flush=True)

    def median(results: list[dict[str, Any]], key: str) -> float:
        return float(statistics.median(result[key] for result in results))

    time_ratio = median(hostca_runs, "milliseconds") / median(bare_runs, "milliseconds")
    memory_ratio = median(hostca_runs, "growth_mb") / max(0.1, median(bare_runs, "growth_mb"))
    return {
        "entries": entries,
        **{
            f"{side}_{key}": run.spread([result[key] for result in side_runs])
            for side, side_runs in (("hostca", hostca_runs), ("bare", bare_runs))
            for key in ("milliseconds", "peak_rss_mb", "growth_mb")
        },
        "time_ratio": round(time_ratio, 3),
        "memory_ratio": round(memory_ratio, 3),
        "met": time_ratio <= TARGET_RATIO and memory_ratio <= TARGET_RATIO,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark CRL generation at scale.")
    parser.add_argument("--sizes", default=",".join(str(size) for size in DEFAULT_SIZES))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="1,000 entries, one run")
    parser.add_argument("--results-dir", type=Path, default=BENCH_DIR / "results")
    parser.add_argument("--markdown", type=Path, default=run.REPOSITORY / "BENCHMARKS.md")
    parser.add_argument("--child", choices=("hostca", "bare"), help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--entries", type=int, help=argparse.SUPPRESS)
    arguments = parser.parse_args()

    if arguments.child == "hostca":
        print(json.dumps(child_hostca(arguments.data_dir)))
        return
    if arguments.child == "bare":
        print(json.dumps(child_bare(arguments.data_dir, arguments.entries)))
        return

    sizes = [1_000] if arguments.smoke else [int(size) for size in arguments.sizes.split(",")]
    runs = 1 if arguments.smoke else arguments.runs
    load_before = round(os.getloadavg()[0], 2)
    with tempfile.TemporaryDirectory(prefix="hostca-bench-crl-") as directory:
        results = [measure_size(Path(directory), size, runs) for size in sizes]

    command = "python bench/crl_scale.py" + (
        " --smoke" if arguments.smoke else f" --sizes {arguments.sizes} --runs {runs}"
    )
    report = {
        "part": "crl",
        "command": command,
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "runs": runs,
        "sizes": results,
        "target_ratio": TARGET_RATIO,
        "machine": run.machine(),
        "source": run.measured_source(),
        "load_average": [load_before, round(os.getloadavg()[0], 2)],
    }
    run.write_results(arguments.results_dir, report)
    arguments.markdown.write_text(run.render_markdown(arguments.results_dir))


if __name__ == "__main__":
    main()
