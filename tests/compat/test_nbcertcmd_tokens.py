"""nbcertcmd's token and revocation operations against a real primary."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

import pytest

from hostca.compat.exit_status import (
    EXIT_INVALID_REQUEST,
    EXIT_NOT_FOUND,
    EXIT_NOT_LOGGED_IN,
    EXIT_USAGE,
)

if TYPE_CHECKING:
    from conftest import CompatCli

pytestmark = pytest.mark.e2e

# The keys that docs/netbackup-commands.md promises for -listTokens -json.
TOKEN_KEYS = {"name", "kind", "host_id", "max_uses", "valid_until", "uses", "state"}


def test_create_token_shows_value_once(nb_admin: CompatCli) -> None:
    value = nb_admin.create_token("once", "-reason", "new media servers")

    assert re.fullmatch(r"[A-Z]{16}", value)
    listed = nb_admin.ok("nbcertcmd", "-listTokens").stdout
    shown = nb_admin.ok("nbcertcmd", "-displayToken", "-name", "once").stdout
    as_json = nb_admin.ok("nbcertcmd", "-listTokens", "-json").stdout
    for output in (listed, shown, as_json):
        assert "once" in output
        assert value not in output


def test_list_tokens_json_keys(nb_admin: CompatCli) -> None:
    nb_admin.create_token("json-keys", "-maxUses", "3", "-validFor", "1D2H3M")

    tokens = {item["name"]: item for item in nb_admin.json("nbcertcmd", "-listTokens", "-json")}

    assert set(tokens["json-keys"]) >= TOKEN_KEYS
    assert tokens["json-keys"]["max_uses"] == 3
    assert tokens["json-keys"]["uses"] == 0
    assert tokens["json-keys"]["state"] == "active"
    assert tokens["json-keys"]["host_id"] is None


def test_list_tokens_json_compact(nb_admin: CompatCli) -> None:
    nb_admin.create_token("compact")

    output = nb_admin.ok("nbcertcmd", "-listTokens", "-json_compact").stdout

    assert output.count("\n") == 1
    assert set(json.loads(output)[0]) >= TOKEN_KEYS


def test_options_any_case(nb_admin: CompatCli) -> None:
    nb_admin.ok(
        "nbcertcmd", "-CREATETOKEN", "-Name", "any-case", "-MAXUSES", "2", "-validfor", "4h30m"
    )

    tokens = {item["name"]: item for item in nb_admin.json("nbcertcmd", "-LISTTOKENS", "-JSON")}
    assert tokens["any-case"]["max_uses"] == 2


def test_delete_and_clean_up_tokens(nb_admin: CompatCli) -> None:
    nb_admin.create_token("to-delete")

    deleted = nb_admin.ok("nbcertcmd", "-deleteToken", "-name", "to-delete", "-reason", "typo")
    cleaned = nb_admin.ok("nbcertcmd", "-cleanupToken")

    assert deleted.stdout == "Deleted token to-delete.\n"
    assert "to-delete" in cleaned.stdout
    names = [item["name"] for item in nb_admin.json("nbcertcmd", "-listTokens", "-json")]
    assert "to-delete" not in names


def test_display_unknown_token(nb_admin: CompatCli) -> None:
    message = nb_admin.fails(
        "nbcertcmd", "-displayToken", "-name", "no-such-token", status=EXIT_NOT_FOUND
    )

    assert "no-such-token" in message


def test_create_token_without_login(nb: CompatCli) -> None:
    message = nb.fails("nbcertcmd", "-createToken", "-name", "x", status=EXIT_NOT_LOGGED_IN)

    assert message == (
        "hostca: error: not logged in; run `hostca login --server URL` first, or set "
        "HOSTCA_SERVER and HOSTCA_API_KEY."
    )


def test_json_error_without_login(nb: CompatCli) -> None:
    line = nb.fails("nbcertcmd", "-listTokens", "-json", status=EXIT_NOT_LOGGED_IN)

    assert json.loads(line)["code"] == "not_logged_in"


def test_bad_valid_for(nb_admin: CompatCli) -> None:
    message = nb_admin.fails(
        "nbcertcmd",
        "-createToken",
        "-name",
        "bad-duration",
        "-validFor",
        "2X",
        status=EXIT_INVALID_REQUEST,
    )

    assert message.startswith("hostca: error: 2X: invalid duration;")
    names = [item["name"] for item in nb_admin.json("nbcertcmd", "-listTokens", "-json")]
    assert "bad-duration" not in names


def test_unknown_option_prints_usage(nb_admin: CompatCli) -> None:
    result = nb_admin.run("nbcertcmd", "-createToken", "-name", "x", "-expiresIn", "4h")

    assert result.returncode == EXIT_USAGE
    lines = result.stderr.splitlines()
    assert lines[0] == "nbcertcmd: error: -expiresIn: unknown option."
    assert lines[1].startswith("usage: nbcertcmd -createToken -name NAME")
    assert any(line.strip().startswith("nbcertcmd -hostSelfCheck") for line in lines)
    assert result.stdout == ""


def test_missing_argument_prints_usage(nb_admin: CompatCli) -> None:
    result = nb_admin.run("nbcertcmd", "-createToken", "-name")

    assert result.returncode == EXIT_USAGE
    assert (
        result.stderr.splitlines()[0] == "nbcertcmd: error: -name: missing value; give -name NAME."
    )
    assert "usage: nbcertcmd" in result.stderr


def test_missing_option_prints_usage(nb_admin: CompatCli) -> None:
    result = nb_admin.run("nbcertcmd", "-revokeCertificate", "-reasonCode", "1")

    assert result.returncode == EXIT_USAGE
    assert result.stderr.splitlines()[0] == (
        "nbcertcmd: error: -revokeCertificate needs one of -host, -hostId, -certSerial."
    )


def test_revoke_serial_with_reason_number(nb_admin: CompatCli) -> None:
    certificate_serial = nb_admin.enrol_by_api("revoke-me.compat.example.test")["serial_number"]

    nb_admin.ok(
        "nbcertcmd", "-revokeCertificate", "-certSerial", certificate_serial, "-reasonCode", "9"
    )

    shown = nb_admin.server.admin("GET", f"/api/v1/certificates/{certificate_serial}").json()
    assert shown["status"] == "revoked"
    assert shown["revocation_reason"] == "privilege-withdrawn"


def test_revoke_unaccepted_reason_number(nb_admin: CompatCli) -> None:
    certificate_serial = nb_admin.enrol_by_api("on-hold.compat.example.test")["serial_number"]

    message = nb_admin.fails(
        "nbcertcmd",
        "-revokeCertificate",
        "-certSerial",
        certificate_serial,
        "-reasonCode",
        "6",
        status=EXIT_INVALID_REQUEST,
    )

    assert message.startswith("hostca: error: '6': not an accepted revocation reason code;")
    shown = nb_admin.server.admin("GET", f"/api/v1/certificates/{certificate_serial}").json()
    assert shown["status"] == "valid"
