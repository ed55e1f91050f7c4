"""Rate limits on failed logins and failed token redemptions, per source IP.

A source IP's window of ``rate_limit_window_seconds`` starts at its first failure
of a kind. Once it has ``rate_limit_failures`` failures of that kind in the
window, its requests of that kind get ``rate_limited`` until the window ends.
The check runs before the password or token is evaluated, so a limited caller
learns nothing more. The counts live in the database, so every worker and
replica shares them.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from hostca.core.errors import TooManyRequestsError
from hostca.service.context import ServiceContext
from hostca.service.domain_settings import DomainSettings, load_domain_settings
from hostca.store import auth_failure_records

__all__ = ["LOGIN", "REDEMPTION", "check_rate_limit", "check_rate_limit_on", "count_auth_failure"]

# The kinds of failure, counted apart.
LOGIN = "login"
REDEMPTION = "redemption"
_DESCRIPTIONS = {LOGIN: "failed logins", REDEMPTION: "failed token redemptions"}


def check_rate_limit(context: ServiceContext, kind: str, source_ip: str | None) -> None:
    """Raise ``rate_limited`` when ``source_ip`` has reached the limit of ``kind`` failures.

    ``details["retry_after"]`` is the number of seconds until the window ends.
    """
    # NOTE: a request without a source IP (a Unix socket, for example) is never limited.
    if source_ip is None:
        return

    with context.database.engine.connect() as connection:
        check_rate_limit_on(
            connection, load_domain_settings(connection), kind, source_ip, context.clock()
        )


def check_rate_limit_on(
    connection: Connection,
    settings: DomainSettings,
    kind: str,
    source_ip: str | None,
    now: datetime,
) -> None:
    """Check the rate limit as ``check_rate_limit`` does, on the caller's connection."""
    if source_ip is None:
        return

    current = auth_failure_records.find_failures(connection, source_ip, kind)
    if current is None:
        return
    window_start, failures = current
    window_end = window_start + timedelta(seconds=settings.rate_limit_window_seconds)
    if failures < settings.rate_limit_failures or window_end <= now:
        return

    retry_after = max(1, math.ceil((window_end - now).total_seconds()))
    raise TooManyRequestsError(
        f"{source_ip}: too many {_DESCRIPTIONS[kind]} ({failures} in "
        f"{settings.rate_limit_window_seconds} s); retry after {retry_after} s.",
        code="rate_limited",
        details={"retry_after": retry_after, "kind": kind, "failures": failures},
    )


def count_auth_failure(context: ServiceContext, kind: str, source_ip: str | None) -> None:
    """Count one failure of ``kind`` for ``source_ip``, and delete windows that have ended."""
    if source_ip is None:
        return

    # A second attempt covers a concurrent insert of the first row on PostgreSQL.
    for attempt in range(2):
        try:
            with context.database.transaction() as connection:
                window = timedelta(
                    seconds=load_domain_settings(connection).rate_limit_window_seconds
                )
                now = context.clock()
                auth_failure_records.increment_failures(
                    connection, source_ip, kind, now, cutoff=now - window
                )
                auth_failure_records.delete_windows_started_before(connection, now - window)
            return
        except IntegrityError:
            if attempt == 1:
                raise
