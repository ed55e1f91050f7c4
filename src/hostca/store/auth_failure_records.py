"""Queries on the auth_failures table: failure counts per source IP and kind."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, bindparam, case, delete, insert, select, update

from hostca.store.tables import auth_failures

__all__ = ["delete_windows_started_before", "find_failures", "increment_failures"]


# Every token redemption and login reads this. Built once, with bound parameters.
_FIND_FAILURES = select(auth_failures.c.window_start, auth_failures.c.failures).where(
    auth_failures.c.source_ip == bindparam("source_ip"), auth_failures.c.kind == bindparam("kind")
)


def find_failures(connection: Connection, source_ip: str, kind: str) -> tuple[datetime, int] | None:
    """Return the start of the current window and its failure count, or None."""
    row = connection.execute(_FIND_FAILURES, {"source_ip": source_ip, "kind": kind}).one_or_none()
    return None if row is None else (row.window_start, int(row.failures))


def increment_failures(
    connection: Connection, source_ip: str, kind: str, now: datetime, cutoff: datetime
) -> None:
    """Add one failure, starting a new window at ``now`` when the current one started at or
    before ``cutoff``.

    A concurrent first failure on PostgreSQL can make the insert raise
    ``IntegrityError``, and the caller then retries in a new transaction, which updates.
    """
    # Both assignments read the old row, as SQL evaluates every SET expression
    # before it assigns any of them.
    window_ended = auth_failures.c.window_start <= cutoff
    updated = connection.execute(
        update(auth_failures)
        .where(auth_failures.c.source_ip == source_ip, auth_failures.c.kind == kind)
        .values(
            failures=case((window_ended, 1), else_=auth_failures.c.failures + 1),
            window_start=case((window_ended, now), else_=auth_failures.c.window_start),
        )
    )
    if updated.rowcount == 0:
        connection.execute(
            insert(auth_failures).values(
                source_ip=source_ip, kind=kind, window_start=now, failures=1
            )
        )


def delete_windows_started_before(connection: Connection, cutoff: datetime) -> None:
    connection.execute(delete(auth_failures).where(auth_failures.c.window_start < cutoff))
