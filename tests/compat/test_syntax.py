"""The option parser that the four compatibility commands share, without a server."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hostca.compat import bpnbat, nbcertcmd, nbhostmgmt, nbseccmd
from hostca.compat.syntax import (
    CommandSyntax,
    CompatUsageError,
    Invocation,
    Operation,
    Option,
    OutputFormat,
)

SYNTAX = CommandSyntax(
    program="example",
    options=(
        Option("-name", "NAME"),
        Option("-maxUses", "COUNT"),
        Option("-host", "NAME"),
        Option("-hostId", "ID"),
        Option("-force"),
        Option("-json"),
        Option("-json_compact"),
    ),
    operations=(
        Operation(
            "-createToken",
            "-name NAME [-maxUses COUNT] [-host NAME | -hostId ID]",
            options=("-maxUses",),
            required=("-name",),
            at_most_one_of=(("-host", "-hostId"),),
        ),
        Operation("-revoke", "(-host NAME | -hostId ID)", one_of=(("-host", "-hostId"),)),
        Operation("-list", "[-json | -json_compact]", options=("-json", "-json_compact")),
    ),
)

MODULES = (nbcertcmd, nbhostmgmt, bpnbat, nbseccmd)


def parse_error(*arguments: str) -> str:
    with pytest.raises(CompatUsageError) as caught:
        SYNTAX.parse(arguments)
    return caught.value.message


def test_parse_operation_and_options() -> None:
    parsed = SYNTAX.parse(["-createToken", "-name", "t1", "-maxUses", "5"])

    assert parsed == Invocation("-createToken", {"-name": "t1", "-maxUses": "5"}, frozenset())


@pytest.mark.parametrize(
    "arguments",
    [
        ["-createtoken", "-name", "t1", "-maxuses", "5"],
        ["-CREATETOKEN", "-NAME", "t1", "-MAXUSES", "5"],
        ["-CreateToken", "-Name", "t1", "-MaxUses", "5"],
    ],
)
def test_option_names_any_case(arguments: list[str]) -> None:
    parsed = SYNTAX.parse(arguments)

    assert parsed.operation == "-createToken"
    assert parsed.values == {"-name": "t1", "-maxUses": "5"}


@given(st.data())
def test_every_nbcertcmd_name_any_case(data: st.DataObject) -> None:
    operation = data.draw(st.sampled_from(nbcertcmd.SYNTAX.operations))
    spelled = "".join(
        data.draw(st.sampled_from([char.lower(), char.upper()])) for char in operation.name
    )
    needed = [*operation.required, *(group[0] for group in operation.one_of)]
    options = [argument for option in needed for argument in (option, "value")]

    parsed = nbcertcmd.SYNTAX.parse([spelled, *options])

    assert parsed.operation == operation.name


def test_values_keep_their_case() -> None:
    parsed = SYNTAX.parse(["-createToken", "-name", "Mixed-Case", "-host", "-WEB-01"])

    assert parsed.value("-name") == "Mixed-Case"
    assert parsed.value("-host") == "-WEB-01"


def test_operation_after_options() -> None:
    parsed = SYNTAX.parse(["-name", "t1", "-createToken"])

    assert parsed.operation == "-createToken"


def test_unknown_option() -> None:
    assert parse_error("-createToken", "-name", "t1", "-bogus") == "-bogus: unknown option."


def test_stray_value() -> None:
    message = parse_error("-createToken", "-name", "t1", "extra")

    assert message.startswith("extra: unexpected argument")


def test_missing_value() -> None:
    assert parse_error("-createToken", "-name") == "-name: missing value; give -name NAME."


def test_missing_required_option() -> None:
    assert parse_error("-createToken") == "-createToken needs -name."


def test_option_given_twice() -> None:
    message = parse_error("-createToken", "-name", "a", "-NAME", "b")

    assert message == "-name is given more than once."


def test_two_operations() -> None:
    message = parse_error("-createToken", "-name", "a", "-list")

    assert message == "-createToken and -list are both given; give one operation."


def test_no_operation() -> None:
    message = parse_error("-name", "a")

    assert message == "missing operation; give one of -createToken, -revoke, -list."


def test_option_of_another_operation() -> None:
    assert parse_error("-list", "-maxUses", "3") == "-maxUses is not an option of -list."


def test_one_of_missing() -> None:
    assert parse_error("-revoke") == "-revoke needs one of -host, -hostId."


def test_one_of_both_given() -> None:
    message = parse_error("-revoke", "-host", "a", "-hostId", "b")

    assert message == "-host and -hostId exclude each other; give one."


def test_at_most_one_of() -> None:
    message = parse_error("-createToken", "-name", "t", "-host", "a", "-hostId", "b")

    assert message == "-host and -hostId exclude each other; give one."


def test_json_formats_exclude_each_other() -> None:
    message = parse_error("-list", "-json", "-json_compact")

    assert message == "-json and -json_compact exclude each other; give one."


def test_usage_error_remembers_json() -> None:
    with pytest.raises(CompatUsageError) as caught:
        SYNTAX.parse(["-list", "-json", "-bogus"])

    assert caught.value.wants_json


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["-list"], OutputFormat.TEXT),
        (["-list", "-json"], OutputFormat.JSON),
        (["-list", "-JSON_COMPACT"], OutputFormat.JSON_COMPACT),
    ],
)
def test_output_format(arguments: list[str], expected: OutputFormat) -> None:
    assert SYNTAX.parse(arguments).output_format is expected


def test_translate_options_and_flags() -> None:
    parsed = Invocation("-x", {"-name": "n", "-host": "h"}, frozenset({"-force"}))

    translated = parsed.translate(
        {"-name": "--name", "-maxUses": "--max-uses", "-force": "--force", "-host": "--host"}
    )

    assert translated == ["--name", "n", "--force", "--host", "h"]


def test_usage_lists_operations() -> None:
    usage = SYNTAX.usage().splitlines()

    assert usage[0] == (
        "usage: example -createToken -name NAME [-maxUses COUNT] [-host NAME | -hostId ID]"
    )
    assert usage[1] == "       example -revoke (-host NAME | -hostId ID)"
    assert usage[2] == "       example -list [-json | -json_compact]"


@pytest.mark.parametrize("module", MODULES, ids=lambda module: module.SYNTAX.program)
def test_every_operation_has_handler(module: object) -> None:
    syntax: CommandSyntax = module.SYNTAX  # type: ignore[attr-defined]
    handlers: dict[str, object] = module.HANDLERS  # type: ignore[attr-defined]

    assert sorted(operation.name for operation in syntax.operations) == sorted(handlers)


@pytest.mark.parametrize("module", MODULES, ids=lambda module: module.SYNTAX.program)
def test_operations_use_declared_options(module: object) -> None:
    syntax: CommandSyntax = module.SYNTAX  # type: ignore[attr-defined]
    declared = {option.name for option in syntax.options}

    for operation in syntax.operations:
        used = {*operation.options, *operation.required}
        used |= {option for group in operation.one_of for option in group}
        used |= {option for group in operation.at_most_one_of for option in group}
        assert used <= declared, operation.name
