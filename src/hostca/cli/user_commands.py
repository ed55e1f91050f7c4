"""``hostca user``: add, list, disable and enable administrators and set their passwords.

The server checks every rule (roles, password length, the last security-admin),
so these commands only read passwords, send requests and print responses. A password is
read from the first line of a file or asked for twice without echo, and never
printed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from hostca.cli.output import emit, emit_table, format_time, json_option
from hostca.cli.password_files import read_password_file
from hostca.core.errors import InvalidRequestError

__all__ = ["user"]

ROLE_CHOICES = ("security-admin", "operator", "auditor")
_FILE_OPTION_HELP = (
    "File whose first line is the password (at least 12 characters). Without it, the "
    "password is asked for twice without echo."
)


@click.group("user")
def user() -> None:
    """Add, list, disable and enable administrators, and set their passwords."""


@user.command("add")
@click.argument("name")
@click.option(
    "--role",
    required=True,
    type=click.Choice(ROLE_CHOICES),
    help="security-admin may do everything; operator may view, create authorization "
    "tokens and add mappings; auditor may only view.",
)
@click.option(
    "--password-file", type=click.Path(dir_okay=False, path_type=Path), help=_FILE_OPTION_HELP
)
@json_option
def add(name: str, role: str, password_file: Path | None, as_json: bool) -> None:
    """Add the administrator NAME with a role and a password."""
    from hostca.cli.session import admin_client

    password = _read_new_password(name, password_file)
    with admin_client() as client:
        created = client.post_json(
            "/api/v1/users", {"name": name, "role": role, "password": password}
        )
    emit(created, as_json, f"Added user {created['name']} with the role {created['role']}.")


@user.command("list")
@json_option
def list_(as_json: bool) -> None:
    """List administrators with their roles and whether they are disabled."""
    from hostca.cli.session import admin_client

    with admin_client() as client:
        users = client.get_json("/api/v1/users")
    emit(users, as_json, _list_text)


def _list_text(users: list[dict[str, Any]]) -> str:
    rows = [
        (
            item["name"],
            item["role"],
            "disabled" if item["disabled"] else "enabled",
            format_time(item["created_at"]),
        )
        for item in users
    ]
    return emit_table(rows, ["NAME", "ROLE", "STATE", "CREATED"])


@user.command("disable")
@click.argument("name")
@json_option
def disable(name: str, as_json: bool) -> None:
    """Disable the administrator NAME, end its sessions and stop its API keys at once."""
    from hostca.cli.session import admin_client, path_segment

    with admin_client() as client:
        result = client.post_json(f"/api/v1/users/{path_segment(name)}/disable")
    emit(result, as_json, f"Disabled user {result['name']}.")


@user.command("enable")
@click.argument("name")
@json_option
def enable(name: str, as_json: bool) -> None:
    """Enable the disabled administrator NAME again; its API keys work again."""
    from hostca.cli.session import admin_client, path_segment

    with admin_client() as client:
        result = client.post_json(f"/api/v1/users/{path_segment(name)}/enable")
    emit(result, as_json, f"Enabled user {result['name']}; it logs in anew.")


@user.command("passwd")
@click.argument("name")
@click.option(
    "--password-file", type=click.Path(dir_okay=False, path_type=Path), help=_FILE_OPTION_HELP
)
@json_option
def passwd(name: str, password_file: Path | None, as_json: bool) -> None:
    """Set the password of NAME and end its other sessions."""
    from hostca.cli.session import admin_client, path_segment

    password = _read_new_password(name, password_file)
    with admin_client() as client:
        result = client.post_json(
            f"/api/v1/users/{path_segment(name)}/password", {"password": password}
        )
    emit(
        result,
        as_json,
        f"Changed the password of {result['name']}; {result['sessions_ended']} session(s) ended.",
    )


def _read_new_password(name: str, path: Path | None) -> str:
    if path is not None:
        return read_password_file(path)
    if not sys.stdin.isatty():
        raise InvalidRequestError(
            "no password given and no terminal to ask for it; pass --password-file F.",
            code="password_required",
        )
    password: str = click.prompt(
        f"New password for {name}", hide_input=True, confirmation_prompt=True, err=True
    )
    return password
