"""``hostca token``: create, list, show, delete and clean up, against a real primary."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from cli.conftest import HostcaCli

pytestmark = pytest.mark.e2e

TOKEN_KEYS = {"name", "kind", "host_id", "max_uses", "valid_until", "uses", "state"}
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def test_create_json_keys(admin: HostcaCli) -> None:
    created = admin.json("token", "create", "--name", "json-keys", "--max-uses", "3")

    assert TOKEN_KEYS | {"value"} <= set(created)
    assert created["name"] == "json-keys"
    assert created["kind"] == "authorization"
    assert created["host_id"] is None
    assert created["max_uses"] == 3
    assert ISO_UTC.match(created["valid_until"])
    assert re.fullmatch(r"[A-Z]{16}", created["value"])


def test_create_text_shows_value_once(admin: HostcaCli) -> None:
    result = admin.ok("token", "create", "--name", "text-value", "--reason", "rollout of web")

    match = re.search(r"Token value:\s+([A-Z]{16})", result.stdout)
    assert match is not None, result.stdout
    assert "shown only once" in result.stdout
    shown = admin.ok("token", "show", "text-value")
    assert match.group(1) not in shown.stdout
    listed = admin.ok("token", "list", "--json")
    assert match.group(1) not in listed.stdout


def test_show_and_list_json_keys(admin: HostcaCli) -> None:
    admin.json("token", "create", "--name", "listed", "--valid-for", "2d")

    shown = admin.json("token", "show", "listed")
    listed = admin.json("token", "list")

    assert set(shown) >= TOKEN_KEYS
    assert "value" not in shown
    assert shown["state"] == "active"
    assert shown["uses"] == 0
    entry = next(item for item in listed if item["name"] == "listed")
    assert set(entry) >= TOKEN_KEYS
    assert "value" not in entry


def test_create_with_valid_until(admin: HostcaCli) -> None:
    in_ten_days = datetime.now(UTC).replace(microsecond=0) + timedelta(days=10)
    local = in_ten_days.astimezone(timezone(timedelta(hours=1)))

    created = admin.json("token", "create", "--name", "until", "--valid-until", local.isoformat())

    assert created["valid_until"] == in_ten_days.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_create_rejections_are_one_line(admin: HostcaCli) -> None:
    admin.json("token", "create", "--name", "taken")

    assert "a token with this name exists" in admin.fails("token", "create", "--name", "taken")
    assert "no UTC offset" in admin.fails(
        "token", "create", "--name", "naive", "--valid-until", "2099-01-31T18:00:00"
    )
    assert "give only one of them" in admin.fails(
        "token", "create", "--name", "both", "--valid-for", "1d", "--valid-until", "2099-01-01Z"
    )
    assert "--reissue" in admin.fails("token", "create", "--name", "stray", "--host", "x.test")


def test_reissue_token_bound_to_host(admin: HostcaCli) -> None:
    host = admin.json("host", "add", "reissue-me.example.test")

    created = admin.json(
        "token", "create", "--name", "reissue-1", "--reissue", "--host", "reissue-me.example.test"
    )
    by_id = admin.json(
        "token", "create", "--name", "reissue-2", "--reissue", "--host-id", host["host_id"]
    )

    assert created["kind"] == "reissue"
    assert created["host_id"] == host["host_id"]
    assert created["max_uses"] == 1
    assert by_id["host_id"] == host["host_id"]


def test_reissue_token_rejects_alias(admin: HostcaCli) -> None:
    admin.json("host", "add", "aliased.example.test")
    admin.json("host", "mapping", "add", "aliased.example.test", "alias-a.example.test")

    line = admin.fails(
        "token", "create", "--name", "by-alias", "--reissue", "--host", "alias-a.example.test"
    )

    assert "aliased.example.test" in line


def test_delete_and_list_all(admin: HostcaCli) -> None:
    admin.json("token", "create", "--name", "doomed")

    result = admin.ok("token", "delete", "doomed", "--reason", "not needed")

    assert "Deleted token doomed." in result.stdout
    assert all(item["name"] != "doomed" for item in admin.json("token", "list"))
    deleted = [item for item in admin.json("token", "list", "--all") if item["name"] == "doomed"]
    assert [item["state"] for item in deleted] == ["deleted"]
    assert "no such token" in admin.fails("token", "show", "doomed")


def test_cleanup_removes_deleted(admin: HostcaCli) -> None:
    admin.json("token", "create", "--name", "cleaned")
    admin.ok("token", "delete", "cleaned")

    result = admin.json("token", "cleanup")

    assert "cleaned" in result["removed"]
    assert all(item["name"] != "cleaned" for item in admin.json("token", "list", "--all"))


def test_show_unknown_token(admin: HostcaCli) -> None:
    line = admin.fails("token", "show", "..")

    assert "no such token" in line
