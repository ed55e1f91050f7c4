"""``hostca token``: create, list, show, delete and clean up authorization and reissue tokens.

The server checks every rule (names, uses, validity, the host of a reissue token);
these commands only turn options into requests and responses into output. A token
value is printed once, by ``token create``, and nowhere else.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from hostca.cli.output import emit, emit_table, format_time, json_option

__all__ = ["token"]


@click.group("token")
def token() -> None:
    """Create, list, show and delete authorization and reissue tokens."""


@token.command("create")
@click.option(
    "--name",
    required=True,
    help="Token name: 1 to 64 letters, digits, '.', '_' or '-', unique among tokens "
    "that are not deleted.",
)
@click.option(
    "--max-uses",
    type=int,
    help="How many certificates the token may issue, 1 to 99,999 (default 1). A reissue "
    "token always has one use.",
)
@click.option(
    "--valid-for",
    metavar="DURATION",
    help="Validity from now, in days, hours and minutes, such as 2d, 4h30m or 1d2h3m "
    "(default 24 hours, at most 999 days).",
)
@click.option(
    "--valid-until",
    metavar="TIME",
    help="Expiry time in ISO 8601 with an offset, such as 2030-01-31T18:00:00+01:00.",
)
@click.option("--reason", help="Why the token is created, recorded in the audit event.")
@click.option(
    "--reissue",
    is_flag=True,
    help="Create a reissue token, bound to one host given by --host or --host-id.",
)
@click.option("--host", metavar="PRIMARY_NAME", help="Primary name of the host to reissue.")
@click.option("--host-id", metavar="ID", help="Host ID of the host to reissue.")
@json_option
def create(
    name: str,
    max_uses: int | None,
    valid_for: str | None,
    valid_until: str | None,
    reason: str | None,
    reissue: bool,
    host: str | None,
    host_id: str | None,
    as_json: bool,
) -> None:
    """Create a token and print its value, which is shown only this once."""
    from hostca.cli.session import admin_client

    body: dict[str, Any] = {
        "name": name,
        "kind": "reissue" if reissue else "authorization",
        "valid_for": valid_for,
        "valid_until": valid_until,
        "reason": reason,
        "host": host,
        "host_id": host_id,
    }
    if max_uses is not None:
        body["max_uses"] = max_uses

    with admin_client() as client:
        created = client.post_json("/api/v1/tokens", body)
    emit(created, as_json, _created_text)


def _created_text(created: dict[str, Any]) -> str:
    kind = "reissue token" if created["kind"] == "reissue" else "authorization token"
    lines = [
        f"Created {kind} {created['name']}.",
        "",
        f"    Token value:  {created['value']}",
        "",
        "This value is shown only once and cannot be retrieved later; give it to the",
        "administrator of the host now, over a channel you trust.",
        "",
        *_field_lines(_token_fields(created)),
    ]
    return "\n".join(lines)


@token.command("list")
@click.option("--all", "include_all", is_flag=True, help="Include deleted tokens.")
@json_option
def list_(include_all: bool, as_json: bool) -> None:
    """List tokens: active, expired and used up, and deleted ones with --all."""
    from hostca.cli.session import admin_client

    params = {"all": "true"} if include_all else None
    with admin_client() as client:
        tokens = client.get_json("/api/v1/tokens", params=params)
    emit(tokens, as_json, _list_text)


def _list_text(tokens: list[dict[str, Any]]) -> str:
    if not tokens:
        return "No tokens."
    rows = [
        (
            item["name"],
            item["kind"],
            item["state"],
            f"{item['uses']}/{item['max_uses']}",
            format_time(item["valid_until"]),
            item.get("host_id") or "-",
        )
        for item in tokens
    ]
    return emit_table(rows, ["NAME", "KIND", "STATE", "USES", "VALID UNTIL", "HOST ID"])


@token.command("show")
@click.argument("name")
@json_option
def show(name: str, as_json: bool) -> None:
    """Show one token, without its value, which is never stored."""
    from hostca.cli.session import admin_client, path_segment

    with admin_client() as client:
        shown = client.get_json(f"/api/v1/tokens/{path_segment(name)}")
    emit(shown, as_json, lambda item: "\n".join(_field_lines(_token_fields(item))))


def _token_fields(item: dict[str, Any]) -> list[tuple[str, Any]]:
    return [
        ("name", item["name"]),
        ("kind", item["kind"]),
        ("state", item.get("state")),
        ("uses", f"{item.get('uses', 0)} of {item['max_uses']}"),
        ("valid until", format_time(item["valid_until"])),
        ("host ID", item.get("host_id")),
        ("created", _created_by(item)),
        ("reason", item.get("reason")),
    ]


def _created_by(item: dict[str, Any]) -> str:
    created_at = format_time(item.get("created_at"))
    created_by = item.get("created_by")
    return f"{created_at} by {created_by}" if created_by else created_at


def _field_lines(fields: Sequence[tuple[str, Any]]) -> list[str]:
    width = max(len(label) for label, _value in fields) + 2
    return [f"{label + ':':<{width}}{'-' if value is None else value}" for label, value in fields]


@token.command("delete")
@click.argument("name")
@click.option("--reason", help="Why the token is deleted, recorded in the audit event.")
@json_option
def delete(name: str, reason: str | None, as_json: bool) -> None:
    """Delete a token so that it can no longer be used."""
    from hostca.cli.session import admin_client, path_segment

    params = {"reason": reason} if reason is not None else None
    with admin_client() as client:
        result = client.delete_json(f"/api/v1/tokens/{path_segment(name)}", params=params)
    emit(result, as_json, f"Deleted token {name}.")


@token.command("cleanup")
@json_option
def cleanup(as_json: bool) -> None:
    """Remove expired, used-up and deleted tokens from the list."""
    from hostca.cli.session import admin_client

    with admin_client() as client:
        result = client.post_json("/api/v1/tokens/cleanup")
    emit(result, as_json, _cleanup_text)


def _cleanup_text(result: dict[str, Any]) -> str:
    removed = result.get("removed") or []
    if not removed:
        return "No token to clean up."
    return f"Removed {len(removed)} token(s): {', '.join(removed)}."
