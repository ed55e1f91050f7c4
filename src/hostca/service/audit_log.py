"""Append audit events to the hash chain, inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import structlog
from sqlalchemy import Connection, bindparam, insert, select, update

from hostca.core.audit import GENESIS_HASH, AuditRecord, compute_event_hash
from hostca.core.errors import HostcaError
from hostca.service.context import Actor, ServiceContext
from hostca.service.log_repeats import RepeatCounter
from hostca.store.tables import audit_chain_head, audit_events

__all__ = ["AuditClock", "AuditScope", "append_event", "audit_rejection", "record_failure"]

log = structlog.get_logger("hostca.audit")
# One log line per kind of rejection and source IP per minute; the audit log keeps every one.
_rejection_repeats = RepeatCounter()


class AuditClock(Protocol):
    """The part of a service context that appending an event needs: its clock.

    Commands that run beside the server without a full context, such as backup and
    restore, pass an object with a clock alone.
    """

    @property
    def clock(self) -> Callable[[], datetime]: ...


# Every state change runs these. Built once, they skip SQLAlchemy's statement
# construction. FOR UPDATE serializes appenders on PostgreSQL; SQLite's write
# lock, taken by BEGIN IMMEDIATE, already does.
_LOCK_CHAIN_HEAD = (
    select(audit_chain_head.c.sequence, audit_chain_head.c.event_hash)
    .where(audit_chain_head.c.id == 1)
    .with_for_update()
)
_INSERT_EVENT = insert(audit_events)
_ADVANCE_CHAIN_HEAD = (
    update(audit_chain_head)
    .where(audit_chain_head.c.id == 1)
    .values(sequence=bindparam("b_sequence"), event_hash=bindparam("b_event_hash"))
)


def _lock_chain_head(connection: Connection) -> tuple[int, str]:
    row = connection.execute(_LOCK_CHAIN_HEAD).one_or_none()
    if row is None:
        connection.execute(
            insert(audit_chain_head).values(id=1, sequence=0, event_hash=GENESIS_HASH)
        )
        return 0, GENESIS_HASH
    return int(row.sequence), str(row.event_hash)


# The audit columns' sizes. Longer values come only from bad input, such as a
# login with a user name of a megabyte, and are cut with an ellipsis so that the
# event is still written, on every backend.
_MAX_ACTOR = 128
_MAX_TARGET = 255


def _clip(value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    # PostgreSQL text cannot hold NUL, which only bad input brings; U+FFFD shows where it was.
    value = value.replace("\x00", "\ufffd")
    if len(value) <= limit:
        return value
    return value[: limit - 1] + "…"


def append_event(
    connection: Connection,
    context: AuditClock,
    *,
    category: str,
    action: str,
    actor: Actor,
    target: str | None = None,
    host_id: str | None = None,
    outcome: str = "success",
    error_code: str | None = None,
    reason: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> AuditRecord:
    """Write one event as the next link of the chain and return it."""
    last_sequence, previous_hash = _lock_chain_head(connection)
    record = AuditRecord(
        sequence=last_sequence + 1,
        time=context.clock(),
        category=category,
        action=action,
        actor=_clip(actor.name, _MAX_ACTOR) or "",
        source_ip=actor.source_ip,
        target=_clip(target, _MAX_TARGET),
        outcome=outcome,
        error_code=error_code,
        reason=reason,
        details=dict(details or {}),
    )
    event_hash = compute_event_hash(record, previous_hash)

    connection.execute(
        _INSERT_EVENT,
        {
            "sequence": record.sequence,
            "time": record.time,
            "category": category,
            "action": action,
            "actor": record.actor,
            "source_ip": record.source_ip,
            "target": record.target,
            "host_id": host_id,
            "outcome": outcome,
            "error_code": error_code,
            "reason": reason,
            "details": dict(record.details),
            "previous_hash": previous_hash,
            "event_hash": event_hash,
        },
    )
    connection.execute(
        _ADVANCE_CHAIN_HEAD, {"b_sequence": record.sequence, "b_event_hash": event_hash}
    )
    return record


def record_failure(
    context: ServiceContext,
    error: HostcaError,
    *,
    category: str,
    action: str,
    actor: Actor,
    target: str | None = None,
    host_id: str | None = None,
    reason: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Audit a rejected request in a transaction of its own, since the request's rolled back."""
    merged = {**error.details, **(details or {}), "message": error.message}
    with context.database.transaction() as connection:
        append_event(
            connection,
            context,
            category=category,
            action=action,
            actor=actor,
            target=target,
            host_id=host_id,
            outcome="failure",
            error_code=error.code,
            reason=reason,
            details=merged,
        )
    held_back = _rejection_repeats.admit((category, action, error.code, actor.source_ip))
    if held_back is None:
        return
    log.info(
        "request_rejected",
        category=category,
        action=action,
        actor=_clip(actor.name, _MAX_ACTOR),
        source_ip=actor.source_ip,
        target=_clip(target, _MAX_TARGET),
        code=error.code,
        repeats_held_back=held_back,
    )


@dataclass
class AuditScope:
    """Fields of a use case's failure event, which the block sets as they become known."""

    target: str | None = None
    host_id: str | None = None


@contextmanager
def audit_rejection(
    context: ServiceContext, *, category: str, action: str, actor: Actor, target: str | None
) -> Iterator[AuditScope]:
    """Record a ``HostcaError`` raised inside the block with ``record_failure``, and re-raise it."""
    scope = AuditScope(target=target)
    try:
        yield scope
    except HostcaError as error:
        record_failure(
            context,
            error,
            category=category,
            action=action,
            actor=actor,
            target=scope.target,
            host_id=scope.host_id,
        )
        raise
