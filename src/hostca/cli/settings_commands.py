"""``hostca settings``: read and change the domain settings.

Keys are written with dashes on the command line (``security-level``) and with
underscores in the API's JSON (``security_level``). The server accepts both
forms and checks every value.
"""

from __future__ import annotations

from typing import Any

import click

from hostca.cli.output import emit, emit_table, json_option
from hostca.core.errors import NotFoundError

__all__ = ["settings"]


@click.group("settings")
def settings() -> None:
    """Show and change domain settings, such as the security level."""


@settings.command("get")
@click.argument("key", required=False)
@json_option
def get(key: str | None, as_json: bool) -> None:
    """Show every domain setting, or the one named KEY."""
    from hostca.cli.session import admin_client

    with admin_client() as client:
        values: dict[str, Any] = client.get_json("/api/v1/settings")

    if key is not None:
        values = {_stored_key(key, values): values[_stored_key(key, values)]}
    emit(values, as_json, _settings_text)


def _stored_key(key: str, values: dict[str, Any]) -> str:
    stored = key.strip().lower().replace("-", "_")
    if stored not in values:
        known = ", ".join(_shown_key(name) for name in sorted(values))
        raise NotFoundError(
            f"{key}: unknown setting; known settings are {known}.", code="setting_unknown"
        )
    return stored


def _shown_key(stored: str) -> str:
    return stored.replace("_", "-")


def _shown_value(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def _settings_text(values: dict[str, Any]) -> str:
    rows = [(_shown_key(name), _shown_value(value)) for name, value in values.items()]
    return emit_table(rows, ["SETTING", "VALUE"])


@settings.command("set")
@click.argument("key")
@click.argument("value")
@json_option
def set_(key: str, value: str, as_json: bool) -> None:
    """Change the domain setting KEY to VALUE; the change is audited."""
    from hostca.cli.session import admin_client, path_segment

    with admin_client() as client:
        values: dict[str, Any] = client.patch_json(
            f"/api/v1/settings/{path_segment(key)}", {"value": value}
        )

    stored = key.strip().lower().replace("-", "_")
    new_value = _shown_value(values[stored]) if stored in values else value
    emit(values, as_json, f"Set {_shown_key(stored)} to {new_value}.")
