"""Find a host from what an administrator typed: a primary name, an alias or a host ID."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Connection, Row

from hostca.core.errors import InvalidRequestError, NotFoundError
from hostca.core.names import normalize_name
from hostca.store import host_records

__all__ = [
    "find_host_by_id",
    "parse_host_id",
    "resolve_host",
    "resolve_host_by_primary_name",
    "resolve_host_for_reissue",
]


class NameNotPrimaryError(InvalidRequestError):
    default_code = "name_not_primary"


def parse_host_id(text: str) -> str:
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError:
        raise InvalidRequestError(
            f"{text}: not a host ID; a host ID is a UUID such as 3f2c8a4e-...; "
            "'hostca host list' shows them.",
            code="host_id_invalid",
        ) from None


def find_host_by_id(connection: Connection, host_id: str) -> Row[Any]:
    host = host_records.find_host(connection, parse_host_id(host_id))
    if host is None:
        raise NotFoundError(
            f"{host_id}: no host has this host ID; 'hostca host list' shows the hosts.",
            code="host_not_found",
        )
    return host


def resolve_host_by_primary_name(connection: Connection, raw_name: str) -> Row[Any]:
    """Return the host whose primary name is ``raw_name``; an alias is rejected by name."""
    name = normalize_name(raw_name)
    owners = host_records.find_name_owners(connection, name)
    if not owners:
        raise NotFoundError(
            f"{name}: no host has this name; 'hostca host list --search' finds hosts.",
            code="host_not_found",
        )
    primary = next((row for row in owners if row.is_primary), None)
    if primary is None:
        details = {"name": name, "primary_names": [row.primary_name for row in owners]}
        if len(owners) == 1:
            owner = owners[0]
            message = (
                f"{name}: not the primary name of host {owner.host_id}; "
                f"use {owner.primary_name} or the host ID."
            )
        else:
            hosts = ", ".join(f"{row.primary_name} (host ID {row.host_id})" for row in owners)
            message = f"{name}: an alias shared by several hosts ({hosts}); use a primary name or a host ID."
        raise NameNotPrimaryError(message, details=details)
    return find_host_by_id(connection, primary.host_id)


def resolve_host_for_reissue(
    connection: Connection, *, host: str | None, host_id: str | None
) -> str:
    if host_id is not None:
        return str(find_host_by_id(connection, host_id).host_id)
    assert host is not None
    return str(resolve_host_by_primary_name(connection, host).host_id)


def resolve_host(connection: Connection, reference: str) -> Row[Any]:
    """Return the host named by a host ID, a primary name or an unshared alias."""
    try:
        uuid.UUID(reference.strip())
    except ValueError:
        pass
    else:
        return find_host_by_id(connection, reference)
    name = normalize_name(reference)
    owners = host_records.find_name_owners(connection, name)
    if not owners:
        raise NotFoundError(
            f"{name}: no host has this name; 'hostca host list --search' finds hosts.",
            code="host_not_found",
        )
    if len({row.host_id for row in owners}) > 1:
        hosts = ", ".join(f"{row.primary_name} ({row.host_id})" for row in owners)
        raise InvalidRequestError(
            f"{name}: shared by several hosts ({hosts}); name one by its primary name or host ID.",
            code="name_ambiguous",
        )
    return find_host_by_id(connection, owners[0].host_id)
