"""The one permission table: which administrator role may do which action."""

from __future__ import annotations

from hostca.core.errors import ForbiddenError

__all__ = ["PERMISSIONS", "check_permission"]

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


def check_permission(role: str, action: str, user: str) -> None:
    """Raise ``forbidden`` unless ``role`` may do ``action``."""
    if role not in PERMISSIONS[action]:
        allowed = ", ".join(sorted(PERMISSIONS[action]))
        raise ForbiddenError(
            f"user {user} has the role {role}, which may not {action.replace('.', ' ').replace('_', ' ')}; "
            f"this needs one of: {allowed}.",
            code="forbidden",
            details={"action": action, "role": role},
        )
