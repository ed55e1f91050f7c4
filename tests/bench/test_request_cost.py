"""bench/request_cost.py runs once with two calls per operation; its figures are not checked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]


def test_request_cost_lists_every_operation() -> None:
    completed = subprocess.run(
        [sys.executable, str(REPOSITORY / "bench" / "request_cost.py"), "--count", "2"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    rows = {
        line.split(" | ")[0].lstrip("| "): line.rstrip(" |").split(" | ")[-1]
        for line in completed.stdout.splitlines()
        if line.startswith("| ") and "µs" in line
    }

    assert completed.returncode == 0, completed.stderr
    assert len(rows) == 6
    assert int(rows["enrolment, service call"]) > 0
    assert rows["GET /api/v1/self, cached response"] == "0"
