"""The agent's clock: the testing offset, skew measurement, and skew in time errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner, Result

from hostca.agent import clock
from hostca.agent.state import StateDir
from hostca.apiclient import ApiError
from hostca.cli.main import cli
from hostca.core.errors import HostcaError
from hostca.core.fingerprints import fingerprint

if TYPE_CHECKING:
    from conftest import FakePrimary

TOKEN = "ABCDEFGHIJKLMNOP"

# Generous bounds for values computed from two clock readings a moment apart.
SECONDS_TOLERANCE = 30.0


def invoke(state_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["agent", "--state-dir", str(state_dir), *args])


def trust(state_dir: Path, primary: FakePrimary) -> None:
    sha256 = fingerprint(primary.ca.certificate, "sha256")
    result = invoke(state_dir, "trust", "--server", primary.url, "--fingerprint", sha256)
    assert result.exit_code == 0, result.output


def token_expired_problem(**extra: object) -> dict[str, object]:
    return {
        "type": "https://hostca.invalid/problems/token_expired",
        "title": "Unauthorized",
        "status": 401,
        "detail": "the token t1 expired at 2026-01-01T00:00:00+00:00; ask the administrator "
        "for a new token.",
        "code": "token_expired",
        "server_time": "2026-01-01T01:00:00Z",
        **extra,
    }


def test_now_without_offset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(clock.CLOCK_OFFSET_VARIABLE, raising=False)
    difference = (clock.now() - datetime.now(UTC)).total_seconds()
    assert abs(difference) < SECONDS_TOLERANCE


def test_now_applies_offset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(clock.CLOCK_OFFSET_VARIABLE, "-7200.5")
    difference = (clock.now() - datetime.now(UTC)).total_seconds()
    assert abs(difference + 7200.5) < SECONDS_TOLERANCE
    assert clock.now().tzinfo is UTC


@pytest.mark.parametrize("value", ["soon", "nan", "inf"])
def test_invalid_offset_is_named(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(clock.CLOCK_OFFSET_VARIABLE, value)
    with pytest.raises(HostcaError) as caught:
        clock.now()
    assert caught.value.code == "clock_offset_invalid"
    assert f"{clock.CLOCK_OFFSET_VARIABLE}={value}" in caught.value.message


@pytest.mark.parametrize(
    ("skew", "expected"),
    [
        (12.34, "This host's clock is 12.3 s ahead of the primary's"),
        (-4.0, "This host's clock is 4.0 s behind the primary's"),
        (0.01, "This host's clock agrees with the primary's to within 0.1 s"),
        (600.0, "This host's clock is 600.0 s (10.0 min) ahead of the primary's"),
        (7200.0, "This host's clock is 7200.0 s (2.0 h) ahead of the primary's"),
        (-172800.0, "This host's clock is 172800.0 s (2.0 days) behind the primary's"),
    ],
)
def test_describe_skew(skew: float, expected: str) -> None:
    assert clock.describe_skew(skew) == expected


def test_skew_sentence_advice_only_when_large() -> None:
    assert "NTP" not in clock.skew_sentence(299.0)
    assert "NTP" in clock.skew_sentence(-301.0)


def test_measure_skew_against_primary(fake_primary: FakePrimary, tmp_path: Path) -> None:
    trust(tmp_path, fake_primary)
    fake_primary.clock_offset_seconds = -90.0

    skew = clock.measure_clock_skew(StateDir(tmp_path), fake_primary.url, timeout=10)

    assert abs(skew.skew_seconds - 90.0) < SECONDS_TOLERANCE
    assert skew.round_trip_seconds >= 0
    assert fake_primary.requests.count(("GET", "/api/v1/time", None)) == 3


def test_clock_skew_command_json(
    fake_primary: FakePrimary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trust(tmp_path, fake_primary)
    monkeypatch.setenv(clock.CLOCK_OFFSET_VARIABLE, "7200")

    result = invoke(tmp_path, "clock-skew", "--json")

    assert result.exit_code == 1, result.output
    answer = json.loads(result.stdout)
    assert abs(answer["clock_skew_seconds"] - 7200) < SECONDS_TOLERANCE
    assert answer["server"] == fake_primary.url
    assert {"round_trip_seconds", "server_time", "local_time"} <= answer.keys()
    assert answer["tolerated_skew_seconds"] == 300
    assert answer["within_tolerance"] is False
    assert "exceeds the tolerance of 300 s" in result.stderr


def test_clock_skew_command_text(fake_primary: FakePrimary, tmp_path: Path) -> None:
    trust(tmp_path, fake_primary)
    fake_primary.clock_offset_seconds = 3600.0

    result = invoke(tmp_path, "clock-skew")

    assert result.exit_code == 1, result.output
    assert result.stdout.startswith("This host's clock is ")
    assert " behind the primary's (round trip " in result.stdout
    assert result.stderr.startswith("hostca: warning: the clock skew of -3600.")
    assert "Correct this host's clock (for example with NTP)." in result.stderr


@pytest.mark.parametrize(("offset", "exit_code"), [(200.0, 0), (-200.0, 0), (400.0, 1)])
def test_clock_skew_exit_status_by_tolerance(
    fake_primary: FakePrimary, tmp_path: Path, offset: float, exit_code: int
) -> None:
    trust(tmp_path, fake_primary)
    # The primary's clock is ahead by ``offset``, so this host's skew is -offset.
    fake_primary.clock_offset_seconds = offset

    result = invoke(tmp_path, "clock-skew", "--json")

    assert result.exit_code == exit_code, result.output
    assert json.loads(result.stdout)["within_tolerance"] is (exit_code == 0)
    assert ("hostca: warning:" in result.stderr) is (exit_code == 1)


def test_every_request_sends_client_time(
    fake_primary: FakePrimary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(clock.CLOCK_OFFSET_VARIABLE, "600")
    trust(tmp_path, fake_primary)
    enrolled = invoke(tmp_path, "enroll", "--token", TOKEN, "--name", "a.example.test")
    assert enrolled.exit_code == 0, enrolled.output
    assert invoke(tmp_path, "renew").exit_code == 0
    assert invoke(tmp_path, "crl", "fetch").exit_code == 0

    assert len(fake_primary.client_times) >= 4
    for header in fake_primary.client_times:
        assert header is not None
        sent = datetime.fromisoformat(header)
        assert sent.utcoffset() is not None
        assert abs((sent - datetime.now(UTC)).total_seconds() - 600) < SECONDS_TOLERANCE


def test_problem_time_fields_parsed(fake_primary: FakePrimary, tmp_path: Path) -> None:
    trust(tmp_path, fake_primary)
    fake_primary.enroll_problem = token_expired_problem(clock_skew_seconds=7200.25)

    result = invoke(tmp_path, "enroll", "--token", TOKEN, "--name", "a.example.test")

    error = result.exception
    assert isinstance(error, ApiError)
    assert error.server_time == "2026-01-01T01:00:00Z"
    assert error.clock_skew_seconds == 7200.25


def test_time_error_states_server_skew(fake_primary: FakePrimary, tmp_path: Path) -> None:
    trust(tmp_path, fake_primary)
    problem = token_expired_problem(clock_skew_seconds=7200.0)
    problem["detail"] = (
        "the token t1 expired at 2026-01-01T00:00:00+00:00; ask the administrator for a new "
        "token (the client's clock is 7200 s ahead of the server's)."
    )
    fake_primary.enroll_problem = problem

    result = invoke(tmp_path, "enroll", "--token", TOKEN, "--name", "a.example.test")

    assert isinstance(result.exception, ApiError)
    message = result.exception.message
    assert message.startswith(str(problem["detail"]))
    assert message.endswith("Correct this host's clock (for example with NTP) and try again.")
    assert ("GET", "/api/v1/time", None) not in fake_primary.requests


def test_time_error_measures_skew(fake_primary: FakePrimary, tmp_path: Path) -> None:
    trust(tmp_path, fake_primary)
    fake_primary.enroll_problem = token_expired_problem()
    fake_primary.clock_offset_seconds = -7200.0

    result = invoke(tmp_path, "enroll", "--token", TOKEN, "--name", "a.example.test")

    assert isinstance(result.exception, ApiError)
    assert result.exception.code == "token_expired"
    assert "This host's clock is 72" in result.exception.message
    assert "ahead of the primary's" in result.exception.message
    assert ("GET", "/api/v1/time", None) in fake_primary.requests


def test_other_errors_not_explained(fake_primary: FakePrimary, tmp_path: Path) -> None:
    trust(tmp_path, fake_primary)
    fake_primary.enroll_problem = {
        "title": "Unauthorized",
        "status": 401,
        "detail": "the token is not valid.",
        "code": "token_invalid",
    }

    result = invoke(tmp_path, "enroll", "--token", TOKEN, "--name", "a.example.test")

    assert isinstance(result.exception, ApiError)
    assert result.exception.message == "the token is not valid."
    assert ("GET", "/api/v1/time", None) not in fake_primary.requests


def test_self_check_reports_clock(fake_primary: FakePrimary, tmp_path: Path) -> None:
    trust(tmp_path, fake_primary)
    assert invoke(tmp_path, "enroll", "--token", TOKEN, "--name", "a.example.test").exit_code == 0
    fake_primary.clock_offset_seconds = 30.0

    result = invoke(tmp_path, "self-check", "--json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["clock"]["measured"] is True
    assert abs(report["clock"]["clock_skew_seconds"] + 30) < SECONDS_TOLERANCE
