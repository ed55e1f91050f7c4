"""``hostca host`` and its ``mapping`` subgroup, against a real primary."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from cli.conftest import EnrollHost, HostcaCli

pytestmark = pytest.mark.e2e


def test_add_and_show_json_keys(admin: HostcaCli) -> None:
    added = admin.json("host", "add", "DB-01.Example.Test.")

    shown = admin.json("host", "show", "db-01.example.test")

    assert shown["host_id"] == added["host_id"]
    assert shown["primary_name"] == "db-01.example.test"
    assert shown["mappings"] == []
    assert admin.json("host", "show", added["host_id"])["primary_name"] == "db-01.example.test"


def test_add_text_names_host_id(admin: HostcaCli) -> None:
    result = admin.ok("host", "add", "text-01.example.test")

    assert result.stdout.startswith("Added host text-01.example.test with host ID ")


def test_add_taken_name_fails(admin: HostcaCli) -> None:
    admin.json("host", "add", "dup-01.example.test")

    line = admin.fails("host", "add", "dup-01.example.test")

    assert "already a name of host" in line


def test_add_invalid_name_fails(admin: HostcaCli) -> None:
    line = admin.fails("host", "add", "*.example.test")

    assert "*.example.test" in line


def test_show_unknown_host_fails(admin: HostcaCli) -> None:
    line = admin.fails("host", "show", "nowhere.example.test")

    assert "nowhere.example.test" in line


def test_list_search_and_paging(admin: HostcaCli) -> None:
    for index in range(3):
        admin.json("host", "add", f"page-{index}.example.test")

    found = admin.json("host", "list", "--search", "page-")
    second = admin.json("host", "list", "--search", "page-", "--limit", "1", "--offset", "1")

    assert found["total"] == 3
    names = [item["primary_name"] for item in found["hosts"]]
    assert names == ["page-0.example.test", "page-1.example.test", "page-2.example.test"]
    assert [item["primary_name"] for item in second["hosts"]] == ["page-1.example.test"]
    text = admin.ok("host", "list", "--search", "page-").stdout
    assert "PRIMARY NAME" in text
    assert "page-2.example.test" in text


def test_mapping_add_and_remove(admin: HostcaCli) -> None:
    admin.json("host", "add", "app-01.example.test")

    admin.ok("host", "mapping", "add", "app-01.example.test", "app-01")
    admin.ok("host", "mapping", "add", "app-01.example.test", "10.1.2.3", "--shared")
    mappings = admin.json("host", "show", "app-01.example.test")["mappings"]

    assert {(m["name"], m["state"], m["shared"]) for m in mappings} == {
        ("app-01", "approved", False),
        ("10.1.2.3", "approved", True),
    }
    admin.ok("host", "mapping", "remove", "app-01", "app-01")
    names = [m["name"] for m in admin.json("host", "show", "app-01.example.test")["mappings"]]
    assert names == ["10.1.2.3"]


def test_mapping_conflict_and_shared_name(admin: HostcaCli) -> None:
    admin.json("host", "add", "node-a.example.test")
    admin.json("host", "add", "node-b.example.test")
    admin.ok("host", "mapping", "add", "node-a.example.test", "cluster.example.test", "--shared")

    line = admin.fails("host", "mapping", "add", "node-b.example.test", "cluster.example.test")
    admin.ok("host", "mapping", "add", "node-b.example.test", "cluster.example.test", "--shared")

    assert "--shared" in line


def test_mapping_remove_rejections(admin: HostcaCli) -> None:
    admin.json("host", "add", "keep-01.example.test")

    primary = admin.fails(
        "host", "mapping", "remove", "keep-01.example.test", "keep-01.example.test"
    )
    missing = admin.fails("host", "mapping", "remove", "keep-01.example.test", "other.example.test")

    assert "primary name" in primary
    assert "not a name of host" in missing


def test_mapping_pending_lists_discovered_name(admin: HostcaCli, enroll_host: EnrollHost) -> None:
    token = admin.json("token", "create", "--name", "pending-enrol")["value"]
    issued = enroll_host(token, "disc-01.example.test", aliases=["disc-01-alias.example.test"])

    pending = admin.json("host", "mapping", "pending")

    entry = next(item for item in pending if item["name"] == "disc-01-alias.example.test")
    assert entry["host_id"] == issued["host_id"]
    assert entry["primary_name"] == "disc-01.example.test"
    assert entry["conflicts_with"] == []
    text = admin.ok("host", "mapping", "pending").stdout
    assert "disc-01-alias.example.test" in text
    shown = admin.json("host", "show", "disc-01.example.test")
    states = {m["name"]: m["state"] for m in shown["mappings"]}
    assert states == {"disc-01-alias.example.test": "pending"}
