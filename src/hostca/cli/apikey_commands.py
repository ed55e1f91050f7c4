"""``hostca apikey``: create, list and revoke API keys for scripts.

A key value is printed once, by ``apikey create``, and nowhere else. Scripts send
it through ``HOSTCA_API_KEY``, or as ``Authorization: Bearer <value>``.
"""

from __future__ import annotations

from typing import Any

import click

from hostca.cli.output import emit, emit_table, format_time, json_option

__all__ = ["apikey"]

ROLE_CHOICES = ("security-admin", "operator", "auditor")


@click.group("apikey")
def apikey() -> None:
    """Create, list and revoke API keys."""


@apikey.command("create")
@click.option(
    "--name",
    required=True,
    help="Key name: 1 to 64 letters, digits, '.', '_' or '-', never used by another key.",
)
@click.option(
    "--role",
    required=True,
    type=click.Choice(ROLE_CHOICES),
    help="Role that requests with this key have.",
)
@click.option(
    "--expires",
    required=True,
    metavar="DURATION",
    help="Validity from now, in days, hours and minutes, such as 30d, 12h or 1d2h "
    "(at most 999 days).",
)
@json_option
def create(name: str, role: str, expires: str, as_json: bool) -> None:
    """Create an API key and print its value, which is shown only this once."""
    from hostca.cli.session import admin_client

    with admin_client() as client:
        created = client.post_json(
            "/api/v1/apikeys", {"name": name, "role": role, "expires": expires}
        )
    emit(created, as_json, _created_text)


def _created_text(created: dict[str, Any]) -> str:
    lines = [
        f"Created API key {created['name']} with the role {created['role']}, valid until "
        f"{format_time(created['expires_at'])}.",
        "",
        f"    API key:  {created['value']}",
        "",
        "This value is shown only once and cannot be retrieved later. Store it where the",
        "script reads it, such as HOSTCA_API_KEY.",
    ]
    return "\n".join(lines)


@apikey.command("list")
@json_option
def list_(as_json: bool) -> None:
    """List API keys with their roles and states, without their values."""
    from hostca.cli.session import admin_client

    with admin_client() as client:
        keys = client.get_json("/api/v1/apikeys")
    emit(keys, as_json, _list_text)


def _list_text(keys: list[dict[str, Any]]) -> str:
    if not keys:
        return "No API keys."
    rows = [
        (
            item["name"],
            item["role"],
            item["state"],
            format_time(item["expires_at"]),
            item["created_by"],
        )
        for item in keys
    ]
    return emit_table(rows, ["NAME", "ROLE", "STATE", "EXPIRES", "CREATED BY"])


@apikey.command("revoke")
@click.argument("name")
@json_option
def revoke(name: str, as_json: bool) -> None:
    """Revoke the API key NAME; requests with it are rejected from now on."""
    from hostca.cli.session import admin_client, path_segment

    with admin_client() as client:
        result = client.delete_json(f"/api/v1/apikeys/{path_segment(name)}")
    emit(result, as_json, f"Revoked API key {name}.")
