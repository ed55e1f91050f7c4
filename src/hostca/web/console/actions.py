"""Console forms that change something. Each passes the CSRF check, then calls one service function.

A form that fails is shown again with the service's message next to the field it
concerns. A form that succeeds redirects (POST, redirect, GET) with a one-time
message. Token creation is the exception: its response shows the value once.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from hostca.core.errors import HostcaError, InvalidRequestError
from hostca.service import host_service, settings_service, token_service, user_service
from hostca.service.revocation import RevokeRequest, revoke
from hostca.service.user_service import AdminIdentity
from hostca.web.console.auth import PostedForm
from hostca.web.console.pages import (
    REASON_CODE_NAMES,
    render_host_page,
    render_settings_page,
    render_tokens_page,
)
from hostca.web.console.rendering import FormErrors, render, set_flash
from hostca.web.console.routes import ConsoleRoute
from hostca.web.console.session import clear_session_cookie
from hostca.web.console.timefields import parse_browser_time
from hostca.web.dependencies import Context, authorize, source_ip

__all__ = ["router"]

router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)


def _done(request: Request, location: str, message: str) -> RedirectResponse:
    response = RedirectResponse(location, status_code=303)
    set_flash(request, response, message)
    return response


def _authorize(context: Context, form: PostedForm, action: str) -> None:
    authorize(context, form.page.identity, action, form.page.request)


@router.post("/logout")
def logout(request: Request, context: Context, form: PostedForm) -> Response:
    identity: AdminIdentity = form.page.identity
    user_service.logout(context, identity, source_ip(request))
    response = RedirectResponse("/console/login?ended=1", status_code=303)
    clear_session_cookie(response)
    return response


# Tokens


@router.post("/hosts/{reference}/reissue-token", response_class=HTMLResponse)
def create_reissue_token(
    request: Request, context: Context, form: PostedForm, reference: str
) -> HTMLResponse:
    host = host_service.show_host(context, reference)
    values = {key: form.get(key) for key in ("name", "valid_until", "reason")}
    try:
        _authorize(context, form, "token.create_reissue")
        valid_until = parse_browser_time(
            form.get("valid_until"), form.get("valid_until_utc"), "valid until"
        )
        if valid_until is None:
            raise InvalidRequestError(
                "valid until is empty; give the date and time until which the token can be used.",
                code="timestamp_invalid",
            )
        created = token_service.create_token(
            context,
            form.actor,
            token_service.CreateTokenRequest(
                name=values["name"],
                kind="reissue",
                host_id=host["host_id"],
                valid_until=valid_until.isoformat(),
                reason=values["reason"] or None,
            ),
        )
    except HostcaError as error:
        if error.code == "forbidden":
            raise
        return render(
            request,
            "reissue_token.html",
            page=form.page,
            status_code=error.status,
            host=host,
            errors=FormErrors.from_error(error, tuple(values)),
            values=values,
        )
    return render(
        request,
        "token_created.html",
        page=form.page,
        token=created.view,
        value=created.value,
        host=host,
    )


@router.post("/tokens", response_class=HTMLResponse)
def create_authorization_token(
    request: Request, context: Context, form: PostedForm
) -> HTMLResponse:
    values = {key: form.get(key) for key in ("name", "max_uses", "valid_for", "reason")}
    try:
        _authorize(context, form, "token.create_authorization")
        try:
            max_uses = int(values["max_uses"] or "1")
        except ValueError:
            raise InvalidRequestError(
                f"{values['max_uses']}: maximum uses must be a whole number.",
                code="max_uses_invalid",
            ) from None
        created = token_service.create_token(
            context,
            form.actor,
            token_service.CreateTokenRequest(
                name=values["name"],
                max_uses=max_uses,
                valid_for=values["valid_for"] or None,
                reason=values["reason"] or None,
            ),
        )
    except HostcaError as error:
        if error.code == "forbidden":
            raise
        return render_tokens_page(
            request,
            context,
            form.page,
            errors=FormErrors.from_error(error, tuple(values)),
            values=values,
            status_code=error.status,
        )
    return render(
        request, "token_created.html", page=form.page, token=created.view, value=created.value
    )


@router.post("/tokens/delete")
def delete_token(request: Request, context: Context, form: PostedForm) -> Response:
    name = form.get("name")
    _authorize(context, form, "token.delete")
    token_service.delete_token(context, form.actor, name, form.get("reason") or None)
    return _done(request, "/console/tokens", f"Deleted the token {name}.")


@router.post("/tokens/cleanup")
def cleanup_tokens(request: Request, context: Context, form: PostedForm) -> Response:
    _authorize(context, form, "token.cleanup")
    removed = token_service.cleanup_tokens(context, form.actor)
    return _done(
        request, "/console/tokens", f"Removed {len(removed)} expired, used-up or deleted tokens."
    )


# Revocation


@router.post("/revoke", response_class=HTMLResponse)
def revoke_certificates(request: Request, context: Context, form: PostedForm) -> Response:
    host_id, serial = form.get("host_id"), form.get("serial_number")
    values = {key: form.get(key) for key in ("reason_code", "reason")}
    try:
        _authorize(context, form, "cert.revoke")
        serials = revoke(
            context,
            form.actor,
            RevokeRequest(
                host_id=None if serial else host_id,
                serial_number=serial or None,
                reason_code=values["reason_code"] or "unspecified",
                reason=values["reason"] or None,
            ),
        )
    except HostcaError as error:
        if error.code == "forbidden":
            raise
        target = (
            {"serial_number": serial}
            if serial
            else {"host": host_service.show_host(context, host_id)}
        )
        return render(
            request,
            "revoke.html",
            page=form.page,
            status_code=error.status,
            target=target,
            reason_codes=REASON_CODE_NAMES,
            errors=FormErrors.from_error(error, tuple(values)),
            values=values,
        )
    location = f"/console/certificates/{serial}" if serial else f"/console/hosts/{host_id}"
    return _done(request, location, f"Revoked {len(serials)} certificate(s): {', '.join(serials)}.")


# Hosts and mappings


@router.post("/hosts/{reference}/mappings", response_class=HTMLResponse)
def add_mapping(request: Request, context: Context, form: PostedForm, reference: str) -> Response:
    name = form.get("name")
    try:
        _authorize(context, form, "mapping.add")
        host_service.add_mapping(
            context, form.actor, reference, name, shared=form.get("shared") == "on"
        )
    except HostcaError as error:
        if error.code == "forbidden":
            raise
        return render_host_page(
            request,
            context,
            form.page,
            reference,
            errors=FormErrors.from_error(error, ("name",), default_field="name"),
            values={"name": name},
            status_code=error.status,
        )
    return _done(request, f"/console/hosts/{reference}", f"Added the mapping {name}.")


@router.post("/hosts/{reference}/mappings/remove")
def remove_mapping(
    request: Request, context: Context, form: PostedForm, reference: str
) -> Response:
    name = form.get("name")
    _authorize(context, form, "mapping.remove")
    host_service.remove_mapping(context, form.actor, reference, name)
    return _done(request, f"/console/hosts/{reference}", f"Removed the mapping {name}.")


@router.post("/mappings/decide")
def decide_mapping(request: Request, context: Context, form: PostedForm) -> Response:
    host_id, name, decision = form.get("host_id"), form.get("name"), form.get("decision")
    _authorize(context, form, "mapping.add")
    if decision not in ("approve", "reject"):
        raise InvalidRequestError(f"{decision}: use approve or reject.", code="decision_invalid")
    host_service.decide_mapping(context, form.actor, host_id, name, approve=decision == "approve")
    verb = "Approved" if decision == "approve" else "Rejected"
    return _done(request, "/console/mappings", f"{verb} the mapping {name}.")


@router.post("/hosts/{reference}/auto-reissue")
def auto_reissue(request: Request, context: Context, form: PostedForm, reference: str) -> Response:
    _authorize(context, form, "host.auto_reissue")
    decision = form.get("decision")
    if decision not in ("allow", "disallow"):
        raise InvalidRequestError(f"{decision}: use allow or disallow.", code="decision_invalid")
    if decision == "disallow":
        host_service.set_auto_reissue(context, form.actor, reference, None)
        message = "Closed the auto-reissue window."
    else:
        text = form.get("minutes") or str(host_service.AUTO_REISSUE_DEFAULT_MINUTES)
        try:
            minutes = int(text)
        except ValueError:
            raise InvalidRequestError(
                f"{text}: minutes must be a whole number.", code="minutes_invalid"
            ) from None
        host_service.set_auto_reissue(context, form.actor, reference, minutes)
        message = f"Opened the auto-reissue window for {minutes} minutes."
    return _done(request, f"/console/hosts/{reference}", message)


@router.post("/hosts/{reference}/reset")
def reset_host(request: Request, context: Context, form: PostedForm, reference: str) -> Response:
    _authorize(context, form, "host.reset")
    host_service.reset_host(context, form.actor, reference)
    return _done(request, f"/console/hosts/{reference}", "Reset the host.")


# Settings


@router.post("/settings", response_class=HTMLResponse)
def change_setting(request: Request, context: Context, form: PostedForm) -> Response:
    key, value = form.get("key"), form.get("value")
    try:
        _authorize(context, form, "settings.change")
        settings_service.change_setting(context, form.actor, key, value)
    except HostcaError as error:
        if error.code == "forbidden":
            raise
        return render_settings_page(
            request,
            context,
            form.page,
            errors={key: FormErrors.from_error(error, ("value",), default_field="value")},
            values={key: value},
            status_code=error.status,
        )
    return _done(request, "/console/settings", f"Set {key.replace('_', '-')} to {value}.")
