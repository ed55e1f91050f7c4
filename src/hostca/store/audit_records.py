"""Queries on audit events."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select

from hostca.store.tables import audit_events

__all__ = ["iterate_events", "list_events"]


def list_events(
    connection: Connection,
    *,
    category: str | None,
    since: datetime | None,
    host_id: str | None,
    actor: str | None,
    limit: int,
    offset: int,
    latest: bool = False,
    until: datetime | None = None,
) -> list[Row[Any]]:
    """Return matching events in sequence order; with ``latest``, the newest ``limit`` of them."""
    order = audit_events.c.sequence.desc() if latest else audit_events.c.sequence
    query = select(audit_events).order_by(order)
    if category:
        query = query.where(audit_events.c.category == category)
    if since:
        query = query.where(audit_events.c.time >= since)
    if until:
        query = query.where(audit_events.c.time < until)
    if host_id:
        query = query.where(audit_events.c.host_id == host_id)
    if actor:
        query = query.where(audit_events.c.actor == actor)
    rows = list(connection.execute(query.limit(limit).offset(offset)))
    return rows[::-1] if latest else rows


def iterate_events(connection: Connection, batch_size: int = 5000) -> Iterator[Row[Any]]:
    """Yield every event in sequence order, a batch at a time."""
    last = 0
    while True:
        batch = list(
            connection.execute(
                select(audit_events)
                .where(audit_events.c.sequence > last)
                .order_by(audit_events.c.sequence)
                .limit(batch_size)
            )
        )
        if not batch:
            return
        yield from batch
        last = batch[-1].sequence
