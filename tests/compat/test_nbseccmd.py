"""nbseccmd: the security level and automatic host mapping on a real primary."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from hostca.compat.exit_status import EXIT_INVALID_REQUEST, EXIT_NOT_LOGGED_IN, EXIT_USAGE

if TYPE_CHECKING:
    from collections.abc import Iterator

    from conftest import CompatCli

pytestmark = pytest.mark.e2e

# The keys that docs/netbackup-commands.md promises for -getsecurityconfig -json.
CONFIG_KEYS = {"certdeploylevel", "autoaddhostmapping", "security_level", "auto_map"}


@pytest.fixture
def admin(nb_admin: CompatCli) -> Iterator[CompatCli]:
    """A logged-in administrator; the domain's defaults are restored afterwards."""
    yield nb_admin
    nb_admin.ok(
        "nbseccmd", "-setsecurityconfig", "-certdeploylevel", "1", "-autoaddhostmapping", "off"
    )


def test_get_defaults(admin: CompatCli) -> None:
    text = admin.ok("nbseccmd", "-getsecurityconfig").stdout

    assert text == ("Certificate deployment level: 1 (high)\nAutomatic host mapping:       off\n")


def test_get_json_keys(admin: CompatCli) -> None:
    config = admin.json("nbseccmd", "-getsecurityconfig", "-json")
    compact = admin.ok("nbseccmd", "-getSecurityConfig", "-json_compact").stdout

    assert set(config) >= CONFIG_KEYS
    assert config["certdeploylevel"] == 1
    assert config["autoaddhostmapping"] == "off"
    assert config["security_level"] == "high"
    assert config["auto_map"] is False
    assert compact.count("\n") == 1
    assert json.loads(compact) == config


@pytest.mark.parametrize(("number", "level"), [("0", "very-high"), ("2", "medium")])
def test_set_level(admin: CompatCli, number: str, level: str) -> None:
    admin.ok("nbseccmd", "-setsecurityconfig", "-certdeploylevel", number)

    config = admin.json("nbseccmd", "-getsecurityconfig", "-json")
    assert config["certdeploylevel"] == int(number)
    assert config["security_level"] == level


def test_set_both(admin: CompatCli) -> None:
    result = admin.ok(
        "nbseccmd", "-SETSECURITYCONFIG", "-CertDeployLevel", "2", "-AutoAddHostMapping", "on"
    )

    assert result.stdout == "Set security-level to medium.\nSet auto-map to on.\n"
    config = admin.json("nbseccmd", "-getsecurityconfig", "-json")
    assert (config["security_level"], config["auto_map"]) == ("medium", True)


def test_set_invalid_mapping_value(admin: CompatCli) -> None:
    message = admin.fails(
        "nbseccmd",
        "-setsecurityconfig",
        "-autoaddhostmapping",
        "maybe",
        status=EXIT_INVALID_REQUEST,
    )

    assert message == "hostca: error: maybe: auto-map must be on or off."


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        (
            ["-setsecurityconfig", "-certdeploylevel", "3"],
            "nbseccmd: error: -certdeploylevel 3: use 0 (very high), 1 (high) or 2 (medium).",
        ),
        (
            ["-setsecurityconfig"],
            "nbseccmd: error: -setsecurityconfig needs -certdeploylevel, -autoaddhostmapping "
            "or both.",
        ),
        (["-getsecurityconfig", "-level"], "nbseccmd: error: -level: unknown option."),
    ],
)
def test_usage_errors(admin: CompatCli, arguments: list[str], error: str) -> None:
    result = admin.run("nbseccmd", *arguments)

    assert result.returncode == EXIT_USAGE
    assert result.stderr.splitlines()[0] == error
    assert "usage: nbseccmd -getsecurityconfig" in result.stderr


def test_get_without_login(nb: CompatCli) -> None:
    message = nb.fails("nbseccmd", "-getsecurityconfig", status=EXIT_NOT_LOGGED_IN)

    assert message.startswith("hostca: error: not logged in;")


def test_get_json_error_without_login(nb: CompatCli) -> None:
    line = nb.fails("nbseccmd", "-getsecurityconfig", "-json", status=EXIT_NOT_LOGGED_IN)

    assert json.loads(line)["code"] == "not_logged_in"
