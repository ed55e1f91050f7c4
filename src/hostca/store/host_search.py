"""Host search for large domains: prefix matches and keyset pagination.

A host matches when its primary name, another of its names, or its host ID starts
with the search text. Each of the three is one query that walks an index in list
order and stops after one page, and the pages are merged. Pages are ordered by
primary name and host ID, and a page starts after (or ends before) the key of a
row the caller has seen, so the cost of a page does not grow with its position in
a list of a million hosts.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, Select, and_, false, not_, select

from hostca.store.tables import host_names, hosts

__all__ = ["MIN_HOST_ID_PREFIX", "HostKey", "search_hosts"]

HostKey = tuple[str, str]
"""The position of a host in the list: its primary name and host ID."""

# Shorter host ID prefixes match a large share of all hosts (one in 16 per hex
# digit) and are more likely the start of a name.
MIN_HOST_ID_PREFIX = 4
_HOST_ID_PREFIX = re.compile(r"[0-9a-f-]+")


def _prefix_range(column: Any, prefix: str) -> ColumnElement[bool]:
    # Names and host IDs are ASCII, so the prefix's successor bounds the range.
    successor = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    condition: ColumnElement[bool] = and_(column >= prefix, column < successor)
    return condition


def _page(
    query: Select[Any], after: HostKey | None, before: HostKey | None, limit: int
) -> Select[Any]:
    """Restrict ``query`` to the rows after or before a key, in list order, one page long."""
    if before is not None:
        query = query.where(
            hosts.c.primary_name <= before[0],
            not_(and_(hosts.c.primary_name == before[0], hosts.c.host_id >= before[1])),
        )
        return query.order_by(hosts.c.primary_name.desc(), hosts.c.host_id.desc()).limit(limit)
    if after is not None:
        query = query.where(
            hosts.c.primary_name >= after[0],
            not_(and_(hosts.c.primary_name == after[0], hosts.c.host_id <= after[1])),
        )
    return query.order_by(hosts.c.primary_name, hosts.c.host_id).limit(limit)


def _matching_queries(prefix: str) -> list[Select[Any]]:
    by_primary_name = select(hosts).where(_prefix_range(hosts.c.primary_name, prefix))
    other_names = select(host_names.c.host_id).where(
        host_names.c.is_primary == false(), _prefix_range(host_names.c.name, prefix)
    )
    queries = [by_primary_name, select(hosts).where(hosts.c.host_id.in_(other_names))]
    if len(prefix) >= MIN_HOST_ID_PREFIX and _HOST_ID_PREFIX.fullmatch(prefix):
        queries.append(select(hosts).where(_prefix_range(hosts.c.host_id, prefix)))
    return queries


def search_hosts(
    connection: Connection,
    *,
    prefix: str | None,
    after: HostKey | None,
    before: HostKey | None,
    limit: int,
) -> tuple[list[Row[Any]], bool]:
    """Return one page of hosts and whether more rows lie beyond it in its direction."""
    queries = _matching_queries(prefix) if prefix else [select(hosts)]

    found: dict[str, Row[Any]] = {}
    for query in queries:
        for row in connection.execute(_page(query, after, before, limit + 1)):
            found[row.host_id] = row
    rows = sorted(found.values(), key=lambda row: (row.primary_name, row.host_id))
    if before is not None:
        rows = rows[-(limit + 1) :]
        more = len(rows) > limit
        return rows[-limit:] if more else rows, more
    more = len(rows) > limit
    return rows[:limit], more
