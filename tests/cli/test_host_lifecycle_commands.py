"""``hostca host mapping approve|reject``, ``host auto-reissue`` and ``host reset``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from cli.conftest import EnrollHost, HostcaCli

pytestmark = pytest.mark.e2e


def new_token(admin: HostcaCli, name: str) -> str:
    value: str = admin.json("token", "create", "--name", name)["value"]
    return value


def test_approve_and_reject_pending(admin: HostcaCli, enroll_host: EnrollHost) -> None:
    issued = enroll_host(
        new_token(admin, "t-approve"), "app-01.example.test", aliases=("app-01", "app-01.old.test")
    )
    pending = {entry["name"] for entry in admin.json("host", "mapping", "pending")}
    assert {"app-01", "app-01.old.test"} <= pending

    approved = admin.json("host", "mapping", "approve", "app-01.example.test", "app-01")
    rejected = admin.json("host", "mapping", "reject", issued["host_id"], "app-01.old.test")

    states = {m["name"]: m["state"] for m in rejected["mappings"]}
    assert states == {"app-01": "approved", "app-01.old.test": "rejected"}
    assert approved["host_id"] == issued["host_id"]
    line = admin.fails("host", "mapping", "approve", "app-01.example.test", "app-01.old.test")
    assert "not waiting for approval" in line


def test_auto_reissue_allow_and_disallow(admin: HostcaCli, enroll_host: EnrollHost) -> None:
    enroll_host(new_token(admin, "t-window"), "win-01.example.test")

    opened = admin.json("host", "auto-reissue", "allow", "win-01.example.test", "--minutes", "30")
    assert opened["auto_reissue_until"] is not None
    text = admin.ok("host", "auto-reissue", "allow", "win-01.example.test").stdout
    assert "may reissue without a token until" in text
    closed = admin.json("host", "auto-reissue", "disallow", "win-01.example.test")
    assert closed["auto_reissue_until"] is None

    line = admin.fails("host", "auto-reissue", "allow", "win-01.example.test", "--minutes", "50000")
    assert "43,200" in line


def test_reset_keeps_identity(admin: HostcaCli, enroll_host: EnrollHost) -> None:
    issued = enroll_host(new_token(admin, "t-reset"), "rst-01.example.test", aliases=("rst-01",))
    admin.ok("host", "auto-reissue", "allow", "rst-01.example.test")

    after = admin.json("host", "reset", "rst-01.example.test")

    assert after["host_id"] == issued["host_id"]
    assert after["primary_name"] == "rst-01.example.test"
    assert after["mappings"] == []
    assert after["auto_reissue_until"] is None
    certificates = admin.json("cert", "list", "--host", "rst-01.example.test")
    assert [c["status"] for c in certificates] == ["valid"]
