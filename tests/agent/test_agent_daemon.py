"""The agent daemon in process against the fake primary: renewal, reissue, retries, CRL, signals.

The real processes, with SIGTERM and a restarted primary, are in tests/e2e/test_agent_daemon.py.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import MutableMapping
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner, Result
from structlog.testing import capture_logs

from hostca.agent import clock
from hostca.agent import daemon as daemon_module
from hostca.agent.backoff import Backoff
from hostca.agent.daemon import AgentDaemon, DaemonOptions, ReissueTokenRequiredError
from hostca.agent.servers import StateRoot
from hostca.agent.shutdown import StopRequest, stop_on_signals
from hostca.apiclient import ApiError
from hostca.cli.main import cli
from hostca.core.errors import HostcaError, UnavailableError
from hostca.core.fingerprints import fingerprint

if TYPE_CHECKING:
    from conftest import FakePrimary

TOKEN = "ABCDEFGHIJKLMNOP"
DAY = 86400.0


def invoke(state_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["agent", "--state-dir", str(state_dir), *args])


def enroll(state_dir: Path, primary: FakePrimary) -> dict[str, Any]:
    sha256 = fingerprint(primary.ca.certificate, "sha256")
    trusted = invoke(state_dir, "trust", "--server", primary.url, "--fingerprint", sha256)
    assert trusted.exit_code == 0, trusted.output
    result = invoke(
        state_dir, "enroll", "--token", TOKEN, "--name", "web-01.example.test", "--json"
    )
    assert result.exit_code == 0, result.output
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def status(state_dir: Path) -> dict[str, Any]:
    answer: dict[str, Any] = json.loads(invoke(state_dir, "status", "--json").stdout)
    return answer


def run_once(state_dir: Path, **options: Any) -> list[MutableMapping[str, Any]]:
    """Run one pass of the daemon and return its log events."""
    daemon = AgentDaemon(
        StateRoot(state_dir).servers(),
        DaemonOptions(once=True, timeout=10, **options),
        StopRequest(),
        rng=random.Random(7),
    )
    with capture_logs() as events:
        daemon.run()
    return events


def events_named(
    events: list[MutableMapping[str, Any]], name: str
) -> list[MutableMapping[str, Any]]:
    return [event for event in events if event["event"] == name]


def closed_port() -> int:
    """Return a loopback port that nothing listens on, at least for a moment."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def problem(code: str, status: int) -> dict[str, Any]:
    return {"title": code, "status": status, "detail": f"{code}.", "code": code}


def test_backoff_doubles_up_to_cap() -> None:
    backoff = Backoff(initial_seconds=5, max_seconds=60)
    assert [backoff.ceiling(attempt) for attempt in range(1, 7)] == [5, 10, 20, 40, 60, 60]
    assert backoff.ceiling(10_000) == 60


def test_backoff_jitter_within_bounds() -> None:
    backoff = Backoff(initial_seconds=4, max_seconds=300)
    rng = random.Random(1)
    for attempt in range(1, 12):
        ceiling = backoff.ceiling(attempt)
        delays = [backoff.delay(attempt, rng) for _ in range(50)]
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
        assert len(set(delays)) > 1


@pytest.mark.parametrize(("initial", "maximum"), [(0, 10), (20, 10), (-1, 10)])
def test_backoff_rejects_bad_bounds(initial: float, maximum: float) -> None:
    with pytest.raises(ValueError, match="initial delay"):
        Backoff(initial_seconds=initial, max_seconds=maximum)


def test_daemon_leaves_valid_certificate(fake_primary: FakePrimary, tmp_path: Path) -> None:
    first = enroll(tmp_path, fake_primary)

    events = run_once(tmp_path)

    assert status(tmp_path)["serial_number"] == first["serial_number"]
    assert events_named(events, "renewal_started") == []
    assert len(events_named(events, "crl_refreshed")) == 1
    assert (tmp_path / "crl.pem").is_file()


def test_daemon_renews_when_due(
    fake_primary: FakePrimary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_primary.lifetime = timedelta(days=1)
    first = enroll(tmp_path, fake_primary)
    monkeypatch.setenv(clock.CLOCK_OFFSET_VARIABLE, str(0.5 * DAY + 600))

    events = run_once(tmp_path)

    renewed = events_named(events, "certificate_renewed")
    assert len(renewed) == 1
    assert renewed[0]["previous_serial_number"] == first["serial_number"]
    after = status(tmp_path)
    assert after["serial_number"] == renewed[0]["serial_number"] != first["serial_number"]
    assert after["host_id"] == first["host_id"]
    # The new certificate is due again by the shifted clock, which the daemon reports.
    assert len(events_named(events, "clock_skew_suspected")) == 1


def test_daemon_rekey_replaces_key(
    fake_primary: FakePrimary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_primary.lifetime = timedelta(days=1)
    enroll(tmp_path, fake_primary)
    key_before = (tmp_path / "private" / "key.pem").read_bytes()
    monkeypatch.setenv(clock.CLOCK_OFFSET_VARIABLE, str(0.5 * DAY + 600))

    run_once(tmp_path, rekey=True)

    assert (tmp_path / "private" / "key.pem").read_bytes() != key_before
    assert status(tmp_path)["status"] in ("valid", "renew_due")
    renew_bodies = [body for (_, path, body) in fake_primary.requests if path == "/api/v1/renew"]
    assert "csr" in renew_bodies[-1]


def test_daemon_reissues_revoked_in_window(
    fake_primary: FakePrimary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_primary.lifetime = timedelta(days=1)
    first = enroll(tmp_path, fake_primary)
    fake_primary.renew_problem = problem("certificate_revoked", 403)
    monkeypatch.setenv(clock.CLOCK_OFFSET_VARIABLE, str(0.5 * DAY + 600))

    events = run_once(tmp_path)

    reissued = events_named(events, "certificate_reissued")
    assert len(reissued) == 1
    assert reissued[0]["previous_serial_number"] == first["serial_number"]
    enrol_bodies = [body for (_, path, body) in fake_primary.requests if path == "/api/v1/enroll"]
    assert "token" not in enrol_bodies[-1]
    assert status(tmp_path)["serial_number"] == reissued[0]["serial_number"]


def test_daemon_expired_without_window(
    fake_primary: FakePrimary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_primary.lifetime = timedelta(days=1)
    enroll(tmp_path, fake_primary)
    before = (tmp_path / "cert.pem").read_bytes()
    fake_primary.enroll_problem = problem("reissue_token_required", 409)
    monkeypatch.setenv(clock.CLOCK_OFFSET_VARIABLE, str(2 * DAY))

    with pytest.raises(ReissueTokenRequiredError) as caught:
        run_once(tmp_path)

    message = caught.value.message
    assert caught.value.code == "reissue_token_required"
    assert "has expired by this host's clock" in message
    assert "ahead of the primary's" in message
    assert "hostca agent enroll --force --token" in message
    assert (tmp_path / "cert.pem").read_bytes() == before
    assert not [path for (_, path, _) in fake_primary.requests if path == "/api/v1/renew"]


def test_daemon_revoked_reissued_in_window(fake_primary: FakePrimary, tmp_path: Path) -> None:
    first = enroll(tmp_path, fake_primary)
    fake_primary.revoked.add(int(first["serial_number"], 16))

    events = run_once(tmp_path)

    rejected = events_named(events, "certificate_rejected")
    assert rejected[0]["code"] == "certificate_revoked"
    reissued = events_named(events, "certificate_reissued")
    assert len(reissued) == 1
    assert reissued[0]["previous_serial_number"] == first["serial_number"]
    enrol_bodies = [body for (_, path, body) in fake_primary.requests if path == "/api/v1/enroll"]
    assert len(enrol_bodies) == 2
    assert "token" not in enrol_bodies[-1]
    assert status(tmp_path)["serial_number"] == reissued[0]["serial_number"]
    assert status(tmp_path)["status"] == "valid"


def test_daemon_revoked_without_window(fake_primary: FakePrimary, tmp_path: Path) -> None:
    first = enroll(tmp_path, fake_primary)
    before = (tmp_path / "cert.pem").read_bytes()
    fake_primary.revoked.add(int(first["serial_number"], 16))
    fake_primary.enroll_problem = problem("reissue_token_required", 409)

    with pytest.raises(ReissueTokenRequiredError) as caught:
        run_once(tmp_path)

    message = caught.value.message
    assert f"certificate {first['serial_number']} of host {first['host_id']} was revoked" in (
        message
    )
    assert "A reissue token is needed" in message
    assert "hostca agent enroll --force --token" in message
    assert (tmp_path / "cert.pem").read_bytes() == before


def test_daemon_revoked_in_fetched_crl(fake_primary: FakePrimary, tmp_path: Path) -> None:
    # A primary without /api/v1/self: only the CRL reports the revocation.
    first = enroll(tmp_path, fake_primary)
    fake_primary.revoked.add(int(first["serial_number"], 16))
    fake_primary.self_problem = problem("not_found", 404)
    fake_primary.enroll_problem = problem("reissue_token_required", 409)

    with pytest.raises(ReissueTokenRequiredError) as caught, capture_logs() as events:
        AgentDaemon(
            StateRoot(tmp_path).servers(),
            DaemonOptions(once=True, timeout=10),
            StopRequest(),
        ).run()

    assert "is listed as revoked in the verified CRL" in caught.value.message
    revoked = events_named(events, "certificate_revoked")
    assert revoked[0]["serial_number"] == first["serial_number"]
    assert revoked[0]["revocation_reason"] == "key_compromise"
    assert events_named(events, "server_given_up")[0]["code"] == "reissue_token_required"


def test_daemon_revoked_in_stored_crl(fake_primary: FakePrimary, tmp_path: Path) -> None:
    first = enroll(tmp_path, fake_primary)
    fake_primary.revoked.add(int(first["serial_number"], 16))
    assert invoke(tmp_path, "crl", "fetch").exit_code == 0
    fake_primary.revoked.clear()

    events = run_once(tmp_path)

    assert (
        events_named(events, "certificate_revoked")[0]["serial_number"] == (first["serial_number"])
    )
    reissued = events_named(events, "certificate_reissued")
    assert reissued[0]["previous_serial_number"] == first["serial_number"]
    assert status(tmp_path)["status"] == "valid"


def test_run_once_revoked_exits_77(fake_primary: FakePrimary, tmp_path: Path) -> None:
    first = enroll(tmp_path, fake_primary)
    fake_primary.revoked.add(int(first["serial_number"], 16))
    fake_primary.enroll_problem = problem("reissue_token_required", 409)

    result = invoke(tmp_path, "run", "--once")

    assert result.exit_code == 77, result.output
    assert "A reissue token is needed" in result.stderr


def test_daemon_server_error_is_retried(
    fake_primary: FakePrimary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_primary.lifetime = timedelta(days=1)
    enroll(tmp_path, fake_primary)
    fake_primary.renew_problem = problem("unavailable", 503)
    monkeypatch.setenv(clock.CLOCK_OFFSET_VARIABLE, str(0.5 * DAY + 600))

    with pytest.raises(ApiError) as caught, capture_logs() as events:
        AgentDaemon(
            StateRoot(tmp_path).servers(),
            DaemonOptions(once=True, timeout=10),
            StopRequest(),
            rng=random.Random(5),
        ).run()

    assert caught.value.code == "unavailable"
    assert events_named(events, "retry_scheduled")[0]["code"] == "unavailable"
    assert events_named(events, "server_given_up") == []


def test_daemon_unreachable_is_retried(tmp_path: Path, fake_primary: FakePrimary) -> None:
    enroll(tmp_path, fake_primary)
    config = json.loads((tmp_path / "agent.json").read_text())
    config["server"] = f"https://127.0.0.1:{closed_port()}"
    (tmp_path / "agent.json").write_text(json.dumps(config))
    (tmp_path / "crl.pem").unlink(missing_ok=True)

    with pytest.raises(UnavailableError) as caught, capture_logs() as events:
        AgentDaemon(
            StateRoot(tmp_path).servers(),
            DaemonOptions(once=True, timeout=10),
            StopRequest(),
            rng=random.Random(3),
        ).run()

    assert caught.value.code == "server_unreachable"
    retries = events_named(events, "retry_scheduled")
    assert len(retries) == 1
    assert retries[0]["attempt"] == 1
    assert 2.5 <= retries[0]["retry_in_seconds"] <= 5


def test_daemon_disk_error_is_retried(
    fake_primary: FakePrimary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    enroll(tmp_path, fake_primary)

    def full_disk(*_args: Any, **_kwargs: Any) -> None:
        raise OSError(28, "No space left on device", str(tmp_path / "crl.pem"))

    monkeypatch.setattr(daemon_module, "fetch_crl", full_disk)

    with pytest.raises(UnavailableError) as caught, capture_logs() as events:
        AgentDaemon(
            StateRoot(tmp_path).servers(),
            DaemonOptions(once=True, timeout=10),
            StopRequest(),
        ).run()

    assert caught.value.code == "state_io_failed"
    assert "No space left on device" in caught.value.message
    assert events_named(events, "retry_scheduled")[0]["code"] == "state_io_failed"


def test_crl_interval_learned_and_shortened(fake_primary: FakePrimary, tmp_path: Path) -> None:
    enroll(tmp_path, fake_primary)
    config = json.loads((tmp_path / "agent.json").read_text())
    config["crl_refresh_hours"] = 0.5
    (tmp_path / "agent.json").write_text(json.dumps(config))

    events = run_once(tmp_path)

    learned = events_named(events, "crl_interval_learned")
    assert learned[0]["crl_refresh_interval_seconds"] == 4 * 3600
    assert events_named(events, "crl_refreshed")[0]["next_refresh_in_seconds"] == 1800


def test_daemon_needs_enrolment(fake_primary: FakePrimary, tmp_path: Path) -> None:
    sha256 = fingerprint(fake_primary.ca.certificate, "sha256")
    assert (
        invoke(tmp_path, "trust", "--server", fake_primary.url, "--fingerprint", sha256).exit_code
        == 0
    )

    result = invoke(tmp_path, "run", "--once")

    assert isinstance(result.exception, HostcaError)
    assert result.exception.code == "not_enrolled"


def test_stop_request_wakes_wait() -> None:
    with stop_on_signals() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(600) is True
        assert stop.signal_name == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_signals_deferred_during_commit() -> None:
    # The signal mask is per thread, and the test runner may have other threads that
    # leave SIGTERM unblocked, so the check runs in a single-threaded child process.
    program = textwrap.dedent(
        """
        import os, signal
        from hostca.agent.state import _termination_signals_deferred

        received = []
        signal.signal(signal.SIGTERM, lambda number, _frame: received.append(number))
        with _termination_signals_deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            assert received == [], received
        assert received == [signal.SIGTERM], received
        print("deferred")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "deferred"
