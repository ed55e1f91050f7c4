"""Templates and the values every console page gets."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from hostca.core.errors import HostcaError
from hostca.service.permissions import PERMISSIONS
from hostca.service.user_service import AdminIdentity
from hostca.web.console.session import FLASH_COOKIE, set_cookie

__all__ = ["ConsolePage", "FormErrors", "read_flash", "render", "set_flash"]

_environment = Environment(
    loader=PackageLoader("hostca.web.console", "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)

# The form fields next to which an error may be shown, by the error's code. The
# first of them that the submitted form has gets the message. Errors with other
# codes, or for fields the form lacks, are shown above the form.
_FIELDS_OF_CODE = {
    "token_name_invalid": ("name",),
    "token_name_taken": ("name",),
    "name_invalid": ("name",),
    "mapping_exists": ("name",),
    "name_conflict": ("name",),
    "name_is_primary": ("name",),
    "mapping_not_found": ("name",),
    "name_ambiguous": ("name",),
    "max_uses_invalid": ("max_uses",),
    "duration_invalid": ("valid_for",),
    "timestamp_invalid": ("valid_until",),
    "validity_too_long": ("valid_for", "valid_until"),
    "reason_too_long": ("reason",),
    "reason_invalid": ("reason",),
    "reason_code_invalid": ("reason_code",),
    "minutes_invalid": ("minutes",),
    "setting_invalid": ("value",),
    "login_failed": ("password",),
    "rate_limited": ("password",),
}


@dataclass
class FormErrors:
    """Errors of one submitted form: by field, plus one for the whole form."""

    form: str | None = None
    fields: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_error(
        cls, error: HostcaError, fields: tuple[str, ...], *, default_field: str | None = None
    ) -> FormErrors:
        """Place ``error`` next to the first of ``fields`` it concerns, else above the form."""
        candidates = [name for name in _FIELDS_OF_CODE.get(error.code, ()) if name in fields]
        field_name = candidates[0] if candidates else default_field
        if field_name is None:
            return cls(form=error.message)
        return cls(fields={field_name: error.message})

    def __bool__(self) -> bool:
        return bool(self.form or self.fields)


@dataclass(frozen=True)
class ConsolePage:
    """The administrator viewing a page, and the CSRF token for its forms."""

    request: Request
    identity: AdminIdentity
    csrf: str


def _time(value: datetime | str | None) -> Markup:
    """Render a UTC time as a <time> element, which the console script shows in the browser's zone."""
    if value is None:
        return Markup("&ndash;")
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    utc = value.astimezone(UTC)
    iso = utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    shown = utc.strftime("%Y-%m-%d %H:%M UTC")
    return Markup('<time datetime="{}">{}</time>').format(iso, shown)


def _short(host_id: str | None) -> str:
    return (host_id or "")[:8]


_environment.filters["time"] = _time
_environment.filters["short"] = _short


def render(
    request: Request,
    template: str,
    *,
    page: ConsolePage | None = None,
    status_code: int = 200,
    **values: Any,
) -> HTMLResponse:
    def can(action: str) -> bool:
        return page is not None and page.identity.role in PERMISSIONS[action]

    context = {
        "request": request,
        "user": page.identity if page else None,
        "csrf": page.csrf if page else "",
        "can": can,
        "flash": read_flash(request),
        "path": request.url.path,
        **values,
    }
    html = _environment.get_template(template).render(context)
    response = HTMLResponse(html, status_code=status_code)
    if context["flash"]:
        response.delete_cookie(
            FLASH_COOKIE, path="/", secure=True, httponly=True, samesite="strict"
        )
    return response


# Flash messages survive one redirect in a short-lived cookie, signed so that
# another site cannot plant text in the console.


def _flash_key(request: Request) -> bytes:
    key: bytes = request.app.state.context.token_hmac_key
    return hmac.new(key, b"hostca console flash", hashlib.sha256).digest()


def set_flash(request: Request, response: Response, message: str) -> None:
    payload = base64.urlsafe_b64encode(message.encode()).decode()
    signature = hmac.new(_flash_key(request), payload.encode(), hashlib.sha256).hexdigest()
    set_cookie(response, FLASH_COOKIE, f"{payload}.{signature}", max_age=60)


def read_flash(request: Request) -> str | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw or "." not in raw:
        return None
    payload, _, signature = raw.rpartition(".")
    expected = hmac.new(_flash_key(request), payload.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return None
    try:
        return base64.urlsafe_b64decode(payload.encode()).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
