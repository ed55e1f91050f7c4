"""Exit statuses of the compatibility commands, by the error code that hostca reports.

``hostca`` itself exits with 1 on every error and 2 on a usage error. Scripts
written for the NetBackup commands test the exit status to tell failures apart,
so the compatibility commands give each family of error codes its own status.
A code that is not listed falls back to the status of its error family, taken
from the HTTP status that goes with it. docs/netbackup-commands.md lists the
same table for administrators.
"""

from __future__ import annotations

from hostca.core.errors import HostcaError

__all__ = [
    "EXIT_FAILURE",
    "EXIT_OK",
    "EXIT_USAGE",
    "STATUS_BY_CODE",
    "exit_status_for",
    "exit_status_for_code",
]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

EXIT_NOT_LOGGED_IN = 3
EXIT_FORBIDDEN = 4
EXIT_NOT_CONFIRMED = 5
EXIT_FINGERPRINT = 6
EXIT_UNAVAILABLE = 7
EXIT_NOT_FOUND = 8
EXIT_CONFLICT = 9
EXIT_TOKEN_INVALID = 10
EXIT_TOKEN_EXPIRED = 11
EXIT_TOKEN_USED_UP = 12
EXIT_REISSUE_TOKEN_REQUIRED = 13
EXIT_NAME_NOT_PRIMARY = 14
EXIT_TOKEN_HOST_MISMATCH = 15
EXIT_TOKEN_MISSING = 16
EXIT_CERTIFICATE_REVOKED = 20
EXIT_CERTIFICATE_EXPIRED = 21
EXIT_CERTIFICATE_SUPERSEDED = 22
EXIT_NOT_ENROLLED = 23
EXIT_CLOCK = 24
EXIT_CSR_REJECTED = 25
EXIT_RATE_LIMITED = 29
EXIT_INVALID_REQUEST = 30

_CODES_BY_STATUS: dict[int, tuple[str, ...]] = {
    EXIT_USAGE: ("usage_error",),
    EXIT_NOT_LOGGED_IN: (
        "not_logged_in",
        "session_expired",
        "session_invalid",
        "session_file_invalid",
        "unauthorized",
        "login_failed",
    ),
    EXIT_FORBIDDEN: ("forbidden",),
    EXIT_NOT_CONFIRMED: (
        "trust_not_confirmed",
        "forget_not_confirmed",
        "ca_confirmation_required",
        "password_required",
    ),
    EXIT_FINGERPRINT: ("fingerprint_mismatch", "fingerprint_invalid", "server_untrusted"),
    EXIT_UNAVAILABLE: (
        "unavailable",
        "server_unreachable",
        "server_timeout",
        "tls_failed",
        "connection_closed",
        "invalid_response",
    ),
    EXIT_NOT_FOUND: (
        "not_found",
        "host_not_found",
        "token_not_found",
        "certificate_not_found",
        "mapping_not_found",
        "server_unknown",
        "setting_unknown",
    ),
    EXIT_CONFLICT: (
        "conflict",
        "name_conflict",
        "mapping_exists",
        "token_name_taken",
        "certificate_already_revoked",
        "already_enrolled",
    ),
    EXIT_TOKEN_INVALID: ("token_invalid",),
    EXIT_TOKEN_EXPIRED: ("token_expired",),
    EXIT_TOKEN_USED_UP: ("token_used_up",),
    EXIT_REISSUE_TOKEN_REQUIRED: ("reissue_token_required",),
    EXIT_NAME_NOT_PRIMARY: ("name_not_primary",),
    EXIT_TOKEN_HOST_MISMATCH: ("token_host_mismatch",),
    EXIT_TOKEN_MISSING: ("token_required", "token_missing"),
    EXIT_CERTIFICATE_REVOKED: ("certificate_revoked",),
    EXIT_CERTIFICATE_EXPIRED: ("certificate_expired",),
    EXIT_CERTIFICATE_SUPERSEDED: ("certificate_superseded",),
    EXIT_NOT_ENROLLED: ("not_enrolled", "certificate_unknown"),
    EXIT_CLOCK: ("certificate_not_yet_valid",),
    EXIT_CSR_REJECTED: ("csr_invalid", "key_type_rejected"),
    EXIT_RATE_LIMITED: ("rate_limited",),
}

STATUS_BY_CODE: dict[str, int] = {
    code: status for status, codes in _CODES_BY_STATUS.items() for code in codes
}
"""The exit status of each error code that has one of its own."""

# The status of a code that is not listed, by the HTTP status of its error family.
_STATUS_BY_HTTP_STATUS = {
    400: EXIT_INVALID_REQUEST,
    401: EXIT_NOT_LOGGED_IN,
    403: EXIT_FORBIDDEN,
    404: EXIT_NOT_FOUND,
    409: EXIT_CONFLICT,
    413: EXIT_INVALID_REQUEST,
    422: EXIT_INVALID_REQUEST,
    429: EXIT_RATE_LIMITED,
    503: EXIT_UNAVAILABLE,
}


def exit_status_for_code(code: str, http_status: int | None = None) -> int:
    """Return the exit status for an error code, falling back to its HTTP status."""
    if code in STATUS_BY_CODE:
        return STATUS_BY_CODE[code]
    return _STATUS_BY_HTTP_STATUS.get(http_status or 0, EXIT_FAILURE)


def exit_status_for(error: HostcaError) -> int:
    """Return the exit status for an error that hostca raised."""
    http_status = getattr(error, "http_status", None)
    return exit_status_for_code(
        error.code, http_status if isinstance(http_status, int) else error.status
    )
