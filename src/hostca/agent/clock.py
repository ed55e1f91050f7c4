"""The agent's clock, and the offset of this host's clock from the primary's.

A host whose clock is wrong sees tokens expire early, certificates that are not
yet valid, and renewals at the wrong time. The agent therefore sends its own
time with every request (``X-Hostca-Client-Time``), measures the offset with
``GET /api/v1/time``, and states the offset in every time-related error.

NOTE: ``HOSTCA_AGENT_CLOCK_OFFSET_SECONDS`` is a testing aid. When set to a
number of seconds (negative for a clock that is behind), the agent's clock runs
that far from the system clock, so tests can make a renewal due or a certificate
expire without waiting. Only ``now`` reads it, and it is not meant for
production hosts.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from hostca.core.errors import HostcaError, InvalidRequestError, UnavailableError

if TYPE_CHECKING:
    from hostca.agent.state import StateDir
    from hostca.apiclient import ApiClient, ApiError

__all__ = [
    "CLOCK_OFFSET_VARIABLE",
    "TIME_ERROR_CODES",
    "TOLERATED_SKEW_SECONDS",
    "ClockSkew",
    "describe_skew",
    "explain_time_error",
    "measure_clock_skew",
    "measure_skew",
    "now",
    "skew_report",
    "skew_sentence",
    "time_errors_explained",
]

CLOCK_OFFSET_VARIABLE = "HOSTCA_AGENT_CLOCK_OFFSET_SECONDS"

# Problem codes whose cause may be a wrong clock on one side.
TIME_ERROR_CODES = frozenset({"token_expired", "certificate_expired", "certificate_not_yet_valid"})

# The primary back-dates certificates by 5 minutes, so a host clock that is behind
# by more than this treats a new certificate as not yet valid.
TOLERATED_SKEW_SECONDS = 300.0

# /api/v1/time is requested this many times, and the response with the shortest
# round trip is used, because the first request includes the TLS handshake.
_SAMPLES = 3


def now() -> datetime:
    """Return the agent's current time in UTC: the system clock, plus the testing offset."""
    return datetime.now(UTC) + timedelta(seconds=_offset_seconds())


def _offset_seconds() -> float:
    text = os.environ.get(CLOCK_OFFSET_VARIABLE, "").strip()
    if not text:
        return 0.0
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise InvalidRequestError(
            f"{CLOCK_OFFSET_VARIABLE}={text}: not a number of seconds; unset it or set a "
            "number such as 7200 or -30.",
            code="clock_offset_invalid",
        )
    return value


@dataclass(frozen=True)
class ClockSkew:
    """One measurement of this host's clock against the primary's.

    ``skew_seconds`` is this host's time minus the primary's: positive when this
    host's clock is ahead. It assumes that the request and the response took
    equally long, so its error is at most half of ``round_trip_seconds``.
    """

    skew_seconds: float
    round_trip_seconds: float
    server_time: datetime
    local_time: datetime

    @property
    def within_tolerance(self) -> bool:
        """Whether the skew is at most ``TOLERATED_SKEW_SECONDS`` either way."""
        return abs(self.skew_seconds) <= TOLERATED_SKEW_SECONDS

    def describe(self) -> str:
        return f"{describe_skew(self.skew_seconds)} (round trip {self.round_trip_seconds * 1000:.0f} ms)"

    def to_json(self) -> dict[str, Any]:
        return {
            "clock_skew_seconds": round(self.skew_seconds, 3),
            "round_trip_seconds": round(self.round_trip_seconds, 6),
            "server_time": self.server_time,
            "local_time": self.local_time,
            "tolerated_skew_seconds": TOLERATED_SKEW_SECONDS,
            "within_tolerance": self.within_tolerance,
        }


def describe_skew(skew_seconds: float) -> str:
    """Return a sentence such as "This host's clock is 12.3 s ahead of the primary's"."""
    if abs(skew_seconds) < 0.05:
        return "This host's clock agrees with the primary's to within 0.1 s"
    direction = "ahead of" if skew_seconds > 0 else "behind"
    return f"This host's clock is {_duration(abs(skew_seconds))} {direction} the primary's"


def _duration(seconds: float) -> str:
    """Return "12.3 s", with hours or days added for a large value: "90000.0 s (25.0 h)"."""
    text = f"{seconds:.1f} s"
    if seconds >= 2 * 86400:
        return f"{text} ({seconds / 86400:.1f} days)"
    if seconds >= 2 * 3600:
        return f"{text} ({seconds / 3600:.1f} h)"
    if seconds >= 120:
        return f"{text} ({seconds / 60:.1f} min)"
    return text


def skew_sentence(skew_seconds: float) -> str:
    """Return the skew as a full sentence, with advice when it is large enough to matter."""
    return f"{describe_skew(skew_seconds)}. {_advice(skew_seconds)}".rstrip()


def _advice(skew_seconds: float) -> str:
    if abs(skew_seconds) <= TOLERATED_SKEW_SECONDS:
        return ""
    return "Correct this host's clock (for example with NTP) and try again."


def measure_skew(client: ApiClient) -> ClockSkew:
    """Measure the skew with ``GET /api/v1/time``, taking the midpoint of the round trip."""
    samples: list[ClockSkew] = []
    for _ in range(_SAMPLES):
        sent_at = now()
        started = time.monotonic()
        response = client.get_json("/api/v1/time")
        round_trip = time.monotonic() - started

        server_time = _server_time(response, client.base_url)
        local_time = sent_at + timedelta(seconds=round_trip / 2)
        samples.append(
            ClockSkew(
                skew_seconds=(local_time - server_time).total_seconds(),
                round_trip_seconds=round_trip,
                server_time=server_time,
                local_time=local_time,
            )
        )
    return min(samples, key=lambda sample: sample.round_trip_seconds)


def measure_clock_skew(state: StateDir, server: str, *, timeout: float) -> ClockSkew:
    """Measure the skew against ``server`` over HTTPS verified with the trusted CA."""
    from hostca.agent.connection import connect

    with connect(state, server, timeout=timeout) as client:
        return measure_skew(client)


def explain_time_error(
    error: ApiError, state: StateDir, server: str, *, timeout: float
) -> ApiError:
    """Return ``error`` with the clock skew stated in its message.

    The primary's ``clock_skew_seconds`` is used when the problem document has
    it. Its detail then already states the skew, so only advice is added.
    Otherwise the skew is measured now, and a failed measurement is stated too.
    """
    detail = error.message.rstrip()
    if error.clock_skew_seconds is not None:
        if "clock" in detail:
            return error.with_message(f"{detail} {_advice(error.clock_skew_seconds)}".rstrip())
        return error.with_message(f"{detail} {skew_sentence(error.clock_skew_seconds)}")
    return error.with_message(f"{detail} {skew_report(state, server, timeout=timeout)}")


def skew_report(state: StateDir, server: str, *, timeout: float) -> str:
    """Measure the skew and return it as a sentence, or a sentence with the reason it failed."""
    try:
        skew = measure_clock_skew(state, server, timeout=timeout)
    except HostcaError as failure:
        return f"The clock skew could not be measured: {failure.message}"
    return skew_sentence(skew.skew_seconds)


@contextmanager
def time_errors_explained(state: StateDir, server: str | None, *, timeout: float) -> Iterator[None]:
    """Re-raise a time error from the primary with the clock skew stated in its message."""
    from hostca.apiclient import ApiError

    try:
        yield
    except ApiError as error:
        if error.code not in TIME_ERROR_CODES or server is None:
            raise
        raise explain_time_error(error, state, server, timeout=timeout) from error


def _server_time(response: Any, url: str) -> datetime:
    text = response.get("time") if isinstance(response, dict) else None
    try:
        value = (
            datetime.fromisoformat(text.replace("Z", "+00:00")) if isinstance(text, str) else None
        )
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise UnavailableError(
            f"{url}/api/v1/time did not return a time with an offset; check that --server "
            "points to a hostca primary.",
            code="invalid_response",
        )
    return value.astimezone(UTC)
