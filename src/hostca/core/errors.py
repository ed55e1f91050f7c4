"""The exception tree of hostca.

Every error that a user can cause is a ``HostcaError`` with a stable ``code``.
The edges translate it once: the REST API into an RFC 9457 problem document with
``status`` as the HTTP status, the CLI into one line on stderr and an exit status.
Messages name the bad value and say what to do next, and never carry a secret.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "ConflictError",
    "ForbiddenError",
    "HostcaError",
    "InvalidRequestError",
    "NotFoundError",
    "TooManyRequestsError",
    "UnauthorizedError",
    "UnavailableError",
]


class HostcaError(Exception):
    """Base of every error that hostca reports to a user.

    ``code`` is the stable machine-readable identifier (``token_invalid``,
    ``csr_invalid``, ...). ``details`` carries values that callers and the audit
    log may need, and never a secret.
    """

    status: ClassVar[int] = 500
    default_code: ClassVar[str] = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.details = dict(details or {})

    def __str__(self) -> str:
        return self.message


class InvalidRequestError(HostcaError):
    """The request itself is malformed or breaks a rule (HTTP 400)."""

    status = 400
    default_code = "invalid_request"


class UnauthorizedError(HostcaError):
    """The caller is not authenticated, or its credential is not usable (HTTP 401)."""

    status = 401
    default_code = "unauthorized"


class ForbiddenError(HostcaError):
    """The caller is known but may not do this (HTTP 403)."""

    status = 403
    default_code = "forbidden"


class NotFoundError(HostcaError):
    """The named object does not exist (HTTP 404)."""

    status = 404
    default_code = "not_found"


class ConflictError(HostcaError):
    """The request contradicts the current state (HTTP 409)."""

    status = 409
    default_code = "conflict"


class TooManyRequestsError(HostcaError):
    """The caller failed too often and must wait (HTTP 429).

    ``details["retry_after"]`` is the wait in whole seconds, sent as ``Retry-After``.
    """

    status = 429
    default_code = "rate_limited"


class UnavailableError(HostcaError):
    """The service cannot serve the request now; retrying later may work (HTTP 503)."""

    status = 503
    default_code = "unavailable"
