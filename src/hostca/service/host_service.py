"""Use cases for hosts and their name mappings."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Row

from hostca.core.errors import ConflictError, InvalidRequestError, NotFoundError
from hostca.core.names import is_ip_address, normalize_name
from hostca.service.audit_log import append_event, audit_rejection
from hostca.service.certificate_views import certificate_view
from hostca.service.context import Actor, ServiceContext
from hostca.service.host_lookup import check_not_primary_server, resolve_host
from hostca.store import certificate_records, host_records

__all__ = [
    "add_host",
    "add_mapping",
    "decide_mapping",
    "host_summary",
    "host_view",
    "list_hosts",
    "pending_mappings",
    "remove_mapping",
    "reset_host",
    "set_auto_reissue",
    "show_host",
]

MAX_PAGE = 1000


def mapping_view(row: Row[Any]) -> dict[str, Any]:
    return {
        "name": row.name,
        "state": row.state,
        "shared": bool(row.shared),
        "origin": row.origin,
        "primary": bool(row.is_primary),
    }


def host_view(host: Row[Any], names: list[Row[Any]]) -> dict[str, Any]:
    return {
        "host_id": host.host_id,
        "primary_name": host.primary_name,
        "created_at": host.created_at,
        "first_issued_at": host.first_issued_at,
        "auto_reissue_until": host.auto_reissue_until,
        "mappings": [mapping_view(row) for row in names if not row.is_primary],
    }


def list_hosts(
    context: ServiceContext, *, search: str | None, limit: int = 100, offset: int = 0
) -> dict[str, Any]:
    limit = max(1, min(limit, MAX_PAGE))
    with context.database.engine.connect() as connection:
        rows, total = host_records.list_hosts(
            connection, search=search, limit=limit, offset=max(0, offset)
        )
        names = host_records.names_of_hosts(connection, [row.host_id for row in rows])
    return {"total": total, "hosts": [host_view(row, names[row.host_id]) for row in rows]}


def show_host(context: ServiceContext, reference: str) -> dict[str, Any]:
    now = context.clock()
    with context.database.engine.connect() as connection:
        host = resolve_host(connection, reference)
        view = host_view(host, host_records.host_names_of(connection, host.host_id))
        certificates = certificate_records.list_certificates(
            connection, host_id=host.host_id, status=None, now=now, limit=MAX_PAGE, offset=0
        )
    view["certificates"] = [certificate_view(row, now) for row in certificates]
    return view


def add_host(context: ServiceContext, actor: Actor, raw_name: str) -> dict[str, Any]:
    """Pre-register a host by its primary name, before it has a certificate."""
    now = context.clock()
    with audit_rejection(context, category="HOST", action="add", actor=actor, target=raw_name):
        name = normalize_name(raw_name)
        if is_ip_address(name):
            raise InvalidRequestError(
                f"{name}: a primary name must be a DNS name, because it is the first DNS name of the "
                "host's certificate; pre-register the host's DNS name and map the address to it.",
                code="name_invalid",
            )
        with context.database.transaction() as connection:
            _check_name_free(connection, name, host_id=None)
            host_id = host_records.create_host(connection, name, now)
            append_event(
                connection,
                context,
                category="HOST",
                action="add",
                actor=actor,
                target=name,
                host_id=host_id,
            )
            host = host_records.find_host(connection, host_id)
            assert host is not None
            return host_view(host, host_records.host_names_of(connection, host_id))


def _check_name_free(
    connection: Connection, name: str, host_id: str | None, *, shared: bool = False
) -> None:
    host_records.lock_name(connection, name)
    for owner in host_records.find_name_owners(connection, name):
        if owner.host_id == host_id:
            raise ConflictError(f"{name}: already a name of host {host_id}.", code="mapping_exists")
        if not (shared and owner.shared):
            if owner.is_primary:
                hint = "it is that host's primary name, which can be neither shared nor removed"
            elif shared:
                hint = "it is not shared there, so remove it from that host first"
            elif host_id is None:
                hint = "remove it from that host first"
            else:
                hint = "remove it there first, or use --shared on both hosts for a cluster name"
            raise ConflictError(
                f"{name}: already a name of host {owner.host_id} ({owner.primary_name}); {hint}.",
                code="name_conflict",
                details={"name": name, "host_id": owner.host_id},
            )


def add_mapping(
    context: ServiceContext, actor: Actor, host_ref: str, raw_name: str, *, shared: bool
) -> dict[str, Any]:
    """Add an approved name to a host, or approve its pending discovered name."""
    now = context.clock()
    with audit_rejection(
        context, category="HOST", action="mapping_add", actor=actor, target=raw_name
    ) as audit:
        name = normalize_name(raw_name)
        with context.database.transaction() as connection:
            host = resolve_host(connection, host_ref)
            host_id = audit.host_id = str(host.host_id)
            existing = next(
                (r for r in host_records.host_names_of(connection, host_id) if r.name == name), None
            )
            if existing is not None and existing.state == "approved":
                raise ConflictError(
                    f"{name}: already an approved name of host {host.primary_name}.",
                    code="mapping_exists",
                )
            _check_name_free(connection, name, host_id, shared=shared)
            if existing is not None:
                host_records.delete_name(connection, host_id, name)
            host_records.insert_name(
                connection,
                host_id=host_id,
                name=name,
                is_primary=False,
                state="approved",
                origin="admin",
                shared=shared,
                created_at=now,
            )
            append_event(
                connection,
                context,
                category="HOST",
                action="mapping_add",
                actor=actor,
                target=name,
                host_id=host_id,
                details={"shared": shared},
            )
            return host_view(host, host_records.host_names_of(connection, host_id))


def remove_mapping(
    context: ServiceContext, actor: Actor, host_ref: str, raw_name: str
) -> dict[str, Any]:
    with audit_rejection(
        context, category="HOST", action="mapping_remove", actor=actor, target=raw_name
    ) as audit:
        name = normalize_name(raw_name)
        with context.database.transaction() as connection:
            host = resolve_host(connection, host_ref)
            host_id = audit.host_id = str(host.host_id)
            if name == host.primary_name:
                raise InvalidRequestError(
                    f"{name}: the primary name of host {host_id} cannot be removed; a reissue to "
                    "another approved name changes the primary name.",
                    code="name_is_primary",
                )
            if host_records.delete_name(connection, host_id, name) == 0:
                raise NotFoundError(
                    f"{name}: not a name of host {host.primary_name}.", code="mapping_not_found"
                )
            append_event(
                connection,
                context,
                category="HOST",
                action="mapping_remove",
                actor=actor,
                target=name,
                host_id=host_id,
            )
            return host_view(host, host_records.host_names_of(connection, host_id))


def pending_mappings(context: ServiceContext) -> list[dict[str, Any]]:
    """List discovered names that wait for approval, each with the hosts it conflicts with."""
    result = []
    with context.database.engine.connect() as connection:
        for row in host_records.pending_names(connection):
            conflicts = [
                owner
                for owner in host_records.find_name_owners(connection, row.name)
                if owner.host_id != row.host_id
            ]
            result.append(
                {
                    "host_id": row.host_id,
                    "primary_name": row.primary_name,
                    "name": row.name,
                    "origin": row.origin,
                    "shared": bool(row.shared),
                    "created_at": row.created_at,
                    "conflicts_with": [
                        {"host_id": owner.host_id, "primary_name": owner.primary_name}
                        for owner in conflicts
                    ],
                }
            )
    return result


def host_summary(context: ServiceContext, host_id: str) -> dict[str, Any]:
    """Return a host with its mappings, without its certificates."""
    with context.database.engine.connect() as connection:
        host = host_records.find_host(connection, host_id)
        if host is None:
            raise NotFoundError(f"{host_id}: no host has this host ID.", code="host_not_found")
        return host_view(host, host_records.host_names_of(connection, host_id))


AUTO_REISSUE_DEFAULT_MINUTES = 2880
AUTO_REISSUE_MAX_MINUTES = 43_200


def set_auto_reissue(
    context: ServiceContext, actor: Actor, host_ref: str, minutes: int | None
) -> dict[str, Any]:
    """Open the host's auto-reissue window for ``minutes``, or close it when ``minutes`` is None."""
    action = "auto_reissue_disallow" if minutes is None else "auto_reissue_allow"
    with audit_rejection(
        context, category="HOST", action=action, actor=actor, target=host_ref
    ) as audit:
        if minutes is not None and not 0 <= minutes <= AUTO_REISSUE_MAX_MINUTES:
            raise InvalidRequestError(
                f"{minutes}: the auto-reissue window must be from 0 to {AUTO_REISSUE_MAX_MINUTES:,} minutes "
                f"(the default is {AUTO_REISSUE_DEFAULT_MINUTES:,}).",
                code="minutes_invalid",
            )
        now = context.clock()
        until = None if minutes is None else now + timedelta(minutes=minutes)
        with context.database.transaction() as connection:
            host = resolve_host(connection, host_ref)
            host_id = audit.host_id = str(host.host_id)
            if until is not None:
                check_not_primary_server(host)
            host_records.update_host(connection, host_id, auto_reissue_until=until)
            append_event(
                connection,
                context,
                category="HOST",
                action=action,
                actor=actor,
                target=host.primary_name,
                host_id=host_id,
                details={"minutes": minutes, "until": until.isoformat() if until else None},
            )
            updated = host_records.find_host(connection, host_id)
            assert updated is not None
            return host_view(updated, host_records.host_names_of(connection, host_id))


def decide_mapping(
    context: ServiceContext, actor: Actor, host_ref: str, raw_name: str, *, approve: bool
) -> dict[str, Any]:
    """Approve or reject a name that waits in the approval list."""
    action = "mapping_approve" if approve else "mapping_reject"
    with audit_rejection(
        context, category="HOST", action=action, actor=actor, target=raw_name
    ) as audit:
        name = normalize_name(raw_name)
        with context.database.transaction() as connection:
            host = resolve_host(connection, host_ref)
            host_id = audit.host_id = str(host.host_id)
            row = next(
                (r for r in host_records.host_names_of(connection, host_id) if r.name == name), None
            )
            if row is None or row.state != "pending":
                state = "not a name of this host" if row is None else f"already {row.state}"
                raise NotFoundError(
                    f"{name}: not waiting for approval on host {host.primary_name} ({state}); "
                    "'hostca host mapping pending' lists the names that wait.",
                    code="mapping_not_pending",
                )
            if approve:
                # A conflict is never approved: the other host must give the name up first.
                _check_name_free(connection, name, host_id, shared=bool(row.shared))
            host_records.set_name_state(
                connection, host_id, name, "approved" if approve else "rejected"
            )
            append_event(
                connection,
                context,
                category="HOST",
                action=action,
                actor=actor,
                target=name,
                host_id=host_id,
            )
            return host_view(host, host_records.host_names_of(connection, host_id))


def reset_host(context: ServiceContext, actor: Actor, host_ref: str) -> dict[str, Any]:
    """Clear the host's discovered names and auto-reissue window.

    The host ID, primary name, mappings added by an administrator and certificates stay.
    """
    with (
        audit_rejection(
            context, category="HOST", action="reset", actor=actor, target=host_ref
        ) as audit,
        context.database.transaction() as connection,
    ):
        host = resolve_host(connection, host_ref)
        host_id = audit.host_id = str(host.host_id)
        removed = host_records.delete_discovered_names(connection, host_id)
        host_records.update_host(connection, host_id, auto_reissue_until=None)
        append_event(
            connection,
            context,
            category="HOST",
            action="reset",
            actor=actor,
            target=host.primary_name,
            host_id=host_id,
            details={"removed_names": removed},
        )
        updated = host_records.find_host(connection, host_id)
        assert updated is not None
        return host_view(updated, host_records.host_names_of(connection, host_id))
