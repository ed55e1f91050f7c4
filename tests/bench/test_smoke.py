"""Smoke test of the benchmark suite: every part runs once with tiny bounds.

It checks that the suite still works against the current code, not how fast
anything is: the figures of a smoke run are never compared with a limit.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
PARTS = ("self", "enroll", "renew", "startup", "core", "cfssl")
# crl, search and stale are run by their own scripts, with other commands in their reports.


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    tmp = tmp_path_factory.mktemp("bench")
    results_dir = tmp / "results"
    markdown = tmp / "BENCHMARKS.md"
    completed = subprocess.run(
        [
            sys.executable,
            str(REPOSITORY / "bench" / "run.py"),
            "--smoke",
            "--results-dir",
            str(results_dir),
            "--markdown",
            str(markdown),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return results_dir, markdown, completed.stdout


@pytest.mark.parametrize("part", PARTS)
def test_part_writes_results(smoke_run: tuple[Path, Path, str], part: str) -> None:
    results_dir, _, _ = smoke_run
    report = json.loads((results_dir / f"{part}.json").read_text())
    assert report["part"] == part
    assert report["machine"]["cores"] >= 2
    assert report["command"] == f"python bench/run.py {part} --runs 1 --smoke"


@pytest.mark.parametrize("part", ["self", "enroll", "renew", "cfssl"])
def test_load_part_without_errors(smoke_run: tuple[Path, Path, str], part: str) -> None:
    results_dir, _, _ = smoke_run
    report = json.loads((results_dir / f"{part}.json").read_text())
    assert report["hostca_errors"] == 0, report["hostca_runs"]
    assert report["ceiling_errors"] == 0, report["ceiling_runs"]
    assert report["hostca_runs"][0]["ok"] > 0
    assert report["ceiling_runs"][0]["ok"] > 0


def test_core_part_counts_operations(smoke_run: tuple[Path, Path, str]) -> None:
    results_dir, _, _ = smoke_run
    sample = json.loads((results_dir / "core.json").read_text())["samples"][0]
    assert sample["hostca"]["operations"] > 0
    assert sample["raw"]["operations"] > 0
    assert sample["sign"]["operations"] > 0


def test_markdown_lists_every_row(smoke_run: tuple[Path, Path, str]) -> None:
    _, markdown, _ = smoke_run
    text = markdown.read_text()
    assert "GET /api/v1/self" in text
    assert "enrolment" in text
    assert "renewal" in text
    assert "in-process issuance" in text
    assert "`hostca --help`" in text
    assert "`hostca agent status`" in text
    assert "cfssl serve" in text
    assert "django-ca" in text
    # Every row of the suite is measured, so nothing is listed as missing.
    assert "## Not measured yet" not in text


def test_output_names_pinned_cores(smoke_run: tuple[Path, Path, str]) -> None:
    _, _, stdout = smoke_run
    assert "pinned to core 0" in stdout
    assert "load generator on core 1" in stdout


def test_script_parts(smoke_run: tuple[Path, Path, str]) -> None:
    results_dir, markdown, _ = smoke_run
    crl = json.loads((results_dir / "crl.json").read_text())
    assert [size["entries"] for size in crl["sizes"]] == [1_000]
    assert crl["command"] == "python bench/crl_scale.py --smoke"
    search = json.loads((results_dir / "host_search.json").read_text())
    assert search["hosts"] == 1_000
    stale = json.loads((results_dir / "stale.json").read_text())
    assert stale["workers"] == 2
    assert stale["stale_answers"] == 0
    assert stale["refused_after_revocation"] > 0
    text = markdown.read_text()
    assert "## CRL generation" in text
    assert "## Stale answers after revocation, 2 workers" in text
    assert "## Host search with 1,000 hosts" in text
