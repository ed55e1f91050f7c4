"""bench/run.py's checks of its arguments and of each load run's failures."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPOSITORY / "bench"))

import run  # noqa: E402 - bench/run.py, importable once bench/ is on the path
from loadgen import LoadResult  # noqa: E402


def load_result(ok: int, errors: dict[str, int]) -> LoadResult:
    return LoadResult(
        mode="keepalive",
        concurrency=2,
        requests=ok + sum(errors.values()),
        elapsed_seconds=1.0,
        latencies_ms=[1.0] * ok,
        errors=errors,
    )


def test_run_mostly_failed_raises() -> None:
    with pytest.raises(run.RunFailedError, match="connection_refused 9"):
        run.check_run(load_result(1, {"connection_refused": 9}), 8443)


def test_run_with_few_failures_passes() -> None:
    run.check_run(load_result(90, {"http_503": 10}), 8443)


def test_count_below_one_rejected() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="must be 1 or more"):
        run.positive_integer("0")


def test_results_dir_that_is_a_file_rejected(tmp_path: Path) -> None:
    not_a_directory = tmp_path / "results"
    not_a_directory.write_text("")
    completed = subprocess.run(
        [
            sys.executable,
            str(REPOSITORY / "bench" / "run.py"),
            "startup",
            "--results-dir",
            str(not_a_directory),
        ],
        capture_output=True,
        text=True,
        check=False,
    )

    assert completed.returncode == 2
    assert "exists and is not a directory" in completed.stderr
