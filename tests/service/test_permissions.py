"""The permission table and the page generated from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostca.core.errors import ForbiddenError
from hostca.service.permissions import (
    ACTION_DESCRIPTIONS,
    PERMISSIONS,
    ROLE_ORDER,
    check_permission,
    render_markdown,
)

DOCS_PAGE = Path(__file__).parents[2] / "docs" / "permissions.md"


def test_permissions_page_is_current() -> None:
    assert DOCS_PAGE.read_text(encoding="utf-8") == render_markdown(), (
        "docs/permissions.md differs from the permission table; regenerate it with the "
        "command at the top of the page"
    )


def test_every_action_is_described() -> None:
    assert set(ACTION_DESCRIPTIONS) == set(PERMISSIONS)


def test_security_admin_may_do_everything() -> None:
    for action in PERMISSIONS:
        check_permission("security-admin", action, "admin")


@pytest.mark.parametrize("action", ["user.manage", "apikey.manage"])
@pytest.mark.parametrize("role", [role for role in ROLE_ORDER if role != "security-admin"])
def test_account_actions_need_security_admin(role: str, action: str) -> None:
    with pytest.raises(ForbiddenError) as raised:
        check_permission(role, action, "someone")

    assert raised.value.code == "forbidden"
    assert raised.value.details == {"action": action, "role": role}
