"""``nbseccmd``: the domain's security settings, in the NetBackup syntax.

``-getsecurityconfig`` runs ``hostca settings get`` and ``-setsecurityconfig``
runs ``hostca settings set`` once per option given. ``-certdeploylevel`` is
hostca's own option, because the original command has none for the level: 0
is ``very-high``, 1 ``high`` and 2 ``medium`` (hostca's ``security-level``).
``-autoaddhostmapping`` sets ``auto-map``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from hostca.compat.delegate import OperationHandler, capture_hostca, run_command, run_hostca
from hostca.compat.exit_status import EXIT_OK
from hostca.compat.syntax import (
    CommandSyntax,
    CompatUsageError,
    Invocation,
    Operation,
    Option,
    OutputFormat,
)

__all__ = ["SECURITY_LEVELS_BY_NUMBER", "SYNTAX", "main", "nbseccmd"]

SECURITY_LEVELS_BY_NUMBER = {"0": "very-high", "1": "high", "2": "medium"}
"""hostca's security levels by the certificate deployment level numbers."""

_NUMBERS_BY_SECURITY_LEVEL = {
    level: int(number) for number, level in SECURITY_LEVELS_BY_NUMBER.items()
}

SYNTAX = CommandSyntax(
    program="nbseccmd",
    options=(
        Option("-certdeploylevel", "LEVEL"),
        Option("-autoaddhostmapping", "on|off"),
        Option("-json"),
        Option("-json_compact"),
    ),
    operations=(
        Operation(
            "-getsecurityconfig", "[-json | -json_compact]", options=("-json", "-json_compact")
        ),
        Operation(
            "-setsecurityconfig",
            "[-certdeploylevel 0|1|2] [-autoaddhostmapping on|off]",
            options=("-certdeploylevel", "-autoaddhostmapping"),
        ),
    ),
    notes=(
        "Option names are case-insensitive. Certificate deployment levels: 0 very high, "
        "1 high, 2 medium.",
    ),
)


def _get_security_config(call: Invocation) -> int:
    as_json = call.output_format is not OutputFormat.TEXT
    outcome = capture_hostca(["settings", "get", "--json"], errors_as_json=as_json)
    if outcome.status != EXIT_OK:
        return outcome.status

    settings: dict[str, Any] = json.loads(outcome.stdout)
    config = {
        "certdeploylevel": _NUMBERS_BY_SECURITY_LEVEL.get(settings["security_level"]),
        "autoaddhostmapping": "on" if settings["auto_map"] else "off",
        **settings,
    }
    if call.output_format is OutputFormat.JSON_COMPACT:
        sys.stdout.write(json.dumps(config, separators=(",", ":")) + "\n")
    elif call.output_format is OutputFormat.JSON:
        sys.stdout.write(json.dumps(config, indent=2) + "\n")
    else:
        sys.stdout.write(_config_text(config) + "\n")
    return EXIT_OK


def _config_text(config: dict[str, Any]) -> str:
    level = config["certdeploylevel"]
    return "\n".join(
        [
            f"Certificate deployment level: {'-' if level is None else level} "
            f"({config['security_level']})",
            f"Automatic host mapping:       {config['autoaddhostmapping']}",
        ]
    )


def _set_security_config(call: Invocation) -> int:
    changes = _setting_changes(call)
    for key, value in changes:
        status = run_hostca(["settings", "set", key, value])
        if status != EXIT_OK:
            return status
    return EXIT_OK


def _setting_changes(call: Invocation) -> list[tuple[str, str]]:
    """Return the hostca settings to set as (key, value) pairs: the security level first."""
    changes = []
    level = call.value("-certdeploylevel")
    if level is not None:
        if level.strip() not in SECURITY_LEVELS_BY_NUMBER:
            raise CompatUsageError(
                f"-certdeploylevel {level}: use 0 (very high), 1 (high) or 2 (medium)."
            )
        changes.append(("security-level", SECURITY_LEVELS_BY_NUMBER[level.strip()]))

    auto_map = call.value("-autoaddhostmapping")
    if auto_map is not None:
        changes.append(("auto-map", auto_map))

    if not changes:
        raise CompatUsageError(
            "-setsecurityconfig needs -certdeploylevel, -autoaddhostmapping or both."
        )
    return changes


HANDLERS: dict[str, OperationHandler] = {
    "-getsecurityconfig": _get_security_config,
    "-setsecurityconfig": _set_security_config,
}


def nbseccmd(arguments: list[str] | None = None) -> int:
    """Run an ``nbseccmd`` command line and return its exit status."""
    return run_command(SYNTAX, HANDLERS, arguments)


def main() -> None:
    sys.exit(nbseccmd())
