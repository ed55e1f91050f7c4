"""nbhostmgmt: host ID-to-host name mappings against a real primary."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from hostca.compat.exit_status import EXIT_CONFLICT, EXIT_NOT_FOUND, EXIT_USAGE

if TYPE_CHECKING:
    from conftest import CompatCli

pytestmark = pytest.mark.e2e

# The keys that docs/netbackup-commands.md promises for -list -hostid|-host -json.
HOST_KEYS = {"host_id", "primary_name", "mappings"}
MAPPING_KEYS = {"name", "state", "shared"}
# And for -listpending -json, per name.
PENDING_KEYS = {"name", "host_id", "primary_name", "conflicts_with"}


def mappings_of(nb: CompatCli, host: str) -> dict[str, dict[str, Any]]:
    shown = nb.json("nbhostmgmt", "-list", "-host", host, "-json")
    return {item["name"]: item for item in shown["mappings"]}


def test_add_list_and_delete_mapping(nb_admin: CompatCli) -> None:
    host_id = nb_admin.enrol_by_api("media-01.compat.example.test")["host_id"]

    nb_admin.ok("nbhostmgmt", "-add", "-hostid", host_id, "-mappingname", "media-01")
    shown = nb_admin.json("nbhostmgmt", "-list", "-hostid", host_id, "-json")

    assert set(shown) >= HOST_KEYS
    assert shown["primary_name"] == "media-01.compat.example.test"
    mapping = next(item for item in shown["mappings"] if item["name"] == "media-01")
    assert set(mapping) >= MAPPING_KEYS
    assert (mapping["state"], mapping["shared"]) == ("approved", False)

    nb_admin.ok(
        "nbhostmgmt", "-delete", "-host", "media-01.compat.example.test", "-mappingname", "media-01"
    )
    assert "media-01" not in mappings_of(nb_admin, "media-01.compat.example.test")


def test_add_shared_mapping(nb_admin: CompatCli) -> None:
    for name in ("node-a.compat.example.test", "node-b.compat.example.test"):
        nb_admin.enrol_by_api(name)
        nb_admin.ok(
            "nbhostmgmt",
            "-ADD",
            "-Host",
            name,
            "-MappingName",
            "cluster.compat.example.test",
            "-Shared",
        )

    for name in ("node-a.compat.example.test", "node-b.compat.example.test"):
        assert mappings_of(nb_admin, name)["cluster.compat.example.test"]["shared"] is True


def test_add_name_of_other_host(nb_admin: CompatCli) -> None:
    nb_admin.enrol_by_api("owner.compat.example.test")
    nb_admin.enrol_by_api("claimant.compat.example.test")

    message = nb_admin.fails(
        "nbhostmgmt",
        "-add",
        "-host",
        "claimant.compat.example.test",
        "-mappingname",
        "owner.compat.example.test",
        status=EXIT_CONFLICT,
    )

    assert "owner.compat.example.test" in message


def test_list_all_hosts(nb_admin: CompatCli) -> None:
    nb_admin.enrol_by_api("listed.compat.example.test")

    page = nb_admin.json("nbhostmgmt", "-list", "-json")
    text = nb_admin.ok("nbhostmgmt", "-list").stdout

    assert set(page) >= {"hosts", "total"}
    assert "listed.compat.example.test" in [item["primary_name"] for item in page["hosts"]]
    assert "listed.compat.example.test" in text


def test_approve_and_reject_pending(nb_admin: CompatCli) -> None:
    nb_admin.enrol_by_api(
        "discover.compat.example.test",
        aliases=["discover-a.compat.example.test", "discover-b.compat.example.test"],
    )

    pending = nb_admin.json("nbhostmgmt", "-listpending", "-json")
    compact = nb_admin.ok("nbhostmgmt", "-listpending", "-json_compact").stdout
    nb_admin.ok(
        "nbhostmgmt",
        "-approve",
        "-host",
        "discover.compat.example.test",
        "-mappingname",
        "discover-a.compat.example.test",
    )
    nb_admin.ok(
        "nbhostmgmt",
        "-reject",
        "-host",
        "discover.compat.example.test",
        "-mappingname",
        "discover-b.compat.example.test",
    )

    waiting = {item["name"]: item for item in pending}
    assert set(waiting["discover-a.compat.example.test"]) >= PENDING_KEYS
    assert json.loads(compact) == pending
    mappings = mappings_of(nb_admin, "discover.compat.example.test")
    assert mappings["discover-a.compat.example.test"]["state"] == "approved"
    assert mappings["discover-b.compat.example.test"]["state"] == "rejected"
    assert nb_admin.json("nbhostmgmt", "-listpending", "-json") == []


def test_unknown_host(nb_admin: CompatCli) -> None:
    message = nb_admin.fails(
        "nbhostmgmt",
        "-add",
        "-host",
        "nobody.compat.example.test",
        "-mappingname",
        "alias.compat.example.test",
        status=EXIT_NOT_FOUND,
    )

    assert message.startswith("hostca: error: nobody.compat.example.test: no host has this name")


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        (["-add", "-host", "h"], "nbhostmgmt: error: -add needs -mappingname."),
        (["-add", "-mappingname", "m"], "nbhostmgmt: error: -add needs one of -hostid, -host."),
        (
            ["-delete", "-hostid", "i", "-host", "h", "-mappingname", "m"],
            "nbhostmgmt: error: -hostid and -host exclude each other; give one.",
        ),
        (
            ["-listpending", "-shared"],
            "nbhostmgmt: error: -shared is not an option of -listpending.",
        ),
        (["-add", "-hostid"], "nbhostmgmt: error: -hostid: missing value; give -hostid ID."),
        (["-rename", "-host", "h"], "nbhostmgmt: error: -rename: unknown option."),
    ],
)
def test_usage_errors(nb_admin: CompatCli, arguments: list[str], error: str) -> None:
    result = nb_admin.run("nbhostmgmt", *arguments)

    assert result.returncode == EXIT_USAGE
    assert result.stderr.splitlines()[0] == error
    assert result.stderr.splitlines()[1].startswith("usage: nbhostmgmt -add")
