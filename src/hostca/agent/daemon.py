"""``hostca agent run``: keep this host's certificates current and its CRLs fresh.

At every check, for each primary the agent has a certificate from:

1. The certificate. Once less than half of its lifetime is left by the agent's
   clock, it is renewed over mutual TLS. When it can no longer be renewed
   (expired, revoked, unknown to the primary, or its key is lost), the agent
   requests a reissue without a token, with a new key. The primary grants that
   only within the host's open auto-reissue window. Otherwise the agent gives
   up on that primary, because only an administrator's reissue token helps.
   The agent learns of a revocation from the primary's 403 response to
   ``GET /api/v1/self`` and from its own serial number in the verified CRL.
2. The CRL, refreshed at the interval that the primary's security level sets
   (``GET /api/v1/self``), or more often where ``agent.json`` sets
   ``crl_refresh_hours``.

A step that fails because the primary is unreachable or overloaded is retried
with exponential backoff. Every action is logged as one structured event, and
files are only ever replaced atomically.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

import structlog
from cryptography import x509

from hostca.agent import clock
from hostca.agent.backoff import Backoff
from hostca.agent.certificates import (
    IssuedCertificate,
    certificate_names,
    format_serial_number,
    host_id_of,
    load_certificate,
    renew_after,
)
from hostca.agent.connection import DEFAULT_TIMEOUT, connect
from hostca.agent.crl import describe_revocation, fetch_crl, load_local_crl, local_revocation
from hostca.agent.enroll import DEFAULT_KEY_TYPE, EnrollRequest, enroll
from hostca.agent.renew import renew
from hostca.agent.servers import ServerState
from hostca.agent.shutdown import StopRequest
from hostca.agent.state import StateDir
from hostca.agent.status import local_certificate_status
from hostca.apiclient import ApiError
from hostca.core.errors import ConflictError, HostcaError, NotFoundError, UnavailableError

__all__ = [
    "DEFAULT_CHECK_INTERVAL_SECONDS",
    "DEFAULT_CRL_REFRESH_SECONDS",
    "AgentDaemon",
    "DaemonOptions",
    "ReissueTokenRequiredError",
]

log = structlog.get_logger("hostca.agent")

DEFAULT_CHECK_INTERVAL_SECONDS = 60.0

DEFAULT_CRL_REFRESH_SECONDS = 4 * 3600.0
"""The interval of security level high, used until ``/api/v1/self`` returns the primary's."""

_RETRY_INITIAL_SECONDS = 5.0
_RETRY_MAX_SECONDS = 300.0

# After a renewal or reissue the agent leaves the certificate alone for this part
# of its lifetime. A new certificate that is already due, or already expired, by
# the agent's clock means that the clock is wrong, and renewing again would not help.
_RENEWAL_HOLD_FRACTION = 1 / 8

# Problem and error codes that mean the certificate itself can no longer be used.
_UNUSABLE_CERTIFICATE_CODES = frozenset(
    {
        "certificate_revoked",
        "certificate_expired",
        "certificate_unknown",
        "certificate_superseded",
        "client_certificate_rejected",
    }
)

_REASONS = {
    "expired": "has expired by this host's clock",
    "key_missing": "has lost its private key",
    "key_mismatch": "does not match the private key on disk",
    "revoked": "is listed as revoked in the verified CRL",
    "certificate_revoked": "was revoked",
    "certificate_expired": "has expired by the primary's clock",
    "certificate_unknown": "is unknown to the primary",
    "certificate_superseded": "was superseded by a newer certificate on the primary",
    "client_certificate_rejected": "was rejected by the primary in the TLS handshake",
}
_TIME_REASONS = frozenset({"expired", "certificate_expired"})


class ReissueTokenRequiredError(ConflictError):
    """A certificate can no longer be used, and the primary did not reissue it without a token."""

    default_code = "reissue_token_required"


@dataclass(frozen=True)
class DaemonOptions:
    """Options of the daemon.

    ``check_interval`` is the number of seconds between two checks of a primary.
    With ``once`` the daemon checks every primary once and returns. ``rekey``
    renews with a new key instead of the current one. ``timeout`` applies to
    each connection and read.
    """

    check_interval: float = DEFAULT_CHECK_INTERVAL_SECONDS
    once: bool = False
    rekey: bool = False
    timeout: float = DEFAULT_TIMEOUT

    def backoff(self) -> Backoff:
        initial = min(_RETRY_INITIAL_SECONDS, self.check_interval)
        return Backoff(initial_seconds=initial, max_seconds=max(_RETRY_MAX_SECONDS, initial))


@dataclass
class _ServerTask:
    """The schedule of one primary. Times are ``time.monotonic()`` values."""

    server: str
    state: StateDir
    next_check: float = 0.0
    next_crl_refresh: float | None = None
    hold_certificate_until: float = 0.0
    server_crl_interval: float | None = None
    failures: int = 0
    last_error: HostcaError | None = None
    abandoned: HostcaError | None = None

    def crl_interval(self) -> float:
        """Return the primary's interval, shortened to ``crl_refresh_hours`` where that is set."""
        interval = self.server_crl_interval or DEFAULT_CRL_REFRESH_SECONDS
        configured = self.state.read_config().crl_refresh_hours
        if configured is not None:
            interval = min(interval, configured * 3600)
        return interval


class AgentDaemon:
    """The renewal and CRL loop over the primaries in ``servers``."""

    def __init__(
        self,
        servers: list[ServerState],
        options: DaemonOptions,
        stop: StopRequest,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.options = options
        self.stop = stop
        self._backoff = options.backoff()
        self._rng = rng or random.Random()  # noqa: S311  # jitter, not a secret
        self._tasks = [_ServerTask(server=item.server, state=item.state) for item in servers]

    def run(self) -> None:
        """Run until SIGTERM or SIGINT, or one pass with ``once``.

        Raises the error of a primary that had to be given up when no primary is
        left, or with ``once`` when a step failed.
        """
        tasks = self._enrolled_tasks()
        log.info(
            "agent_started",
            servers=[task.server for task in tasks],
            check_interval_seconds=self.options.check_interval,
            once=self.options.once,
        )
        for task in tasks:
            self._log_clock_skew(task)

        given_up: list[HostcaError] = []
        while tasks and not self.stop.requested:
            for task in tasks:
                if self.stop.requested:
                    break
                if task.next_check <= time.monotonic():
                    self._check(task)
            given_up += [task.abandoned for task in tasks if task.abandoned is not None]
            tasks = [task for task in tasks if task.abandoned is None]
            if self.options.once or not tasks:
                break
            self.stop.wait(min(task.next_check for task in tasks) - time.monotonic())

        log.info("agent_stopped", signal=self.stop.signal_name, servers_given_up=len(given_up))
        if self.stop.requested:
            return
        if given_up:
            raise given_up[-1]
        failed = [task.last_error for task in tasks if task.last_error is not None]
        if failed:
            raise failed[-1]

    def _enrolled_tasks(self) -> list[_ServerTask]:
        enrolled = []
        for task in self._tasks:
            if task.state.certificate_file.is_file():
                enrolled.append(task)
            else:
                log.warning(
                    "server_skipped",
                    server=task.server,
                    reason="not enrolled",
                    certificate_file=str(task.state.certificate_file),
                )
        if not enrolled:
            raise NotFoundError(
                "this host has no certificate from any trusted primary; run "
                "`hostca agent enroll` first.",
                code="not_enrolled",
            )
        return enrolled

    def _check(self, task: _ServerTask) -> None:
        """Run one check of ``task`` and schedule the next one."""
        try:
            self._check_certificate(task)
            self._refresh_crl_if_due(task)
        except (ApiError, UnavailableError) as error:
            self._schedule_retry(task, error)
            return
        except HostcaError as error:
            # Local problems (invalid files, a reissue that needs a token) do not
            # go away by waiting, so this primary is given up.
            log.error("server_given_up", server=task.server, code=error.code, error=error.message)
            task.abandoned = error
            return
        except OSError as error:
            # A full or read-only file system may recover. Files are replaced
            # atomically, so the old ones are still intact.
            failure = UnavailableError(
                f"{error.filename or task.state.root}: {error.strerror or error}; check the "
                "state directory.",
                code="state_io_failed",
            )
            self._schedule_retry(task, failure)
            return

        task.failures = 0
        task.last_error = None
        task.next_check = time.monotonic() + self.options.check_interval

    def _schedule_retry(self, task: _ServerTask, error: HostcaError) -> None:
        task.failures += 1
        task.last_error = error
        delay = self._backoff.delay(task.failures, self._rng)
        if isinstance(error, ApiError) and error.retry_after is not None:
            delay = max(delay, float(error.retry_after))
        task.next_check = time.monotonic() + delay
        log.warning(
            "retry_scheduled",
            server=task.server,
            attempt=task.failures,
            retry_in_seconds=round(delay, 1),
            code=error.code,
            error=error.message,
        )

    # Certificate

    def _check_certificate(self, task: _ServerTask) -> None:
        state = task.state
        certificate = load_certificate(state)
        status = local_certificate_status(state, certificate, clock.now())
        if status == "valid":
            log.debug("certificate_valid", server=task.server, **_describe(certificate))
            return
        if status == "untrusted_issuer":
            raise ConflictError(
                f"{state.certificate_file}: not issued by a CA in {state.ca_file}; run "
                f"`hostca agent trust --server {task.server}` and enrol again.",
                code="certificate_untrusted",
            )
        if status == "not_yet_valid":
            log.warning(
                "certificate_not_yet_valid",
                server=task.server,
                clock=clock.skew_report(state, task.server, timeout=self.options.timeout),
                **_describe(certificate),
            )
            return
        if status == "revoked":
            # Not held back like a renewal: a reissued certificate has a new serial
            # number, which the CRL cannot list yet, so this cannot loop.
            self._reissue_revoked(task, certificate)
            return
        if time.monotonic() < task.hold_certificate_until:
            log.debug("certificate_on_hold", server=task.server, status=status)
            return
        if status == "renew_due":
            self._renew(task, certificate)
        else:
            self._reissue(task, certificate, reason=status)

    def _renew(self, task: _ServerTask, certificate: x509.Certificate) -> None:
        log.info(
            "renewal_started",
            server=task.server,
            rekey=self.options.rekey,
            **_describe(certificate),
        )
        try:
            issued = renew(task.state, rekey=self.options.rekey, timeout=self.options.timeout)
        except (ApiError, UnavailableError) as error:
            if error.code not in _UNUSABLE_CERTIFICATE_CODES:
                raise
            log.warning(
                "renewal_rejected", server=task.server, code=error.code, error=error.message
            )
            self._reissue(task, certificate, reason=error.code)
            return

        log.info(
            "certificate_renewed",
            server=task.server,
            previous_serial_number=format_serial_number(certificate.serial_number),
            **_issued(issued),
        )
        self._hold_after_new_certificate(task)

    def _reissue_revoked(self, task: _ServerTask, certificate: x509.Certificate) -> None:
        entry = local_revocation(task.state, certificate)
        revocation = describe_revocation(entry) if entry is not None else None
        log.warning(
            "certificate_revoked",
            server=task.server,
            crl_file=str(task.state.crl_file),
            revocation_date=revocation["revocation_date"].isoformat() if revocation else None,
            revocation_reason=revocation["reason"] if revocation else None,
            **_describe(certificate),
        )
        self._reissue(task, certificate, reason="revoked")

    def _certificate_rejected(self, task: _ServerTask, error: HostcaError) -> None:
        """Handle the primary's verdict that the certificate can no longer be used."""
        certificate = load_certificate(task.state)
        log.warning(
            "certificate_rejected",
            server=task.server,
            code=error.code,
            error=error.message,
            **_describe(certificate),
        )
        if error.code in _TIME_REASONS and time.monotonic() < task.hold_certificate_until:
            # Just after a renewal or reissue, an expiry means a wrong clock (see
            # _hold_after_new_certificate), and another reissue would not help.
            log.debug("certificate_on_hold", server=task.server, status=error.code)
            return
        self._reissue(task, certificate, reason=error.code)

    def _reissue(self, task: _ServerTask, certificate: x509.Certificate, *, reason: str) -> None:
        """Ask for a new certificate without a token, which only an auto-reissue window allows."""
        state = task.state
        config = state.read_config()
        names = certificate_names(certificate) or list(config.names)
        if not names:
            raise ConflictError(
                f"{state.certificate_file} carries no host name to request again; run "
                f"`hostca agent enroll --force --name NAME --server {task.server}` with a "
                "reissue token.",
                code="names_missing",
            )
        log.info("reissue_started", server=task.server, reason=reason, **_describe(certificate))
        request = EnrollRequest(
            primary_name=names[0],
            aliases=tuple(names[1:]),
            server=task.server,
            key_type=config.key_type or DEFAULT_KEY_TYPE,
            token=None,
            force=True,
        )
        try:
            issued = enroll(state, request, timeout=self.options.timeout)
        except ApiError as error:
            if error.http_status >= 500 or error.http_status == 429:
                raise
            raise self._reissue_rejected(task, certificate, reason, error) from error

        log.info(
            "certificate_reissued",
            server=task.server,
            previous_serial_number=format_serial_number(certificate.serial_number),
            previous_host_id=host_id_of(certificate),
            **_issued(issued),
        )
        self._hold_after_new_certificate(task)

    def _reissue_rejected(
        self, task: _ServerTask, certificate: x509.Certificate, reason: str, error: ApiError
    ) -> ReissueTokenRequiredError:
        serial_number = format_serial_number(certificate.serial_number)
        host_id = host_id_of(certificate) or "-"
        message = (
            f"{task.server}: certificate {serial_number} of host {host_id} "
            f"{_REASONS.get(reason, reason)}, and the primary did not reissue it without a token "
            f"({error.code}: {error.message.rstrip('.')})."
        )
        if reason in _TIME_REASONS:
            message += " " + clock.skew_report(
                task.state, task.server, timeout=self.options.timeout
            )
        message += (
            " A reissue token is needed: ask the administrator for one (or for an auto-reissue "
            f"window) and run `hostca agent enroll --force --token --server {task.server}`."
        )
        return ReissueTokenRequiredError(message, details={"server": task.server})

    def _hold_after_new_certificate(self, task: _ServerTask) -> None:
        certificate = load_certificate(task.state)
        lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
        task.hold_certificate_until = (
            time.monotonic() + lifetime.total_seconds() * _RENEWAL_HOLD_FRACTION
        )
        status = local_certificate_status(task.state, certificate, clock.now())
        if status in ("renew_due", "expired"):
            log.warning(
                "clock_skew_suspected",
                server=task.server,
                status=status,
                hold_seconds=round(lifetime.total_seconds() * _RENEWAL_HOLD_FRACTION),
                clock=clock.skew_report(task.state, task.server, timeout=self.options.timeout),
            )

    # CRL

    def _refresh_crl_if_due(self, task: _ServerTask) -> None:
        if task.next_crl_refresh is None:
            task.next_crl_refresh = time.monotonic() + self._initial_crl_wait(task)
        if time.monotonic() < task.next_crl_refresh:
            return

        self._learn_crl_interval(task)
        interval = task.crl_interval()
        try:
            summary = fetch_crl(task.state, task.server, timeout=self.options.timeout)
        except ConflictError as error:
            # An older or unverifiable CRL is not stored; the next refresh tries again.
            log.warning("crl_rejected", server=task.server, code=error.code, error=error.message)
        else:
            log.info(
                "crl_refreshed",
                server=task.server,
                crl_number=summary.crl_number,
                revoked_count=summary.revoked_count,
                next_update=summary.next_update.isoformat() if summary.next_update else None,
                next_refresh_in_seconds=round(interval),
            )
            certificate = load_certificate(task.state)
            if local_revocation(task.state, certificate) is not None:
                self._reissue_revoked(task, certificate)
        task.next_crl_refresh = time.monotonic() + interval

    def _initial_crl_wait(self, task: _ServerTask) -> float:
        """Return the seconds until the stored CRL is due for a refresh; 0 when there is none."""
        try:
            crl = load_local_crl(task.state)
        except HostcaError as error:
            log.warning("crl_invalid", server=task.server, code=error.code, error=error.message)
            return 0.0
        if crl is None:
            return 0.0
        now = clock.now()
        if crl.next_update_utc is not None and crl.next_update_utc <= now:
            return 0.0
        age = (now - crl.last_update_utc).total_seconds()
        return max(0.0, task.crl_interval() - age)

    def _learn_crl_interval(self, task: _ServerTask) -> None:
        """Read the CRL refresh interval of the primary's security level from ``/api/v1/self``.

        The primary returns 403 (``certificate_revoked``, ``certificate_expired``, ...)
        for a certificate that can no longer be used, and the agent then requests
        a reissue.
        """
        try:
            with connect(
                task.state, task.server, mutual_tls=True, timeout=self.options.timeout
            ) as client:
                record = client.get_json("/api/v1/self")
        except HostcaError as error:
            if error.code in _UNUSABLE_CERTIFICATE_CODES:
                self._certificate_rejected(task, error)
            else:
                log.debug("crl_interval_unknown", server=task.server, code=error.code)
            return
        seconds = record.get("crl_refresh_interval_seconds") if isinstance(record, dict) else None
        if isinstance(seconds, int) and not isinstance(seconds, bool) and seconds > 0:
            if seconds != task.server_crl_interval:
                log.info(
                    "crl_interval_learned",
                    server=task.server,
                    security_level=record.get("security_level"),
                    crl_refresh_interval_seconds=seconds,
                )
            task.server_crl_interval = float(seconds)

    def _log_clock_skew(self, task: _ServerTask) -> None:
        try:
            skew = clock.measure_clock_skew(task.state, task.server, timeout=self.options.timeout)
        except HostcaError as error:
            log.info("clock_skew_unknown", server=task.server, code=error.code, error=error.message)
            return
        log.info(
            "clock_skew_measured",
            server=task.server,
            clock_skew_seconds=round(skew.skew_seconds, 3),
            round_trip_seconds=round(skew.round_trip_seconds, 4),
        )


def _describe(certificate: x509.Certificate) -> dict[str, Any]:
    return {
        "serial_number": format_serial_number(certificate.serial_number),
        "host_id": host_id_of(certificate),
        "not_after": certificate.not_valid_after_utc.isoformat(),
        "renew_after": renew_after(certificate).isoformat(),
    }


def _issued(issued: IssuedCertificate) -> dict[str, Any]:
    return {
        "host_id": issued.host_id,
        "serial_number": issued.serial_number,
        "names": list(issued.names),
        "not_after": issued.not_after.isoformat(),
    }
