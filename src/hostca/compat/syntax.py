"""The NetBackup command-line syntax: one operation and its options, names in any case.

A NetBackup command line names one operation, such as ``-createToken``, and the
options of that operation, such as ``-name N``. Option names are matched without
regard to case, because administrators type ``-createtoken`` as often as
``-createToken``. Each option has the same arity in every operation of a
command, so a command line can be split into options and values before the
operation is known.

Only the syntax is checked here: which options an operation accepts, which it
needs, and which exclude each other. Every value is checked by ``hostca``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

__all__ = [
    "HELP_ARGUMENTS",
    "JSON_OPTIONS",
    "CommandSyntax",
    "CompatUsageError",
    "Invocation",
    "Operation",
    "Option",
    "OutputFormat",
]

JSON_OPTIONS = ("-json", "-json_compact")

# Command lines that ask for the usage text instead of running an operation.
HELP_ARGUMENTS = frozenset({"-help", "--help", "-h", "-?"})


class OutputFormat(enum.Enum):
    """The format in which a command prints its result."""

    TEXT = "text"
    JSON = "json"
    JSON_COMPACT = "json_compact"


class CompatUsageError(Exception):
    """A command line that does not follow the command's syntax.

    ``wants_json`` is true when the command line requested JSON output, so that
    the error is printed as JSON too.
    """

    def __init__(self, message: str, *, wants_json: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.wants_json = wants_json


@dataclass(frozen=True)
class Option:
    """An option of a command, spelled as the original documents it.

    ``metavar`` is the placeholder of the option's value in the usage text, or
    None for a flag that takes no value.
    """

    name: str
    metavar: str | None = None

    @property
    def takes_value(self) -> bool:
        return self.metavar is not None


@dataclass(frozen=True)
class Operation:
    """An operation of a command, with the options it accepts.

    ``synopsis`` is the usage text after the operation's name. ``required``
    options must be given. Of each group in ``one_of`` exactly one option must be
    given, and of each group in ``at_most_one_of`` at most one.
    """

    name: str
    synopsis: str = ""
    options: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    one_of: tuple[tuple[str, ...], ...] = ()
    at_most_one_of: tuple[tuple[str, ...], ...] = ()

    def accepts(self, option: str) -> bool:
        return (
            option in self.options
            or option in self.required
            or _in_groups(option, self.one_of)
            or _in_groups(option, self.at_most_one_of)
        )


def _in_groups(option: str, groups: Iterable[tuple[str, ...]]) -> bool:
    return any(option in group for group in groups)


@dataclass(frozen=True)
class Invocation:
    """A parsed command line: the operation and the options given, by canonical name."""

    operation: str
    values: Mapping[str, str] = field(default_factory=dict)
    flags: frozenset[str] = frozenset()

    def value(self, option: str) -> str | None:
        return self.values.get(option)

    def required_value(self, option: str) -> str:
        """Return the value of an option that the operation's syntax requires."""
        return self.values[option]

    def flag(self, option: str) -> bool:
        return option in self.flags

    @property
    def output_format(self) -> OutputFormat:
        if self.flag("-json_compact"):
            return OutputFormat.JSON_COMPACT
        if self.flag("-json"):
            return OutputFormat.JSON
        return OutputFormat.TEXT

    def translate(self, renames: Mapping[str, str]) -> list[str]:
        """Return the hostca options for the given options, each followed by its value.

        ``renames`` maps an option of this syntax to its hostca equivalent. Flags
        become flags, and options that were not given are left out.
        """
        arguments: list[str] = []
        for option, hostca_option in renames.items():
            if option in self.values:
                arguments += [hostca_option, self.values[option]]
            elif option in self.flags:
                arguments.append(hostca_option)
        return arguments


@dataclass(frozen=True)
class CommandSyntax:
    """The options and operations of one command, and the parser of its command lines."""

    program: str
    options: tuple[Option, ...]
    operations: tuple[Operation, ...]
    notes: tuple[str, ...] = ()

    def usage(self) -> str:
        """Return the usage text: one line per operation, then the notes."""
        lines = []
        for index, operation in enumerate(self.operations):
            prefix = "usage: " if index == 0 else "       "
            lines.append(f"{prefix}{self.program} {operation.name} {operation.synopsis}".rstrip())
        return "\n".join([*lines, *self.notes])

    def parse(self, arguments: Sequence[str]) -> Invocation:
        """Parse a command line, or raise ``CompatUsageError`` that names the problem."""
        wants_json = any(argument.lower() in JSON_OPTIONS for argument in arguments)
        try:
            return self._parse(arguments)
        except CompatUsageError as error:
            raise CompatUsageError(error.message, wants_json=wants_json) from None

    def _parse(self, arguments: Sequence[str]) -> Invocation:
        operations = {operation.name.lower(): operation for operation in self.operations}
        options = {option.name.lower(): option for option in self.options}
        chosen: Operation | None = None
        values: dict[str, str] = {}
        flags: set[str] = set()

        position = 0
        while position < len(arguments):
            argument = arguments[position]
            key = argument.lower()
            position += 1
            if key in operations:
                chosen = self._choose(chosen, operations[key])
                continue
            option = options.get(key)
            if option is None:
                raise CompatUsageError(_unknown_argument(argument))
            if option.name in values or option.name in flags:
                raise CompatUsageError(f"{option.name} is given more than once.")
            if not option.takes_value:
                flags.add(option.name)
                continue
            if position == len(arguments):
                raise CompatUsageError(
                    f"{option.name}: missing value; give {option.name} {option.metavar}."
                )
            values[option.name] = arguments[position]
            position += 1

        if chosen is None:
            names = ", ".join(operation.name for operation in self.operations)
            raise CompatUsageError(f"missing operation; give one of {names}.")
        _check_operation(chosen, [*values, *flags])
        return Invocation(operation=chosen.name, values=values, flags=frozenset(flags))

    @staticmethod
    def _choose(chosen: Operation | None, operation: Operation) -> Operation:
        if chosen is not None:
            raise CompatUsageError(
                f"{chosen.name} and {operation.name} are both given; give one operation."
            )
        return operation


def _unknown_argument(argument: str) -> str:
    if argument.startswith("-"):
        return f"{argument}: unknown option."
    return f"{argument}: unexpected argument; values follow the option they belong to."


def _check_operation(operation: Operation, given_options: Sequence[str]) -> None:
    """Raise ``CompatUsageError`` when ``given_options`` break the rules of ``operation``."""
    for option in given_options:
        if not operation.accepts(option):
            raise CompatUsageError(f"{option} is not an option of {operation.name}.")

    for option in operation.required:
        if option not in given_options:
            raise CompatUsageError(f"{operation.name} needs {option}.")

    for group in operation.one_of:
        present = [option for option in group if option in given_options]
        if not present:
            raise CompatUsageError(f"{operation.name} needs one of {', '.join(group)}.")
        if len(present) > 1:
            raise CompatUsageError(f"{' and '.join(present)} exclude each other; give one.")

    for group in (*operation.at_most_one_of, JSON_OPTIONS):
        present = [option for option in group if option in given_options]
        if len(present) > 1:
            raise CompatUsageError(f"{' and '.join(present)} exclude each other; give one.")
