"""Run a translated command line through ``hostca`` in this process.

The compatibility commands hold no rules of their own. Each one turns its
command line into a ``hostca`` command line and runs it with
``hostca.cli.main.run``, so messages, prompts and checks are those of
``hostca``. This module adds what differs: the exit status per error code,
compact JSON, and the command's own usage text.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from typing import Any

import click

from hostca.cli.main import cli, run
from hostca.cli.output import print_error
from hostca.compat.exit_status import EXIT_USAGE, exit_status_for
from hostca.compat.syntax import (
    HELP_ARGUMENTS,
    JSON_OPTIONS,
    CommandSyntax,
    CompatUsageError,
    Invocation,
    OutputFormat,
)
from hostca.core.errors import HostcaError

__all__ = ["HostcaOutcome", "OperationHandler", "capture_hostca", "run_command", "run_hostca"]

OperationHandler = Callable[[Invocation], int]
"""Runs one operation of a command and returns the exit status."""

EXIT_INTERRUPTED = 130


class _ErrorRecorder(click.Command):
    """The ``hostca`` root command, which also keeps the ``HostcaError`` it raised.

    ``run`` prints the error and returns 1. The recorded error gives its code,
    from which the compatibility commands choose their exit status.
    """

    def __init__(self) -> None:
        super().__init__(cli.name)
        self.error: HostcaError | None = None

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        return cli.make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return cli.invoke(ctx)
        except HostcaError as error:
            self.error = error
            raise


@dataclass(frozen=True)
class HostcaOutcome:
    """The result of a ``hostca`` command line whose output was captured."""

    status: int
    stdout: str
    error: HostcaError | None


def run_hostca(arguments: Sequence[str], output_format: OutputFormat = OutputFormat.TEXT) -> int:
    """Run ``hostca`` with ``arguments`` and return the compatibility exit status.

    Text and JSON go straight to the terminal, so hostca's prompts work.
    Compact JSON is captured and printed again on one line.
    """
    if output_format is OutputFormat.JSON_COMPACT:
        outcome = capture_hostca([*arguments, "--json"], errors_as_json=True)
        if outcome.stdout.strip():
            sys.stdout.write(json.dumps(json.loads(outcome.stdout), separators=(",", ":")) + "\n")
        return outcome.status

    json_option = ["--json"] if output_format is OutputFormat.JSON else []
    recorder = _ErrorRecorder()
    status = run(recorder, [*arguments, *json_option])
    return _exit_status(status, recorder.error)


def capture_hostca(
    arguments: Sequence[str], *, errors_as_json: bool = False, report_errors: bool = True
) -> HostcaOutcome:
    """Run ``hostca`` with its output captured, for a caller that prints its own.

    An error is printed on stderr as hostca prints it, as JSON when
    ``errors_as_json`` is true, unless ``report_errors`` is false. Use this only
    for commands that never prompt, because a captured prompt would not be seen.
    """
    recorder = _ErrorRecorder()
    stdout, stderr = io.StringIO(), io.StringIO()
    with redirect_stdout(stdout), redirect_stderr(stderr):
        status = run(recorder, list(arguments))

    if report_errors and recorder.error is not None:
        print_error(recorder.error.code, recorder.error.message, as_json=errors_as_json)
    elif report_errors:
        sys.stderr.write(stderr.getvalue())
    return HostcaOutcome(_exit_status(status, recorder.error), stdout.getvalue(), recorder.error)


def _exit_status(status: int, error: HostcaError | None) -> int:
    if status != 0 and error is not None:
        return exit_status_for(error)
    return status


def run_command(
    syntax: CommandSyntax,
    handlers: Mapping[str, OperationHandler],
    arguments: Sequence[str] | None = None,
) -> int:
    """Parse a command line of ``syntax``, run its operation and return the exit status.

    A usage error, found by the parser or by the operation's handler, prints the
    message and the usage text on stderr and returns 2.
    ``-help`` prints the usage text on stdout and returns 0.
    """
    command_line = sys.argv[1:] if arguments is None else list(arguments)
    if any(argument.lower() in HELP_ARGUMENTS for argument in command_line):
        sys.stdout.write(syntax.usage() + "\n")
        return 0

    try:
        invocation = syntax.parse(command_line)
        return handlers[invocation.operation](invocation)
    except CompatUsageError as error:
        _print_usage_error(syntax, error)
        return EXIT_USAGE
    except HostcaError as error:
        as_json = any(argument.lower() in JSON_OPTIONS for argument in command_line)
        print_error(error.code, error.message, as_json=as_json)
        return exit_status_for(error)
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        return EXIT_INTERRUPTED


def _print_usage_error(syntax: CommandSyntax, error: CompatUsageError) -> None:
    if error.wants_json:
        message = f"{error.message} Run '{syntax.program} -help' for the usage."
        print_error("usage_error", message, as_json=True)
        return
    sys.stderr.write(f"{syntax.program}: error: {error.message}\n{syntax.usage()}\n")
