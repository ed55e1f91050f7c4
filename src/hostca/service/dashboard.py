"""The figures on the console's dashboard."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from hostca.service.context import ServiceContext
from hostca.store import summary_records

__all__ = ["EXPIRING_WITHIN", "Dashboard", "ExpiryBucket", "load_dashboard"]

# A certificate counts as expiring when its not_after is this close.
EXPIRING_WITHIN = timedelta(days=30)

# The expiry chart covers 90 days in 13 weekly bars (91 days).
_CHART_BUCKET = timedelta(days=7)
_CHART_BUCKETS = 13


@dataclass(frozen=True)
class ExpiryBucket:
    start: datetime
    end: datetime
    count: int


@dataclass(frozen=True)
class Dashboard:
    hosts: int
    valid_certificates: int
    revoked_certificates: int
    expiring_certificates: int
    live_tokens: int
    pending_mappings: int
    expiry: tuple[ExpiryBucket, ...]
    generated_at: datetime


def load_dashboard(context: ServiceContext) -> Dashboard:
    now = context.clock()
    with context.database.engine.connect() as connection:
        buckets = []
        for index in range(_CHART_BUCKETS):
            start = now + index * _CHART_BUCKET
            end = start + _CHART_BUCKET
            count = summary_records.count_expiring(connection, start, end)
            buckets.append(ExpiryBucket(start, end, count))
        return Dashboard(
            hosts=summary_records.count_hosts(connection),
            valid_certificates=summary_records.count_certificates(connection, "valid", now),
            revoked_certificates=summary_records.count_certificates(connection, "revoked", now),
            expiring_certificates=summary_records.count_expiring(
                connection, now, now + EXPIRING_WITHIN
            ),
            live_tokens=summary_records.count_live_tokens(connection, now),
            pending_mappings=summary_records.count_pending_names(connection),
            expiry=tuple(buckets),
            generated_at=now,
        )
