"""Console login: a password form protected by a double-submit CSRF nonce.

Failed logins go through the same service call as ``hostca login``, so they are
counted per source IP, rate-limited and audited there.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from hostca.core.errors import HostcaError
from hostca.service import user_service
from hostca.web.console.auth import posted_form
from hostca.web.console.rendering import FormErrors, render
from hostca.web.console.routes import ConsoleRoute
from hostca.web.console.session import (
    LOGIN_CSRF_COOKIE,
    CsrfError,
    new_login_nonce,
    set_cookie,
    set_session_cookie,
)
from hostca.web.dependencies import Context, source_ip

__all__ = ["router"]

router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)

_NONCE_LIFETIME = 3600


def _safe_next(next_path: str) -> str:
    # Only paths inside the console: never another origin ("//evil" or a URL).
    if next_path.startswith("/console/") and not next_path.startswith("/console//"):
        return next_path
    return "/console/"


def _login_page(
    request: Request,
    *,
    next_path: str,
    user: str = "",
    errors: FormErrors | None = None,
    notice: str | None = None,
    status_code: int = 200,
    retry_after: str | None = None,
) -> HTMLResponse:
    nonce = new_login_nonce()
    response = render(
        request,
        "login.html",
        status_code=status_code,
        nonce=nonce,
        next_path=_safe_next(next_path),
        login_user=user,
        errors=errors or FormErrors(),
        notice=notice,
    )
    set_cookie(response, LOGIN_CSRF_COOKIE, nonce, _NONCE_LIFETIME)
    if retry_after:
        response.headers["Retry-After"] = retry_after
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(
    request: Request, next: str = "/console/", expired: str = "", ended: str = ""
) -> HTMLResponse:
    notice = None
    if expired:
        notice = "Your session has ended or expired; log in again."
    elif ended:
        notice = "You have logged out."
    return _login_page(request, next_path=next, notice=notice)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    context: Context,
    fields: Annotated[dict[str, str], Depends(posted_form)],
) -> Response:
    user = fields.get("user", "").strip()
    next_path = fields.get("next", "/console/")
    cookie_nonce = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    form_nonce = fields.get("csrf_token", "")
    if not cookie_nonce or not hmac.compare_digest(cookie_nonce.encode(), form_nonce.encode()):
        error = CsrfError("the login form has expired; log in again on this page.")
        return _login_page(
            request,
            next_path=next_path,
            user=user,
            errors=FormErrors(form=error.message),
            status_code=403,
        )
    try:
        result = user_service.login(context, user, fields.get("password", ""), source_ip(request))
    except HostcaError as error:
        retry_after = error.details.get("retry_after")
        return _login_page(
            request,
            next_path=next_path,
            user=user,
            errors=FormErrors.from_error(error, ("user", "password")),
            status_code=error.status,
            retry_after=None if retry_after is None else str(int(retry_after)),
        )
    response = RedirectResponse(_safe_next(next_path), status_code=303)
    set_session_cookie(response, result.secret, result.expires_at, context.clock())
    response.delete_cookie(
        LOGIN_CSRF_COOKIE, path="/", secure=True, httponly=True, samesite="strict"
    )
    return response
