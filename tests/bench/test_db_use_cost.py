"""bench/db_use_cost.py runs once with a few calls per operation; its figures are not checked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPOSITORY / "bench"))

import run  # noqa: E402 - bench/run.py, importable once bench/ is on the path


def test_db_use_cost_lists_every_operation(tmp_path: Path) -> None:
    data_dir = run.init_data_dir(tmp_path)
    completed = subprocess.run(
        [
            sys.executable,
            str(REPOSITORY / "bench" / "db_use_cost.py"),
            "--data-dir",
            str(data_dir),
            "--count",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    rows = [line for line in completed.stdout.splitlines() if line.endswith("µs |")]

    assert completed.returncode == 0, completed.stderr
    assert len(rows) == 11
    assert any("`sqlite3` alone" in row for row in rows)
