"""Console sessions in cookies, and CSRF tokens bound to them.

The session cookie holds the same kind of session secret that ``hostca login``
gets, so sessions expire, end at logout and end when a password changes, in one
place. The ``__Host-`` prefix makes browsers accept the cookie only with
``Secure`` and ``Path=/`` and no ``Domain``. A form's CSRF token is a keyed hash
of the session secret: a page from another origin can neither read it nor
compute it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from starlette.responses import Response

from hostca.core.errors import ForbiddenError

__all__ = [
    "LOGIN_CSRF_COOKIE",
    "SESSION_COOKIE",
    "CsrfError",
    "check_csrf",
    "clear_session_cookie",
    "csrf_token",
    "new_login_nonce",
    "set_cookie",
    "set_session_cookie",
]

SESSION_COOKIE = "__Host-hostca-session"
LOGIN_CSRF_COOKIE = "__Host-hostca-login"
FLASH_COOKIE = "__Host-hostca-flash"

_CSRF_LABEL = b"hostca console csrf\x00"


class CsrfError(ForbiddenError):
    """A state-changing console request without the CSRF token of its session."""

    default_code = "csrf_invalid"


def csrf_token(key: bytes, session_secret: str) -> str:
    return hmac.new(key, _CSRF_LABEL + session_secret.encode(), hashlib.sha256).hexdigest()


def check_csrf(expected: str, given: str | None) -> None:
    """Raise ``csrf_invalid`` unless the form carries the expected token."""
    if not given or not hmac.compare_digest(expected.encode(), given.encode()):
        raise CsrfError(
            "the form has no valid CSRF token; reload the page and submit the form again.",
        )


def new_login_nonce() -> str:
    return secrets.token_urlsafe(32)


def set_cookie(response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path="/", secure=True, httponly=True, samesite="strict"
    )


def set_session_cookie(
    response: Response, secret: str, expires_at: datetime, now: datetime
) -> None:
    set_cookie(response, SESSION_COOKIE, secret, max(0, int((expires_at - now).total_seconds())))


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="strict")
