"""Read and verify the audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row

from hostca.core.audit import AuditRecord, ChainBreak, ChainedEvent, verify_chain
from hostca.core.errors import InvalidRequestError
from hostca.service.context import ServiceContext
from hostca.store import audit_records

__all__ = ["AuditQuery", "event_view", "list_events", "verify_events"]

CATEGORIES = ("CERT", "TOKEN", "HOST", "LOGIN", "SEC_CONFIG")


@dataclass(frozen=True)
class AuditQuery:
    category: str | None = None
    since: datetime | None = None
    host_id: str | None = None
    actor: str | None = None
    limit: int = 1000
    offset: int = 0
    latest: bool = False
    until: datetime | None = None


def event_view(row: Row[Any]) -> dict[str, Any]:
    return {
        "sequence": row.sequence,
        "time": row.time,
        "category": row.category,
        "action": row.action,
        "actor": row.actor,
        "source_ip": row.source_ip,
        "target": row.target,
        "host_id": row.host_id,
        "outcome": row.outcome,
        "error_code": row.error_code,
        "reason": row.reason,
        "details": row.details,
    }


def list_events(context: ServiceContext, query: AuditQuery) -> list[dict[str, Any]]:
    category = query.category.upper() if query.category else None
    if category is not None and category not in CATEGORIES:
        raise InvalidRequestError(
            f"{query.category}: unknown category; use one of {', '.join(CATEGORIES)}.",
            code="category_invalid",
        )
    with context.database.engine.connect() as connection:
        rows = audit_records.list_events(
            connection,
            category=category,
            since=query.since,
            host_id=query.host_id,
            actor=query.actor,
            limit=min(max(query.limit, 1), 100_000),
            offset=max(query.offset, 0),
            latest=query.latest,
            until=query.until,
        )
    return [event_view(row) for row in rows]


def _chained(row: Row[Any]) -> ChainedEvent:
    record = AuditRecord(
        sequence=row.sequence,
        time=row.time,
        category=row.category,
        action=row.action,
        actor=row.actor,
        source_ip=row.source_ip,
        target=row.target,
        outcome=row.outcome,
        error_code=row.error_code,
        reason=row.reason,
        details=row.details,
    )
    return ChainedEvent(record=record, previous_hash=row.previous_hash, event_hash=row.event_hash)


def verify_events(context: ServiceContext) -> tuple[int, list[ChainBreak]]:
    """Check the whole chain; return the number of events and every break found."""
    with context.database.engine.connect() as connection:
        events = [_chained(row) for row in audit_records.iterate_events(connection)]
    return len(events), verify_chain(events)
