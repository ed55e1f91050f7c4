"""Queries on hosts and their names."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, delete, func, insert, or_, select, update

from hostca.store.database import lock_for_transaction
from hostca.store.tables import host_names, hosts

__all__ = [
    "close_auto_reissue_window",
    "create_host",
    "delete_discovered_names",
    "delete_name",
    "find_host",
    "find_name_owners",
    "host_names_of",
    "hosts_with_ended_auto_reissue",
    "insert_host",
    "insert_name",
    "list_hosts",
    "lock_name",
    "mark_first_issued",
    "names_of_hosts",
    "pending_names",
    "set_name_state",
    "set_primary_name",
    "update_host",
]


# Enrolment and renewal run these. Built once, with bound parameters, they skip
# SQLAlchemy's statement construction and cache key walk.
_INSERT_HOST = insert(hosts)
_INSERT_NAME = insert(host_names)
_FIND_HOST = select(hosts).where(hosts.c.host_id == bindparam("host_id"))
_MARK_FIRST_ISSUED = (
    update(hosts)
    .where(hosts.c.host_id == bindparam("b_host_id"), hosts.c.first_issued_at.is_(None))
    .values(first_issued_at=bindparam("b_now", type_=hosts.c.first_issued_at.type))
)
_NAME_OWNERS = (
    select(host_names, hosts.c.primary_name, hosts.c.first_issued_at)
    .join(hosts, hosts.c.host_id == host_names.c.host_id)
    .where(host_names.c.name == bindparam("name"))
    .order_by(host_names.c.is_primary.desc(), host_names.c.id)
)
_APPROVED_NAME_OWNERS = _NAME_OWNERS.where(host_names.c.state == "approved")
_HOST_NAMES_OF = (
    select(host_names)
    .where(host_names.c.host_id == bindparam("host_id"))
    .order_by(host_names.c.is_primary.desc(), host_names.c.id)
)


def insert_host(connection: Connection, **values: Any) -> None:
    connection.execute(_INSERT_HOST, values)


def create_host(
    connection: Connection, primary_name: str, now: datetime, *, is_primary_server: bool = False
) -> str:
    """Create a host with a new random host ID (UUID version 4) and its primary name; return the ID."""
    host_id = str(uuid.uuid4())
    insert_host(
        connection,
        host_id=host_id,
        primary_name=primary_name,
        created_at=now,
        is_primary_server=is_primary_server,
    )
    insert_name(
        connection,
        host_id=host_id,
        name=primary_name,
        is_primary=True,
        state="approved",
        origin="admin",
        shared=False,
        created_at=now,
    )
    return host_id


def update_host(connection: Connection, host_id: str, **values: Any) -> None:
    connection.execute(update(hosts).where(hosts.c.host_id == host_id).values(**values))


def mark_first_issued(connection: Connection, host_id: str, now: datetime) -> None:
    """Record ``now`` as the time of the host's first certificate, unless it already has one."""
    connection.execute(_MARK_FIRST_ISSUED, {"b_host_id": host_id, "b_now": now})


def hosts_with_ended_auto_reissue(connection: Connection, now: datetime) -> list[Row[Any]]:
    return list(
        connection.execute(
            select(hosts).where(
                hosts.c.auto_reissue_until.is_not(None), hosts.c.auto_reissue_until <= now
            )
        )
    )


def close_auto_reissue_window(connection: Connection, host_id: str, now: datetime) -> bool:
    """Clear the host's auto-reissue window if it has ended; return whether this call did."""
    result = connection.execute(
        update(hosts)
        .where(hosts.c.host_id == host_id, hosts.c.auto_reissue_until <= now)
        .values(auto_reissue_until=None)
    )
    return result.rowcount == 1


def find_host(connection: Connection, host_id: str) -> Row[Any] | None:
    return connection.execute(_FIND_HOST, {"host_id": host_id}).one_or_none()


def lock_name(connection: Connection, name: str) -> None:
    """Keep other transactions from giving ``name`` to a host until this one ends.

    Without it, two PostgreSQL transactions could each find the name free and
    each give it to a host of their own.
    """
    lock_for_transaction(connection, f"hostca.name:{name}")


def find_name_owners(
    connection: Connection, name: str, *, approved_only: bool = True
) -> list[Row[Any]]:
    """Return the name rows for ``name`` joined with their host, primary names first."""
    query = _APPROVED_NAME_OWNERS if approved_only else _NAME_OWNERS
    return list(connection.execute(query, {"name": name}))


def host_names_of(connection: Connection, host_id: str) -> list[Row[Any]]:
    return list(connection.execute(_HOST_NAMES_OF, {"host_id": host_id}))


def insert_name(connection: Connection, **values: Any) -> None:
    connection.execute(_INSERT_NAME, values)


def set_name_state(connection: Connection, host_id: str, name: str, state: str) -> None:
    connection.execute(
        update(host_names)
        .where(host_names.c.host_id == host_id, host_names.c.name == name)
        .values(state=state)
    )


def delete_name(connection: Connection, host_id: str, name: str) -> int:
    result = connection.execute(
        delete(host_names).where(host_names.c.host_id == host_id, host_names.c.name == name)
    )
    return int(result.rowcount)


def delete_discovered_names(connection: Connection, host_id: str) -> list[str]:
    """Delete the host's discovered names, whatever their state, and return them."""
    condition = (
        (host_names.c.host_id == host_id)
        & (host_names.c.origin == "discovered")
        & ~host_names.c.is_primary
    )
    names = [row.name for row in connection.execute(select(host_names.c.name).where(condition))]
    connection.execute(delete(host_names).where(condition))
    return names


def set_primary_name(connection: Connection, host_id: str, name: str, now: datetime) -> str:
    """Make ``name`` the host's primary name and return the old one, which the host gives up.

    The host was renamed, so its old primary name is removed and free for another machine.
    """
    old = connection.execute(
        select(host_names.c.name).where(host_names.c.host_id == host_id, host_names.c.is_primary)
    ).scalar_one()
    connection.execute(
        delete(host_names).where(host_names.c.host_id == host_id, host_names.c.is_primary)
    )
    existing = connection.execute(
        select(host_names.c.id).where(host_names.c.host_id == host_id, host_names.c.name == name)
    ).one_or_none()
    if existing is None:
        insert_name(
            connection,
            host_id=host_id,
            name=name,
            is_primary=True,
            state="approved",
            origin="admin",
            shared=False,
            created_at=now,
        )
    else:
        connection.execute(
            update(host_names)
            .where(host_names.c.id == existing.id)
            .values(is_primary=True, state="approved", shared=False)
        )
    update_host(connection, host_id, primary_name=name)
    return str(old)


def list_hosts(
    connection: Connection, *, search: str | None, limit: int, offset: int
) -> tuple[list[Row[Any]], int]:
    query = select(hosts)
    count_query = select(func.count()).select_from(hosts)
    if search:
        # Search text is literal: escape LIKE's wildcards so "_" matches only "_".
        escaped = search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        matching_ids = select(host_names.c.host_id).where(
            host_names.c.name.like(pattern, escape="\\")
        )
        condition = or_(
            hosts.c.host_id.like(pattern, escape="\\"), hosts.c.host_id.in_(matching_ids)
        )
        query = query.where(condition)
        count_query = count_query.where(condition)
    rows = list(
        connection.execute(
            query.order_by(hosts.c.primary_name, hosts.c.host_id).limit(limit).offset(offset)
        )
    )
    total = int(connection.execute(count_query).scalar_one())
    return rows, total


def pending_names(connection: Connection) -> list[Row[Any]]:
    """Return the names waiting for approval, oldest first, with their host's primary name."""
    return list(
        connection.execute(
            select(host_names, hosts.c.primary_name)
            .join(hosts, hosts.c.host_id == host_names.c.host_id)
            .where(host_names.c.state == "pending")
            .order_by(host_names.c.created_at, host_names.c.id)
        )
    )


def names_of_hosts(connection: Connection, host_ids: Sequence[str]) -> dict[str, list[Row[Any]]]:
    by_host: dict[str, list[Row[Any]]] = {host_id: [] for host_id in host_ids}
    if not host_ids:
        return by_host
    for row in connection.execute(
        select(host_names)
        .where(host_names.c.host_id.in_(host_ids))
        .order_by(host_names.c.is_primary.desc(), host_names.c.id)
    ):
        by_host[row.host_id].append(row)
    return by_host
