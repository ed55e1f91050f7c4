"""``hostca host``: list, show and pre-register hosts, and manage their name mappings.

A host is named by its primary name, one of its approved names or its host ID;
the server resolves the reference and enforces every rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from hostca.cli.output import emit, emit_table, format_time, json_option

__all__ = ["host"]

_HOST_HELP = "HOST is a primary name, an approved name or a host ID."


@click.group("host")
def host() -> None:
    """List, show and pre-register hosts, and manage their name mappings."""


@host.command("list")
@click.option("--search", metavar="TEXT", help="Show only hosts with a name or ID containing TEXT.")
@click.option("--limit", type=int, help="Show at most this many hosts (server default 100).")
@click.option("--offset", type=int, help="Skip this many hosts first, for paging.")
@json_option
def list_(search: str | None, limit: int | None, offset: int | None, as_json: bool) -> None:
    """List hosts with their primary names and mappings."""
    from hostca.cli.session import admin_client

    params = {
        key: str(value)
        for key, value in (("search", search), ("limit", limit), ("offset", offset))
        if value is not None
    }
    with admin_client() as client:
        page = client.get_json("/api/v1/hosts", params=params)
    emit(page, as_json, _list_text)


def _list_text(page: dict[str, Any]) -> str:
    hosts = page.get("hosts") or []
    if not hosts:
        return "No hosts."
    rows = [
        (
            item["primary_name"],
            item["host_id"],
            _first_issued(item),
            ", ".join(_mapping_label(mapping) for mapping in item.get("mappings", [])) or "-",
        )
        for item in hosts
    ]
    table = emit_table(rows, ["PRIMARY NAME", "HOST ID", "FIRST CERTIFICATE", "MAPPINGS"])
    return f"{table}\n({len(hosts)} of {page.get('total', len(hosts))} hosts)"


def _first_issued(item: dict[str, Any]) -> str:
    issued = item.get("first_issued_at")
    return "none yet" if issued is None else format_time(issued)


def _mapping_label(mapping: dict[str, Any]) -> str:
    notes = [] if mapping.get("state") == "approved" else [str(mapping.get("state"))]
    if mapping.get("shared"):
        notes.append("shared")
    return f"{mapping['name']} ({', '.join(notes)})" if notes else str(mapping["name"])


@host.command("show", epilog=_HOST_HELP)
@click.argument("reference", metavar="NAME|ID")
@json_option
def show(reference: str, as_json: bool) -> None:
    """Show a host: its host ID, names, mappings and certificates."""
    from hostca.cli.session import admin_client, path_segment

    with admin_client() as client:
        shown = client.get_json(f"/api/v1/hosts/{path_segment(reference)}")
    emit(shown, as_json, _host_text)


def _host_text(item: dict[str, Any]) -> str:
    lines = _field_lines(
        [
            ("host ID", item["host_id"]),
            ("primary name", item["primary_name"]),
            ("registered", format_time(item.get("created_at"))),
            ("first certificate", _first_issued(item)),
            ("auto-reissue until", item.get("auto_reissue_until")),
        ]
    )

    mappings = item.get("mappings") or []
    lines += ["", "Mappings:"]
    if mappings:
        rows: list[tuple[Any, ...]] = [
            (m["name"], m["state"], "yes" if m.get("shared") else "no", m.get("origin") or "-")
            for m in mappings
        ]
        lines += _indent(emit_table(rows, ["NAME", "STATE", "SHARED", "ORIGIN"]))
    else:
        lines.append("  none")

    certificates = item.get("certificates") or []
    lines += ["", "Certificates:"]
    if certificates:
        rows = [
            (c["serial_number"], c["status"], format_time(c["not_after"])) for c in certificates
        ]
        lines += _indent(emit_table(rows, ["SERIAL NUMBER", "STATUS", "NOT AFTER"]))
    else:
        lines.append("  none")
    return "\n".join(lines)


def _indent(text: str) -> list[str]:
    return [f"  {line}" for line in text.splitlines()]


def _field_lines(fields: Sequence[tuple[str, Any]]) -> list[str]:
    width = max(len(label) for label, _value in fields) + 2
    return [f"{label + ':':<{width}}{'-' if value is None else value}" for label, value in fields]


@host.command("add")
@click.argument("name")
@json_option
def add(name: str, as_json: bool) -> None:
    """Pre-register a host by its primary name, before it has a certificate.

    At the security level high, a pre-registered host may take its first
    certificate without a token.
    """
    from hostca.cli.session import admin_client

    with admin_client() as client:
        added = client.post_json("/api/v1/hosts", {"name": name})
    emit(added, as_json, f"Added host {added['primary_name']} with host ID {added['host_id']}.")


@host.group("mapping")
def mapping() -> None:
    """Add and remove the further names of a host, and list names that wait for approval."""


@mapping.command("add", epilog=_HOST_HELP)
@click.argument("host_reference", metavar="HOST")
@click.argument("name")
@click.option(
    "--shared",
    is_flag=True,
    help="Allow other hosts to map the same name too, as for a cluster's virtual name.",
)
@json_option
def mapping_add(host_reference: str, name: str, shared: bool, as_json: bool) -> None:
    """Add NAME (a DNS name or IP address) as an approved name of HOST."""
    from hostca.cli.session import admin_client, path_segment

    path = f"/api/v1/hosts/{path_segment(host_reference)}/mappings"
    with admin_client() as client:
        updated = client.post_json(path, {"name": name, "shared": shared})
    emit(
        updated, as_json, f"Mapped {name} to host {updated['primary_name']} ({updated['host_id']})."
    )


@mapping.command("remove", epilog=_HOST_HELP)
@click.argument("host_reference", metavar="HOST")
@click.argument("name")
@json_option
def mapping_remove(host_reference: str, name: str, as_json: bool) -> None:
    """Remove NAME from the names of HOST."""
    from hostca.cli.session import admin_client, path_segment

    path = f"/api/v1/hosts/{path_segment(host_reference)}/mappings/{path_segment(name)}"
    with admin_client() as client:
        updated = client.delete_json(path)
    emit(
        updated,
        as_json,
        f"Removed {name} from host {updated['primary_name']} ({updated['host_id']}).",
    )


@mapping.command("pending")
@json_option
def mapping_pending(as_json: bool) -> None:
    """List discovered names that wait for approval, with the hosts they conflict with."""
    from hostca.cli.session import admin_client

    with admin_client() as client:
        pending = client.get_json("/api/v1/mappings/pending")
    emit(pending, as_json, _pending_text)


def _pending_text(pending: list[dict[str, Any]]) -> str:
    if not pending:
        return "No names wait for approval."
    rows = [
        (
            item["name"],
            item["primary_name"],
            item["host_id"],
            format_time(item.get("created_at")),
            ", ".join(c["primary_name"] for c in item.get("conflicts_with", [])) or "-",
        )
        for item in pending
    ]
    return emit_table(rows, ["NAME", "HOST", "HOST ID", "DISCOVERED", "CONFLICTS WITH"])


def _host_action(
    host_reference: str, suffix: str, *, body: Any = None, method: str = "POST"
) -> Any:
    """Send one action on a host to the API and return the updated host."""
    from hostca.cli.session import admin_client, path_segment

    path = f"/api/v1/hosts/{path_segment(host_reference)}{suffix}"
    with admin_client() as client:
        if method == "DELETE":
            return client.delete_json(path)
        return client.post_json(path, body if body is not None else {})


@mapping.command("approve", epilog=_HOST_HELP)
@click.argument("host_reference", metavar="HOST")
@click.argument("name")
@json_option
def mapping_approve(host_reference: str, name: str, as_json: bool) -> None:
    """Approve NAME, a discovered name of HOST; its next certificate carries it."""
    from hostca.cli.session import path_segment

    updated = _host_action(host_reference, f"/mappings/{path_segment(name)}/approve")
    emit(
        updated,
        as_json,
        f"Approved {name} for host {updated['primary_name']} ({updated['host_id']}).",
    )


@mapping.command("reject", epilog=_HOST_HELP)
@click.argument("host_reference", metavar="HOST")
@click.argument("name")
@json_option
def mapping_reject(host_reference: str, name: str, as_json: bool) -> None:
    """Reject NAME, a discovered name of HOST; it is not asked about again."""
    from hostca.cli.session import path_segment

    updated = _host_action(host_reference, f"/mappings/{path_segment(name)}/reject")
    emit(
        updated,
        as_json,
        f"Rejected {name} for host {updated['primary_name']} ({updated['host_id']}).",
    )


@host.group("auto-reissue")
def auto_reissue() -> None:
    """Let a host get a reissued certificate without a token, for a limited time."""


@auto_reissue.command("allow", epilog=_HOST_HELP)
@click.argument("host_reference", metavar="HOST")
@click.option(
    "--minutes",
    type=int,
    default=2880,
    show_default=True,
    help="Length of the window in minutes, from 0 to 43,200 (30 days).",
)
@json_option
def auto_reissue_allow(host_reference: str, minutes: int, as_json: bool) -> None:
    """Open HOST's auto-reissue window: 'hostca agent enroll --force' then works without a token.

    Using the window closes it, and so does its end.
    """
    updated = _host_action(host_reference, "/auto-reissue", body={"minutes": minutes})
    emit(
        updated,
        as_json,
        f"Host {updated['primary_name']} ({updated['host_id']}) may reissue without a token until "
        f"{format_time(updated['auto_reissue_until'])}.",
    )


@auto_reissue.command("disallow", epilog=_HOST_HELP)
@click.argument("host_reference", metavar="HOST")
@json_option
def auto_reissue_disallow(host_reference: str, as_json: bool) -> None:
    """Close HOST's auto-reissue window."""
    updated = _host_action(host_reference, "/auto-reissue", method="DELETE")
    emit(updated, as_json, f"Closed the auto-reissue window of host {updated['primary_name']}.")


@host.command("reset", epilog=_HOST_HELP)
@click.argument("host_reference", metavar="HOST")
@json_option
def reset(host_reference: str, as_json: bool) -> None:
    """Clear HOST's discovered names and its auto-reissue window.

    The host ID, the primary name, the names an administrator added and the
    certificates stay.
    """
    updated = _host_action(host_reference, "/reset")
    emit(updated, as_json, f"Reset host {updated['primary_name']} ({updated['host_id']}).")
