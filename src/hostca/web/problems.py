"""RFC 9457 problem documents for every error the API returns."""

from __future__ import annotations

from datetime import datetime
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from hostca.core.errors import HostcaError
from hostca.service.log_repeats import RepeatCounter

__all__ = ["install_problem_handlers", "problem_response"]

PROBLEM_TYPE_BASE = "https://hostca.invalid/problems/"
log = structlog.get_logger("hostca.web")
# One log line per path, error code and client per minute.
_failure_repeats = RepeatCounter()


def problem_response(
    status: int,
    code: str,
    detail: str,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        **(extra or {}),
    }
    return JSONResponse(
        body, status_code=status, media_type="application/problem+json", headers=headers
    )


# Errors caused by time: their problem documents carry the server's time and, when
# the client sent its own time, the measured clock skew.
TIME_ERROR_CODES = frozenset(
    {"token_expired", "certificate_expired", "certificate_not_yet_valid", "session_invalid"}
)
CLIENT_TIME_HEADER = "x-hostca-client-time"


def _clock_skew(request: Request, server_time: datetime) -> float | None:
    """Return the client's clock minus the server's, in seconds, from the client time header."""
    header = request.headers.get(CLIENT_TIME_HEADER)
    if not header:
        return None
    try:
        client_time = datetime.fromisoformat(header.replace("Z", "+00:00"))
    except ValueError:
        return None
    if client_time.tzinfo is None:
        return None
    return round((client_time - server_time).total_seconds(), 3)


def describe_skew(skew_seconds: float) -> str:
    direction = "ahead of" if skew_seconds > 0 else "behind"
    return f"the client's clock is {abs(skew_seconds):.0f} s {direction} the server's"


async def _hostca_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HostcaError)
    client_host = request.client.host if request.client else None
    held_back = _failure_repeats.admit((request.url.path, error.code, client_host))
    if held_back is not None:
        log.info(
            "request_failed",
            path=request.url.path,
            status=error.status,
            code=error.code,
            request_id=request.headers.get("x-request-id"),
            repeats_held_back=held_back,
        )
    if error.code not in TIME_ERROR_CODES:
        return problem_response(
            error.status, error.code, error.message, headers=_retry_after_header(error)
        )
    server_time = request.app.state.context.clock()
    extra: dict[str, Any] = {"server_time": server_time.isoformat().replace("+00:00", "Z")}
    skew = _clock_skew(request, server_time)
    detail = error.message
    if skew is not None:
        extra["clock_skew_seconds"] = skew
        detail = f"{detail.rstrip('.')} ({describe_skew(skew)})."
    return problem_response(error.status, error.code, detail, extra)


def _retry_after_header(error: HostcaError) -> dict[str, str] | None:
    """Return a ``Retry-After`` header (RFC 9110 10.2.3) when the error carries ``retry_after``."""
    retry_after = error.details.get("retry_after")
    return None if retry_after is None else {"Retry-After": str(int(retry_after))}


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    first = error.errors()[0] if error.errors() else {}
    location = list(first.get("loc", ()))
    part = {"body": "request body", "query": "query string", "path": "path"}.get(
        str(location[0]) if location else "", "request"
    )
    where = ".".join(str(item) for item in location[1:])
    detail = f"{where or part}: {first.get('msg', 'invalid value')}; fix the {part} and try again."
    return problem_response(
        422,
        "invalid_request",
        detail,
        {"errors": [{"loc": list(e.get("loc", ())), "msg": e.get("msg")} for e in error.errors()]},
    )


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    code = (
        "not_found"
        if error.status_code == 404
        else "method_not_allowed"
        if error.status_code == 405
        else "http_error"
    )
    detail = (
        f"{request.url.path}: {error.detail}" if error.status_code == 404 else str(error.detail)
    )
    return problem_response(error.status_code, code, detail)


async def _data_error(request: Request, error: Exception) -> JSONResponse:
    # PostgreSQL rejects what SQLite stores, such as a NUL character in text: the
    # request's input, not the server, is at fault.
    assert isinstance(error, DataError)
    log.info("request_value_rejected", path=request.url.path, error=type(error.orig).__name__)
    return problem_response(
        400,
        "value_invalid",
        "a value in the request cannot be stored, for example because it contains a NUL "
        "character; remove it and send the request again.",
    )


async def _unexpected_error(request: Request, error: Exception) -> JSONResponse:
    if isinstance(error, OperationalError):
        # The database is unreachable or failing over; a later attempt may succeed.
        log.error("database_unavailable", path=request.url.path, error=str(error.orig or error))
        return problem_response(
            503, "database_unavailable", "the database is not available; retry in a moment."
        )
    log.exception("internal_error", path=request.url.path)
    return problem_response(
        500, "internal_error", "internal error; the server log has the details."
    )


def install_problem_handlers(app: Any) -> None:
    app.add_exception_handler(HostcaError, _hostca_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DataError, _data_error)
    app.add_exception_handler(Exception, _unexpected_error)
