"""``nbhostmgmt``: host ID-to-host name mappings, in the NetBackup syntax.

Every operation runs one ``hostca host`` command as the logged-in
administrator. A host is named by ``-hostid`` or by ``-host`` (its primary name
or an approved name), and the mapping by ``-mappingname``.
"""

from __future__ import annotations

import sys

from hostca.compat.delegate import OperationHandler, run_command, run_hostca
from hostca.compat.syntax import CommandSyntax, Invocation, Operation, Option

__all__ = ["SYNTAX", "main", "nbhostmgmt"]

_HOST = ("-hostid", "-host")
_HOST_SYNOPSIS = "(-hostid ID | -host NAME)"
_JSON = ("-json", "-json_compact")


def _mapping_operation(
    name: str, extra_synopsis: str = "", options: tuple[str, ...] = ()
) -> Operation:
    return Operation(
        name,
        f"{_HOST_SYNOPSIS} -mappingname NAME {extra_synopsis}".rstrip(),
        options=options,
        required=("-mappingname",),
        one_of=(_HOST,),
    )


SYNTAX = CommandSyntax(
    program="nbhostmgmt",
    options=(
        Option("-hostid", "ID"),
        Option("-host", "NAME"),
        Option("-mappingname", "NAME"),
        Option("-shared"),
        Option("-json"),
        Option("-json_compact"),
    ),
    operations=(
        _mapping_operation("-add", "[-shared]", options=("-shared",)),
        _mapping_operation("-delete"),
        Operation(
            "-list",
            "[-hostid ID | -host NAME] [-json | -json_compact]",
            options=_JSON,
            at_most_one_of=(_HOST,),
        ),
        _mapping_operation("-approve"),
        _mapping_operation("-reject"),
        Operation("-listpending", "[-json | -json_compact]", options=_JSON),
    ),
    notes=(
        "Option names are case-insensitive. -host takes the host's primary name or one of "
        "its approved names.",
    ),
)


def _host(call: Invocation) -> str:
    """Return the host reference: a host ID or a name, which hostca resolves alike."""
    return call.value("-hostid") or call.required_value("-host")


def _add(call: Invocation) -> int:
    shared = call.translate({"-shared": "--shared"})
    mapping_name = call.required_value("-mappingname")
    return run_hostca(["host", "mapping", "add", _host(call), mapping_name, *shared])


def _delete(call: Invocation) -> int:
    mapping_name = call.required_value("-mappingname")
    return run_hostca(["host", "mapping", "remove", _host(call), mapping_name])


def _list(call: Invocation) -> int:
    if call.value("-hostid") is None and call.value("-host") is None:
        return run_hostca(["host", "list"], call.output_format)
    return run_hostca(["host", "show", _host(call)], call.output_format)


def _approve(call: Invocation) -> int:
    mapping_name = call.required_value("-mappingname")
    return run_hostca(["host", "mapping", "approve", _host(call), mapping_name])


def _reject(call: Invocation) -> int:
    mapping_name = call.required_value("-mappingname")
    return run_hostca(["host", "mapping", "reject", _host(call), mapping_name])


def _list_pending(call: Invocation) -> int:
    return run_hostca(["host", "mapping", "pending"], call.output_format)


HANDLERS: dict[str, OperationHandler] = {
    "-add": _add,
    "-delete": _delete,
    "-list": _list,
    "-approve": _approve,
    "-reject": _reject,
    "-listpending": _list_pending,
}


def nbhostmgmt(arguments: list[str] | None = None) -> int:
    """Run an ``nbhostmgmt`` command line and return its exit status."""
    return run_command(SYNTAX, HANDLERS, arguments)


def main() -> None:
    sys.exit(nbhostmgmt())
