"""Find a host from what an administrator typed: a primary name, an alias or a host ID."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Connection, Row

from hostca.core.errors import ForbiddenError, InvalidRequestError, NotFoundError
from hostca.core.names import normalize_name
from hostca.store import host_records

__all__ = [
    "check_not_primary_server",
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
    """Return the host a reissue token is for, named by exactly one of its primary name or host ID."""
    if host is not None and host_id is not None:
        raise InvalidRequestError(
            "give the host of a reissue token by --host PRIMARY_NAME or by --host-id ID, not both.",
            code="invalid_request",
        )
    row = find_host_by_id(connection, host_id) if host_id is not None else None
    if row is None:
        assert host is not None
        row = resolve_host_by_primary_name(connection, host)
    check_not_primary_server(row)
    return str(row.host_id)


def check_not_primary_server(host: Row[Any]) -> None:
    """Reject a token or window for the primary server's own host.

    Its certificate is the server's TLS identity: handing it to an enrolling host
    would let that host impersonate the primary.
    """
    if host.is_primary_server:
        raise ForbiddenError(
            f"{host.primary_name}: the primary server's own host ({host.host_id}); its certificate is "
            "the server's TLS identity and is never issued to an enrolling host.",
            code="host_is_primary_server",
            details={"host_id": host.host_id},
        )


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
