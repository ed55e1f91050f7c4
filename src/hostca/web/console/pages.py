"""Console pages that show: dashboard, hosts, mappings, tokens, certificates, CA, audit, settings."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, StreamingResponse

from hostca.core.crl import REASON_CODES
from hostca.core.errors import InvalidRequestError
from hostca.core.fingerprints import fingerprint
from hostca.service import (
    audit_service,
    certificate_views,
    host_service,
    settings_service,
    token_service,
)
from hostca.service.audit_export import EXPORT_FORMATS, csv_lines, jsonl_lines
from hostca.service.dashboard import load_dashboard
from hostca.service.domain_settings import setting_keys
from hostca.service.host_search import HostSearch, find_hosts
from hostca.web.console.auth import Page
from hostca.web.console.rendering import ConsolePage, FormErrors, render
from hostca.web.console.routes import ConsoleRoute
from hostca.web.console.timefields import parse_browser_time
from hostca.web.dependencies import Context, authorize

__all__ = ["render_host_page", "render_settings_page", "render_tokens_page", "router"]

router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)

HOST_PAGE_SIZE = 50
CERTIFICATE_PAGE_SIZE = 100
AUDIT_PAGE_SIZE = 100
HOST_TIMELINE_LENGTH = 200
EXPORT_BATCH = 1000
REASON_CODE_NAMES = tuple(REASON_CODES)


def _view(context: Context, page: ConsolePage, action: str = "view") -> None:
    authorize(context, page.identity, action, page.request)


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, context: Context, page: Page) -> HTMLResponse:
    _view(context, page)
    figures = load_dashboard(context)
    tallest = max((bucket.count for bucket in figures.expiry), default=0)
    return render(request, "dashboard.html", page=page, figures=figures, tallest=tallest)


@router.get("/hosts", response_class=HTMLResponse)
def hosts(
    request: Request,
    context: Context,
    page: Page,
    q: str = "",
    after: str = "",
    before: str = "",
) -> HTMLResponse:
    _view(context, page)
    found = find_hosts(
        context,
        HostSearch(text=q, after=after or None, before=before or None, limit=HOST_PAGE_SIZE),
    )
    return render(request, "hosts.html", page=page, q=q, found=found)


def render_host_page(
    request: Request,
    context: Context,
    page: ConsolePage,
    reference: str,
    *,
    errors: FormErrors | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    _view(context, page)
    host = host_service.show_host(context, reference)
    timeline = audit_service.list_events(
        context,
        audit_service.AuditQuery(host_id=host["host_id"], latest=True, limit=HOST_TIMELINE_LENGTH),
    )
    return render(
        request,
        "host.html",
        page=page,
        status_code=status_code,
        host=host,
        timeline=list(reversed(timeline)),
        reason_codes=REASON_CODE_NAMES,
        errors=errors or FormErrors(),
        values=values or {},
    )


@router.get("/hosts/{reference}", response_class=HTMLResponse)
def host_detail(request: Request, context: Context, page: Page, reference: str) -> HTMLResponse:
    return render_host_page(request, context, page, reference)


@router.get("/hosts/{reference}/reissue-token", response_class=HTMLResponse)
def reissue_token_form(
    request: Request, context: Context, page: Page, reference: str
) -> HTMLResponse:
    _view(context, page, "token.create_reissue")
    host = host_service.show_host(context, reference)
    default_until = (context.clock() + timedelta(days=2)).astimezone(UTC)
    return render(
        request,
        "reissue_token.html",
        page=page,
        host=host,
        errors=FormErrors(),
        values={
            "name": f"reissue-{host['primary_name'][:40]}-{context.clock():%Y%m%d%H%M}",
            "valid_until": default_until.strftime("%Y-%m-%dT%H:%M"),
            "valid_until_is_utc": "1",
        },
    )


@router.get("/revoke", response_class=HTMLResponse)
def revoke_form(
    request: Request, context: Context, page: Page, host_id: str = "", serial: str = ""
) -> HTMLResponse:
    _view(context, page, "cert.revoke")
    if serial:
        target = {
            "serial_number": certificate_views.show_certificate(context, serial)["serial_number"]
        }
    else:
        target = {"host": host_service.show_host(context, host_id)}
    return render(
        request,
        "revoke.html",
        page=page,
        target=target,
        reason_codes=REASON_CODE_NAMES,
        errors=FormErrors(),
        values={"reason_code": "unspecified"},
    )


@router.get("/mappings", response_class=HTMLResponse)
def mappings(request: Request, context: Context, page: Page) -> HTMLResponse:
    _view(context, page)
    pending = host_service.pending_mappings(context)
    return render(request, "mappings.html", page=page, pending=pending)


def render_tokens_page(
    request: Request,
    context: Context,
    page: ConsolePage,
    *,
    show_all: bool = False,
    errors: FormErrors | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    _view(context, page)
    tokens = token_service.list_tokens(context, include_all=show_all)
    return render(
        request,
        "tokens.html",
        page=page,
        status_code=status_code,
        tokens=tokens,
        show_all=show_all,
        errors=errors or FormErrors(),
        values=values or {"max_uses": "1", "valid_for": "24h"},
    )


@router.get("/tokens", response_class=HTMLResponse)
def tokens(request: Request, context: Context, page: Page, all: bool = False) -> HTMLResponse:
    return render_tokens_page(request, context, page, show_all=all)


@router.get("/certificates", response_class=HTMLResponse)
def certificates(
    request: Request,
    context: Context,
    page: Page,
    status: str = "",
    host: str = "",
    expires_within: str = "",
    offset: int = 0,
) -> HTMLResponse:
    _view(context, page)
    expires_before = None
    if expires_within:
        days = _whole_days(expires_within)
        expires_before = context.clock() + timedelta(days=days)
    listed = certificate_views.list_certificates(
        context,
        host=host or None,
        status=status or None,
        limit=CERTIFICATE_PAGE_SIZE + 1,
        offset=max(0, offset),
        expires_before=expires_before,
    )
    return render(
        request,
        "certificates.html",
        page=page,
        certificates=listed[:CERTIFICATE_PAGE_SIZE],
        more=len(listed) > CERTIFICATE_PAGE_SIZE,
        offset=max(0, offset),
        page_size=CERTIFICATE_PAGE_SIZE,
        filters={"status": status, "host": host, "expires_within": expires_within},
        statuses=certificate_views.CERTIFICATE_STATUSES,
    )


def _whole_days(text: str) -> int:
    try:
        days = int(text)
    except ValueError:
        days = -1
    if not 0 <= days <= 3650:
        raise InvalidRequestError(
            f"{text}: expires within must be a whole number of days from 0 to 3650.",
            code="filter_invalid",
        )
    return days


@router.get("/certificates/{serial}", response_class=HTMLResponse)
def certificate_detail(request: Request, context: Context, page: Page, serial: str) -> HTMLResponse:
    _view(context, page)
    certificate = certificate_views.show_certificate(context, serial)
    host = host_service.host_summary(context, certificate["host_id"])
    return render(request, "certificate.html", page=page, certificate=certificate, host=host)


@router.get("/ca", response_class=HTMLResponse)
def certificate_authority(request: Request, context: Context, page: Page) -> HTMLResponse:
    _view(context, page)
    certificate = context.ca.certificate
    ca = {
        "subject": certificate.subject.rfc4514_string(),
        "serial_number": f"{certificate.serial_number:X}",
        "not_before": certificate.not_valid_before_utc,
        "not_after": certificate.not_valid_after_utc,
        "sha256": fingerprint(certificate, "sha256"),
        "sha1": fingerprint(certificate, "sha1"),
    }
    return render(request, "ca.html", page=page, ca=ca)


def _audit_query(
    context: Context, filters: dict[str, str], **extra: Any
) -> audit_service.AuditQuery:
    host_id = None
    if filters["host"]:
        host_id = host_service.show_host(context, filters["host"])["host_id"]
    return audit_service.AuditQuery(
        category=filters["category"] or None,
        actor=filters["actor"] or None,
        host_id=host_id,
        since=parse_browser_time(filters["since"], filters["since_utc"], "since"),
        until=parse_browser_time(filters["until"], filters["until_utc"], "until"),
        **extra,
    )


def _audit_filters(request: Request) -> dict[str, str]:
    names = ("category", "actor", "host", "since", "since_utc", "until", "until_utc")
    return {name: request.query_params.get(name, "").strip() for name in names}


@router.get("/audit", response_class=HTMLResponse)
def audit(request: Request, context: Context, page: Page, offset: int = 0) -> HTMLResponse:
    _view(context, page, "audit.view")
    filters = _audit_filters(request)
    query = _audit_query(
        context, filters, latest=True, limit=AUDIT_PAGE_SIZE + 1, offset=max(0, offset)
    )
    events = list(reversed(audit_service.list_events(context, query)))
    return render(
        request,
        "audit.html",
        page=page,
        events=events[:AUDIT_PAGE_SIZE],
        more=len(events) > AUDIT_PAGE_SIZE,
        offset=max(0, offset),
        page_size=AUDIT_PAGE_SIZE,
        filters=filters,
        categories=audit_service.CATEGORIES,
        export_query=request.url.query,
    )


@router.get("/audit/export")
def audit_export(
    request: Request, context: Context, page: Page, format: str = "csv"
) -> StreamingResponse:
    """Stream every matching event, oldest first, as CSV or JSON Lines."""
    _view(context, page, "audit.view")
    if format not in EXPORT_FORMATS:
        raise InvalidRequestError(
            f"{format}: unknown export format; use jsonl or csv.", code="format_invalid"
        )
    filters = _audit_filters(request)
    _audit_query(context, filters)  # reject bad filters before the download starts

    def events() -> Iterator[dict[str, Any]]:
        offset = 0
        while True:
            query = _audit_query(context, filters, limit=EXPORT_BATCH, offset=offset)
            batch = audit_service.list_events(context, query)
            yield from batch
            if len(batch) < EXPORT_BATCH:
                return
            offset += len(batch)

    lines = csv_lines(events()) if format == "csv" else jsonl_lines(events())
    media_type = "text/csv; charset=utf-8" if format == "csv" else "application/jsonl"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    disposition = f'attachment; filename="hostca-audit-{stamp}.{format}"'
    return StreamingResponse(
        lines, media_type=media_type, headers={"Content-Disposition": disposition}
    )


def render_settings_page(
    request: Request,
    context: Context,
    page: ConsolePage,
    *,
    errors: dict[str, FormErrors] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    _view(context, page)
    settings = settings_service.read_settings(context)
    return render(
        request,
        "settings.html",
        page=page,
        status_code=status_code,
        settings=settings,
        descriptions=setting_keys(),
        errors=errors or {},
        values=values or {},
    )


@router.get("/settings", response_class=HTMLResponse)
def settings(request: Request, context: Context, page: Page) -> HTMLResponse:
    return render_settings_page(request, context, page)
