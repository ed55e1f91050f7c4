"""``hostca user`` against a real server: add, list, passwd, disable and their errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from cli.conftest import HostcaCli

pytestmark = pytest.mark.e2e


def write_password(admin: HostcaCli, name: str, password: str) -> Path:
    path = admin.work_dir / name
    path.write_text(password + "\n")
    return path


def test_user_add_list_passwd_disable(admin: HostcaCli) -> None:
    password_file = write_password(admin, "cli-ops-password", "cli-operator-password")

    added = admin.json(
        "user", "add", "cli-ops", "--role", "operator", "--password-file", str(password_file)
    )
    listed = admin.json("user", "list")
    new_password_file = write_password(admin, "cli-ops-new-password", "cli-operator-password-2")
    changed = admin.json("user", "passwd", "cli-ops", "--password-file", str(new_password_file))
    disabled = admin.json("user", "disable", "cli-ops")

    assert (added["name"], added["role"], added["disabled"]) == ("cli-ops", "operator", False)
    entry = next(item for item in listed if item["name"] == "cli-ops")
    assert set(entry) >= {"name", "role", "disabled", "created_at"}
    assert changed["name"] == "cli-ops"
    assert disabled["disabled"] is True
    text = admin.ok("user", "list").stdout
    assert "cli-ops" in text
    assert "disabled" in text


def test_user_add_text_output(admin: HostcaCli) -> None:
    password_file = write_password(admin, "cli-aud-password", "cli-auditor-password")

    result = admin.ok(
        "user", "add", "cli-aud", "--role", "auditor", "--password-file", str(password_file)
    )

    assert result.stdout.strip() == "Added user cli-aud with the role auditor."
    assert "cli-auditor-password" not in result.stdout + result.stderr


def test_user_disable_last_security_admin(admin: HostcaCli) -> None:
    line = admin.fails("user", "disable", "admin", "--json")

    error = json.loads(line)
    assert error["code"] == "last_security_admin"
    assert "admin" in error["message"]


def test_user_add_short_password(admin: HostcaCli) -> None:
    password_file = write_password(admin, "short-password", "too-short")

    line = admin.fails(
        "user", "add", "cli-short", "--role", "auditor", "--password-file", str(password_file)
    )

    assert "at least 12" in line


def test_user_add_without_password_or_terminal(admin: HostcaCli) -> None:
    line = admin.fails("user", "add", "cli-nopw", "--role", "auditor", "--json")
    assert json.loads(line)["code"] == "password_required"


def test_user_role_must_be_known(admin: HostcaCli) -> None:
    line = admin.fails("user", "add", "cli-role", "--role", "root")
    assert "root" in line
