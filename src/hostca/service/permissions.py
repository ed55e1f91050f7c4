"""The one permission table: which administrator role may do which action."""

from __future__ import annotations

from hostca.core.errors import ForbiddenError

__all__ = [
    "ACTION_DESCRIPTIONS",
    "PERMISSIONS",
    "ROLE_ORDER",
    "check_permission",
    "render_markdown",
]

ROLE_ORDER = ("security-admin", "operator", "auditor")

_ALL = frozenset({"security-admin", "operator", "auditor"})
_ADMIN = frozenset({"security-admin"})
_OPERATOR = frozenset({"security-admin", "operator"})

PERMISSIONS: dict[str, frozenset[str]] = {
    "view": _ALL,
    "audit.view": _ALL,
    "token.create_authorization": _OPERATOR,
    "token.create_reissue": _ADMIN,
    "token.delete": _ADMIN,
    "token.cleanup": _ADMIN,
    "host.add": _OPERATOR,
    "mapping.add": _OPERATOR,
    "mapping.remove": _ADMIN,
    "host.auto_reissue": _ADMIN,
    "host.reset": _ADMIN,
    "cert.revoke": _ADMIN,
    "settings.change": _ADMIN,
    "user.manage": _ADMIN,
    "apikey.manage": _ADMIN,
}

ACTION_DESCRIPTIONS: dict[str, str] = {
    "view": "list and show tokens, hosts, mappings, certificates and settings",
    "audit.view": "list and verify audit events",
    "token.create_authorization": "create authorization tokens",
    "token.create_reissue": "create reissue tokens",
    "token.delete": "delete tokens",
    "token.cleanup": "remove expired, used-up and deleted tokens",
    "host.add": "pre-register hosts",
    "mapping.add": "add mappings, and approve or reject discovered names",
    "mapping.remove": "remove mappings",
    "host.auto_reissue": "allow or disallow auto-reissue",
    "host.reset": "reset hosts",
    "cert.revoke": "revoke certificates",
    "settings.change": "change domain settings",
    "user.manage": "add, list, disable and enable users, and set their passwords",
    "apikey.manage": "create, list and revoke API keys",
}


def check_permission(role: str, action: str, user: str) -> None:
    """Raise ``forbidden`` unless ``role`` may do ``action``."""
    if role not in PERMISSIONS[action]:
        allowed = ", ".join(sorted(PERMISSIONS[action]))
        raise ForbiddenError(
            f"user {user} has the role {role}, which may not {ACTION_DESCRIPTIONS[action]}; "
            f"this needs one of: {allowed}.",
            code="forbidden",
            details={"action": action, "role": role},
        )


def render_markdown() -> str:
    """Render the permission table as the Markdown page ``docs/permissions.md``."""
    header = ["action", "what it allows", *ROLE_ORDER]
    lines = [
        "# Permissions",
        "",
        "Which administrator role may do which action. This page is generated from",
        "`hostca.service.permissions.PERMISSIONS`; regenerate it with",
        "",
        "```",
        "python -c 'from hostca.service.permissions import render_markdown as r; print(r(), end=\"\")' \\",
        "    > docs/permissions.md",
        "```",
        "",
        "A request outside the caller's role is rejected with 403 `forbidden` and audited.",
        "An API key acts with the role it was created with.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for action, roles in PERMISSIONS.items():
        marks = ["yes" if role in roles else "no" for role in ROLE_ORDER]
        lines.append(f"| `{action}` | {ACTION_DESCRIPTIONS[action]} | " + " | ".join(marks) + " |")
    return "\n".join(lines) + "\n"
