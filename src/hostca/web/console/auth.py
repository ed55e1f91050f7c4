"""Console authentication: the session cookie, and the CSRF check on every form."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request

from hostca.core.errors import HostcaError
from hostca.service.audit_log import record_failure
from hostca.service.context import Actor, ServiceContext
from hostca.service.user_service import authenticate_session
from hostca.web.console.rendering import ConsolePage
from hostca.web.console.session import SESSION_COOKIE, CsrfError, check_csrf, csrf_token
from hostca.web.dependencies import Context, source_ip

__all__ = ["ConsoleForm", "LoginRequired", "Page", "PostedForm", "console_page", "posted_form"]


class LoginRequired(Exception):  # noqa: N818 - a redirect signal, not an error of the user's
    """No valid console session: the request is sent to the login page."""

    def __init__(self, next_path: str, reason: str | None = None) -> None:
        super().__init__(next_path)
        self.location = f"/console/login?next={quote(next_path)}"
        if reason:
            self.location += "&expired=1"


def console_page(request: Request, context: Context) -> ConsolePage:
    secret = request.cookies.get(SESSION_COOKIE)
    next_path = request.url.path
    if not secret:
        raise LoginRequired(next_path)
    try:
        identity = authenticate_session(context, secret, source_ip(request))
    except HostcaError as error:
        raise LoginRequired(next_path, error.code) from error
    return ConsolePage(request, identity, csrf_token(context.token_hmac_key, secret))


Page = Annotated[ConsolePage, Depends(console_page)]


async def posted_form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


@dataclass(frozen=True)
class ConsoleForm:
    """A state-changing request that passed the CSRF check, with its fields and actor."""

    page: ConsolePage
    fields: dict[str, str]
    actor: Actor

    def get(self, name: str, default: str = "") -> str:
        return self.fields.get(name, default).strip()


def _same_origin(request: Request) -> bool:
    # Browsers send Origin with every POST. Older clients may leave it out, and
    # then the CSRF token alone protects the form.
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    parts = urlsplit(origin)
    return parts.netloc == request.headers.get("host") and parts.scheme == request.url.scheme


def checked_form(
    request: Request,
    context: Context,
    page: Page,
    fields: Annotated[dict[str, str], Depends(posted_form)],
) -> ConsoleForm:
    actor = page.identity.actor(source_ip(request))
    try:
        if not _same_origin(request):
            raise CsrfError(
                f"{request.headers.get('origin')}: the form was sent from another origin; "
                "use the console's own pages.",
            )
        check_csrf(page.csrf, fields.get("csrf_token"))
    except CsrfError as error:
        _audit_csrf(context, error, actor, request.url.path)
        raise
    return ConsoleForm(page, fields, actor)


def _audit_csrf(context: ServiceContext, error: CsrfError, actor: Actor, path: str) -> None:
    record_failure(
        context, error, category="SEC_CONFIG", action="csrf_check", actor=actor, target=path
    )


PostedForm = Annotated[ConsoleForm, Depends(checked_form)]
