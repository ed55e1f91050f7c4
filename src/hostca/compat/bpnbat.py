"""``bpnbat``: log in to and out of the primary, in the NetBackup syntax.

``-login -logintype WEB`` runs ``hostca login``, and ``-logout`` runs
``hostca logout``. Login asks for what the command line and the answer file
leave out: the server here, the user, the password and the confirmation of the
CA fingerprint in ``hostca login`` itself.

The answer file of ``-info`` has one ``key=value`` per line, with the keys
``server``, ``user``, ``password`` and ``fingerprint`` (the CA's SHA-256
fingerprint, which replaces the interactive confirmation). Blank lines and
lines that start with ``#`` are ignored.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import click

from hostca.compat.delegate import OperationHandler, run_command, run_hostca
from hostca.compat.inputs import read_text_file
from hostca.compat.syntax import CommandSyntax, CompatUsageError, Invocation, Operation, Option
from hostca.core.errors import InvalidRequestError

__all__ = ["ANSWER_KEYS", "SYNTAX", "bpnbat", "main", "read_answer_file"]

ANSWER_KEYS = ("server", "user", "password", "fingerprint")
"""The keys that an answer file of ``-info`` may set."""

_LOGIN_TYPE = "WEB"
_PRIVATE_FILE_MODE = 0o600

SYNTAX = CommandSyntax(
    program="bpnbat",
    options=(
        Option("-logintype", "TYPE"),
        Option("-server", "SERVER"),
        Option("-user", "NAME"),
        Option("-password-file", "FILE"),
        Option("-info", "ANSWER_FILE"),
    ),
    operations=(
        Operation(
            "-login",
            "-logintype WEB [-server SERVER] [-user NAME] [-password-file FILE] "
            "[-info ANSWER_FILE]",
            options=("-server", "-user", "-password-file", "-info"),
            required=("-logintype",),
        ),
        Operation("-logout"),
    ),
    notes=(
        "Option names are case-insensitive. SERVER is a host name, HOST:PORT (the default "
        "port is 1556) or https://HOST[:PORT].",
        "ANSWER_FILE has key=value lines with the keys server, user, password and fingerprint.",
    ),
)


def read_answer_file(path: Path) -> dict[str, str]:
    """Return the answers in ``path`` by key, or raise ``answer_file_invalid`` naming the line."""
    answers: dict[str, str] = {}
    text = read_text_file(path, "answer file")
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key, separator, value = stripped.partition("=")
        key = key.strip().lower()
        if not separator or key not in ANSWER_KEYS:
            raise InvalidRequestError(
                f"{path}, line {number}: expected key=value with one of the keys "
                f"{', '.join(ANSWER_KEYS)}.",
                code="answer_file_invalid",
            )
        answers[key] = value.strip()
    return answers


def _login(call: Invocation) -> int:
    login_type = call.required_value("-logintype")
    if login_type.upper() != _LOGIN_TYPE:
        raise CompatUsageError(f"-logintype {login_type}: only {_LOGIN_TYPE} is supported.")

    info = call.value("-info")
    answers = read_answer_file(Path(info)) if info is not None else {}
    options = _server_option(call.value("-server") or answers.get("server"))
    user = call.value("-user") or answers.get("user")
    if user:
        options += ["--user", user]
    if answers.get("fingerprint"):
        options += ["--fingerprint", answers["fingerprint"]]

    # A password from the answer file reaches hostca login in a private file
    # that is deleted when the login ends.
    with tempfile.TemporaryDirectory(prefix="bpnbat-") as directory:
        password_file = call.value("-password-file")
        if password_file is None and answers.get("password"):
            password_file = _write_private_file(Path(directory) / "password", answers["password"])
        if password_file is not None:
            options += ["--password-file", password_file]
        return run_hostca(["login", *options])


def _server_option(server: str | None) -> list[str]:
    """Return ``--server`` for hostca login, asking for the server on a terminal."""
    from hostca.cli.session import read_environment

    if server is None and read_environment().server is None and sys.stdin.isatty():
        server = click.prompt("Primary server (HOST[:PORT])", err=True)
    # Without a server, hostca login uses HOSTCA_SERVER or reports that none is given.
    return [] if server is None else ["--server", server]


def _write_private_file(path: Path, text: str) -> str:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _PRIVATE_FILE_MODE)
    with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
        stream.write(text + "\n")
    return str(path)


def _logout(_call: Invocation) -> int:
    return run_hostca(["logout"])


HANDLERS: dict[str, OperationHandler] = {"-login": _login, "-logout": _logout}


def bpnbat(arguments: list[str] | None = None) -> int:
    """Run a ``bpnbat`` command line and return its exit status."""
    return run_command(SYNTAX, HANDLERS, arguments)


def main() -> None:
    sys.exit(bpnbat())
