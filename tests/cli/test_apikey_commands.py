"""``hostca apikey`` against a real server, and scripts that use a key through HOSTCA_API_KEY."""

from __future__ import annotations

import json

import pytest

from cli.conftest import HostcaCli

pytestmark = pytest.mark.e2e


def key_environment(cli: HostcaCli, value: str) -> dict[str, str]:
    """Return variables that point a runner without a session at the test server, with an API key."""
    return {
        "HOSTCA_SERVER": cli.server.url,
        "HOSTCA_API_KEY": value,
        "HOSTCA_CA_FILE": str(cli.server.ca_file),
    }


def test_apikey_create_list_revoke(admin: HostcaCli) -> None:
    created = admin.json(
        "apikey", "create", "--name", "cli-script", "--role", "operator", "--expires", "30d"
    )
    listed = admin.json("apikey", "list")
    revoked = admin.json("apikey", "revoke", "cli-script")

    assert set(created) >= {"name", "value", "role", "expires_at"}
    assert (created["name"], created["role"]) == ("cli-script", "operator")
    assert created["value"].startswith("hca_")
    entry = next(item for item in listed if item["name"] == "cli-script")
    assert entry["state"] == "active"
    assert created["value"] not in json.dumps(listed)
    assert revoked["state"] == "revoked"


def test_apikey_create_text_shows_value(admin: HostcaCli) -> None:
    result = admin.ok(
        "apikey", "create", "--name", "cli-text", "--role", "auditor", "--expires", "12h"
    )

    value_lines = [line for line in result.stdout.splitlines() if "hca_" in line]
    assert len(value_lines) == 1
    assert "shown only once" in result.stdout


def test_hostca_api_key_variable(
    admin: HostcaCli, tmp_path_factory: pytest.TempPathFactory
) -> None:
    value = admin.json(
        "apikey", "create", "--name", "cli-env", "--role", "operator", "--expires", "1h"
    )["value"]
    script = HostcaCli(admin.server, tmp_path_factory.mktemp("script-config"), admin.work_dir)

    created = script.json(
        "token", "create", "--name", "from-script", env=key_environment(script, value)
    )
    tokens = admin.json("audit", "list", "--category", "TOKEN")

    assert created["name"] == "from-script"
    assert any(
        event["actor"] == "apikey:cli-env" and event["target"] == "from-script" for event in tokens
    )


def test_revoked_key_fails_in_script(
    admin: HostcaCli, tmp_path_factory: pytest.TempPathFactory
) -> None:
    value = admin.json(
        "apikey", "create", "--name", "cli-revoked", "--role", "auditor", "--expires", "1h"
    )["value"]
    admin.ok("apikey", "revoke", "cli-revoked")
    script = HostcaCli(admin.server, tmp_path_factory.mktemp("script-config"), admin.work_dir)

    line = script.fails("token", "list", "--json", env=key_environment(script, value))

    assert json.loads(line)["code"] == "apikey_invalid"
    assert value not in line


def test_apikey_revoke_unknown(admin: HostcaCli) -> None:
    line = admin.fails("apikey", "revoke", "no-such-key", "--json")
    assert json.loads(line)["code"] == "apikey_not_found"
