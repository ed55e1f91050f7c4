"""Names a host requests that are not yet mapped to it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection

from hostca.store import host_records

__all__ = ["record_discovered_names"]


def record_discovered_names(
    connection: Connection, host_id: str, names: Iterable[str], *, auto_map: bool, now: datetime
) -> None:
    """Add each unmapped name as a discovered mapping of the host.

    With ``auto_map`` on, a name no other host uses is approved at once. Anything
    else waits in the approval list: a name another host uses (a conflict) is never
    approved automatically.
    """
    for name in names:
        rows = host_records.find_name_owners(connection, name, approved_only=False)
        if any(row.host_id == host_id for row in rows):
            continue
        used_elsewhere = any(row.state == "approved" for row in rows)
        state = "approved" if auto_map and not used_elsewhere else "pending"
        host_records.insert_name(
            connection,
            host_id=host_id,
            name=name,
            is_primary=False,
            state=state,
            origin="discovered",
            shared=False,
            created_at=now,
        )
