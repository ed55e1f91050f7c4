"""bench/profile_summary.py: shares of busy samples from py-spy's raw format."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]

RAW = """\
main (app.py:1);serve (web/server.py:10);handle (web/routes.py:20) 30
main (app.py:1);serve (web/server.py:10);handle (web/routes.py:20);query (store/records.py:5) 10
main (app.py:1);serve (web/server.py:10);select (selectors.py:468) 500
worker (threading.py:1);Condition.wait (threading.py:327) 900
"""


def summary(tmp_path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    raw = tmp_path / "hostca-1.txt"
    raw.write_text(RAW)
    return subprocess.run(
        [sys.executable, str(REPOSITORY / "bench" / "profile_summary.py"), str(raw), *options],
        capture_output=True,
        text=True,
        check=False,
    )


def test_waiting_samples_left_out(tmp_path: Path) -> None:
    output = summary(tmp_path).stdout

    assert "40 busy samples" in output
    assert "selectors" not in output
    assert "Condition.wait" not in output


def test_inclusive_and_own_shares(tmp_path: Path) -> None:
    output = summary(tmp_path, "--match", "routes", "--roots").stdout

    assert "| `handle (web/routes.py:20)` | 100.0% | 75.0% |" in output
    assert "query" not in output


def test_frames_on_every_stack_hidden(tmp_path: Path) -> None:
    output = summary(tmp_path).stdout

    assert "main (app.py" not in output
    assert "| `query (store/records.py:5)` | 25.0% | 25.0% |" in output


def test_profile_without_busy_samples_fails(tmp_path: Path) -> None:
    raw = tmp_path / "idle.txt"
    raw.write_text("worker (threading.py:1);Condition.wait (threading.py:327) 900\n")
    completed = subprocess.run(
        [sys.executable, str(REPOSITORY / "bench" / "profile_summary.py"), str(raw)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert completed.returncode != 0
    assert "no busy samples" in completed.stderr
