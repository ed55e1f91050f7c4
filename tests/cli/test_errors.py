"""The command line's error conventions: one line on stderr, JSON under --json."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import HOSTCA


def run_hostca(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([HOSTCA, *args], capture_output=True, text=True, timeout=60, check=False)


def test_error_is_one_line(tmp_path: Path) -> None:
    result = run_hostca("agent", "--state-dir", str(tmp_path / "agent"), "renew")
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("hostca: error: ")
    assert "Traceback" not in result.stderr


def test_json_error_is_object(tmp_path: Path) -> None:
    result = run_hostca("agent", "--state-dir", str(tmp_path / "agent"), "renew", "--json")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    error = json.loads(lines[0])
    assert set(error) >= {"code", "message"}
    assert error["code"]


def test_debug_shows_traceback(tmp_path: Path) -> None:
    result = run_hostca("--debug", "agent", "--state-dir", str(tmp_path / "agent"), "renew")
    assert result.returncode != 0
    assert "Traceback" in result.stderr
