"""Host search with keyset pages, for domains of up to millions of hosts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from hostca.core.errors import InvalidRequestError
from hostca.service.context import ServiceContext
from hostca.service.host_service import host_view
from hostca.store import host_records
from hostca.store.host_search import HostKey, search_hosts

__all__ = ["HostPage", "HostSearch", "find_hosts"]

MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class HostSearch:
    """A search: the text a name or host ID starts with, and a page cursor from a HostPage."""

    text: str | None = None
    after: str | None = None
    before: str | None = None
    limit: int = 50


@dataclass(frozen=True)
class HostPage:
    hosts: list[dict[str, Any]]
    next_cursor: str | None
    previous_cursor: str | None


def _cursor(host: dict[str, Any]) -> str:
    return f"{host['primary_name']} {host['host_id']}"


def _parse_cursor(cursor: str | None) -> HostKey | None:
    if not cursor:
        return None
    name, _, host_id = cursor.strip().rpartition(" ")
    try:
        uuid.UUID(host_id)
    except ValueError:
        name = ""
    if not name:
        raise InvalidRequestError(
            f"{cursor}: not a page position of the host list; start again from the first page.",
            code="cursor_invalid",
        )
    return name, host_id


def find_hosts(context: ServiceContext, search: HostSearch) -> HostPage:
    text = (search.text or "").strip().lower() or None
    after = _parse_cursor(search.after)
    before = None if after else _parse_cursor(search.before)
    limit = max(1, min(search.limit, MAX_PAGE_SIZE))

    with context.database.engine.connect() as connection:
        rows, more = search_hosts(connection, prefix=text, after=after, before=before, limit=limit)
        names = host_records.names_of_hosts(connection, [row.host_id for row in rows])
    found = [host_view(row, names[row.host_id]) for row in rows]

    if not found:
        return HostPage(found, None, None)
    backwards = before is not None
    has_next = (not backwards and more) or backwards
    has_previous = (backwards and more) or after is not None
    return HostPage(
        found,
        _cursor(found[-1]) if has_next else None,
        _cursor(found[0]) if has_previous else None,
    )
