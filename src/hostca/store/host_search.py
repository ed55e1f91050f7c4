"""Host search for large domains: prefix matches and keyset pagination.

Every query walks an index. A name matches when it starts with the search text,
and a host matches when one of its names does, or when its host ID starts with
the text. Pages are ordered by primary name and host ID, and a page starts after
(or ends before) the key of a row the caller has seen, so the cost of a page does
not grow with its position in a list of a million hosts.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, and_, not_, or_, select

from hostca.store.tables import host_names, hosts

__all__ = ["HostKey", "search_hosts"]

HostKey = tuple[str, str]
"""The position of a host in the list: its primary name and host ID."""


def _prefix_range(column: Any, prefix: str) -> ColumnElement[bool]:
    # Names and host IDs are ASCII, so the prefix's successor bounds the range.
    successor = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    condition: ColumnElement[bool] = and_(column >= prefix, column < successor)
    return condition


def _matching(prefix: str) -> ColumnElement[bool]:
    named = select(host_names.c.host_id).where(_prefix_range(host_names.c.name, prefix))
    condition: ColumnElement[bool] = or_(
        hosts.c.host_id.in_(named), _prefix_range(hosts.c.host_id, prefix)
    )
    return condition


def search_hosts(
    connection: Connection,
    *,
    prefix: str | None,
    after: HostKey | None,
    before: HostKey | None,
    limit: int,
) -> tuple[list[Row[Any]], bool]:
    """Return one page of hosts and whether more rows lie beyond it in its direction."""
    query = select(hosts)
    if prefix:
        query = query.where(_matching(prefix))
    if after is not None:
        query = query.where(
            hosts.c.primary_name >= after[0],
            not_(and_(hosts.c.primary_name == after[0], hosts.c.host_id <= after[1])),
        )
        query = query.order_by(hosts.c.primary_name, hosts.c.host_id)
    elif before is not None:
        query = query.where(
            hosts.c.primary_name <= before[0],
            not_(and_(hosts.c.primary_name == before[0], hosts.c.host_id >= before[1])),
        )
        query = query.order_by(hosts.c.primary_name.desc(), hosts.c.host_id.desc())
    else:
        query = query.order_by(hosts.c.primary_name, hosts.c.host_id)
    rows = list(connection.execute(query.limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    if before is not None:
        rows.reverse()
    return rows, more
