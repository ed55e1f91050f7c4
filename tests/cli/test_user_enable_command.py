"""``hostca user enable`` against a real server."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from cli.conftest import HostcaCli

pytestmark = pytest.mark.e2e


def test_user_disable_then_enable(admin: HostcaCli) -> None:
    password_file = admin.work_dir / "cli-back-password"
    password_file.write_text("cli-back-password-long\n")
    admin.json(
        "user", "add", "cli-back", "--role", "auditor", "--password-file", str(password_file)
    )
    admin.json("user", "disable", "cli-back")

    enabled = admin.json("user", "enable", "cli-back")
    text = admin.ok("user", "enable", "cli-back").stdout

    assert (enabled["name"], enabled["disabled"]) == ("cli-back", False)
    assert text.strip() == "Enabled user cli-back; it logs in anew."


def test_user_enable_unknown(admin: HostcaCli) -> None:
    line = admin.fails("user", "enable", "nobody-here", "--json")

    assert json.loads(line)["code"] == "user_not_found"
