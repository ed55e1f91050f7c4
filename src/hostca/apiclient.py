"""HTTPS JSON client for the primary's REST API, shared by the agent and the admin CLI.

The client turns every failure into a ``HostcaError`` that the CLI prints as one
line: problem documents (RFC 9457) become ``ApiError`` with the server's ``code``,
and transport failures become ``UnavailableError`` with a code that names the
failure. httpx is imported only when a client is created, so commands that never
touch the network start fast.
"""

from __future__ import annotations

import ipaddress
import json
import math
import socket
import ssl
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from hostca import __version__
from hostca.core.errors import HostcaError, InvalidRequestError, UnavailableError

if TYPE_CHECKING:
    import httpx

__all__ = [
    "CLIENT_TIME_HEADER",
    "DEFAULT_PORT",
    "ApiClient",
    "ApiError",
    "normalize_server_url",
]

DEFAULT_PORT = 1556

CLIENT_TIME_HEADER = "X-Hostca-Client-Time"
"""Request header with the client's UTC time, from which the primary computes the
clock skew that it reports in time errors."""

_E = TypeVar("_E", bound=BaseException)

_PROBLEM_TYPES = ("application/problem+json", "application/json")

# TLS alerts that a server sends when it does not accept the client certificate.
_CLIENT_CERTIFICATE_ALERTS = frozenset(
    {
        "SSLV3_ALERT_BAD_CERTIFICATE",
        "SSLV3_ALERT_CERTIFICATE_EXPIRED",
        "SSLV3_ALERT_CERTIFICATE_REVOKED",
        "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
        "TLSV1_ALERT_UNKNOWN_CA",
        "TLSV1_ALERT_ACCESS_DENIED",
        "TLSV1_ALERT_DECRYPT_ERROR",
        "TLSV13_ALERT_CERTIFICATE_REQUIRED",
    }
)


class ApiError(HostcaError):
    """An error that the server reported as a problem document.

    ``code`` is the server's stable code (``token_invalid``, ``certificate_revoked``,
    ...) and the message is the server's ``detail``. ``http_status`` is the HTTP
    status of the response, and ``retry_after`` the seconds from a ``Retry-After``
    header, if any. Time errors (``token_expired``, ``certificate_expired``, ...)
    carry the primary's ``server_time`` and, when the request sent
    ``X-Hostca-Client-Time``, ``clock_skew_seconds`` (client minus server).
    """

    def __init__(
        self,
        message: str,
        *,
        code: str,
        http_status: int,
        title: str | None = None,
        retry_after: int | None = None,
        server_time: str | None = None,
        clock_skew_seconds: float | None = None,
    ) -> None:
        details: dict[str, Any] = {"status": http_status}
        if title:
            details["title"] = title
        if retry_after is not None:
            details["retry_after"] = retry_after
        if server_time is not None:
            details["server_time"] = server_time
        if clock_skew_seconds is not None:
            details["clock_skew_seconds"] = clock_skew_seconds
        super().__init__(message, code=code, details=details)
        self.http_status = http_status
        self.title = title
        self.retry_after = retry_after
        self.server_time = server_time
        self.clock_skew_seconds = clock_skew_seconds

    def with_message(self, message: str) -> ApiError:
        """Return a copy of this error with another message and the same code and values."""
        return ApiError(
            message,
            code=self.code,
            http_status=self.http_status,
            title=self.title,
            retry_after=self.retry_after,
            server_time=self.server_time,
            clock_skew_seconds=self.clock_skew_seconds,
        )


def normalize_server_url(text: str) -> str:
    """Return the canonical ``https://host:port`` form of a server address.

    Accepts ``host``, ``host:port``, ``[v6]:port``, a bare IPv6 address and
    ``https://host[:port][/]``. The port defaults to 1556. ``http://`` is rejected
    because the primary serves its API only over HTTPS.
    """
    raw = text.strip()
    if not raw:
        raise InvalidRequestError(
            "the server address is empty; pass --server HOST[:PORT].", code="server_url_invalid"
        )

    if "://" not in raw:
        raw = "https://" + _bracket_bare_ipv6(raw)
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    if scheme == "http":
        raise InvalidRequestError(
            f"{text.strip()}: http:// is not supported because the primary serves its API "
            "only over HTTPS; use https:// or leave the scheme out.",
            code="server_url_invalid",
        )
    if scheme != "https":
        raise InvalidRequestError(
            f"{text.strip()}: unsupported scheme {parts.scheme}://; use https://HOST[:PORT].",
            code="server_url_invalid",
        )
    if parts.username is not None or parts.query or parts.fragment or parts.path not in ("", "/"):
        raise InvalidRequestError(
            f"{text.strip()}: a server address has only a host and a port; "
            "remove the path, query or user name.",
            code="server_url_invalid",
        )

    host = parts.hostname
    if not host:
        raise InvalidRequestError(
            f"{text.strip()}: the host name is missing; pass --server HOST[:PORT].",
            code="server_url_invalid",
        )
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise InvalidRequestError(
            f"{text.strip()}: invalid port; use a number from 1 to 65535.",
            code="server_url_invalid",
        ) from None

    return f"https://{_format_host(host)}:{port}"


def _bracket_bare_ipv6(address: str) -> str:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    return f"[{parsed}]" if parsed.version == 6 else address


def _format_host(host: str) -> str:
    try:
        parsed = ipaddress.ip_address(host)
    except ValueError:
        return host.lower()
    return f"[{parsed}]" if parsed.version == 6 else str(parsed)


class ApiClient:
    """A synchronous HTTPS client for one primary server.

    ``ca_file`` is the PEM bundle that verifies the server. Without it the system
    trust store is used, and ``verify=False`` skips verification entirely, which
    only ``hostca agent trust`` does before the user confirms the CA fingerprint.
    ``client_cert`` is a ``(certificate file, key file)`` pair for mutual TLS.
    ``timeout`` is in seconds and applies to connecting and to each read. With
    ``client_clock``, every request carries that clock's time in the
    ``X-Hostca-Client-Time`` header.
    """

    def __init__(
        self,
        base_url: str,
        *,
        ca_file: Path | None = None,
        verify: bool = True,
        client_cert: tuple[Path, Path] | None = None,
        bearer: str | None = None,
        timeout: float = 30,
        client_clock: Callable[[], datetime] | None = None,
    ) -> None:
        import httpx

        self.base_url = normalize_server_url(base_url)
        self.timeout = timeout
        self._sends_client_certificate = client_cert is not None
        context = _ssl_context(ca_file=ca_file, verify=verify, client_cert=client_cert)

        headers = {
            "Accept": "application/json, application/problem+json",
            "User-Agent": f"hostca/{__version__}",
        }
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"

        # trust_env=False: proxy variables must not redirect traffic meant for the primary.
        self._client = httpx.Client(
            base_url=self.base_url,
            verify=context,
            headers=headers,
            timeout=timeout,
            trust_env=False,
            follow_redirects=False,
            event_hooks={"request": [_client_time_stamper(client_clock)]} if client_clock else None,
        )

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def get_json(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        return _decode_json(self._request("GET", path, params=params))

    def get_bytes(self, path: str, params: Mapping[str, str] | None = None) -> bytes:
        return self._request("GET", path, params=params).content

    def post_json(self, path: str, body: Any = None) -> Any:
        return _decode_json(self._request("POST", path, body={} if body is None else body))

    def patch_json(self, path: str, body: Any) -> Any:
        return _decode_json(self._request("PATCH", path, body=body))

    def delete_json(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """Send DELETE and return the decoded body, or None for an empty response."""
        return _decode_json(self._request("DELETE", path, params=params))

    def _request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        import httpx

        if not path.startswith("/"):
            raise ValueError(f"API path must start with '/': {path!r}")
        try:
            response = self._client.request(
                method, path, json=body, params=dict(params) if params else None
            )
        except httpx.TransportError as error:
            raise self._translate_transport_error(error) from error

        if response.is_error:
            raise _problem_to_error(response)
        return response

    def _translate_transport_error(self, error: httpx.TransportError) -> HostcaError:
        import httpx

        url = self.base_url
        if isinstance(error, httpx.ConnectTimeout):
            return _unreachable(url, f"timed out after {self.timeout:g} s")
        if isinstance(error, httpx.TimeoutException):
            return UnavailableError(
                f"{url} did not respond within {self.timeout:g} s; "
                "check that the primary is running and not overloaded, then try again.",
                code="server_timeout",
            )

        causes = list(_causes(error))
        verification = _first(causes, ssl.SSLCertVerificationError)
        if verification is not None:
            return UnavailableError(
                f"could not verify the TLS certificate of {url}: "
                f"{verification.verify_message or verification.reason}; "
                "check that this is the primary you trusted; a host trusts it with "
                f"`hostca agent trust --server {url}`, an administrator with `hostca login`.",
                code="server_untrusted",
            )
        if self._sends_client_certificate and _looks_like_client_certificate_rejection(
            error, causes
        ):
            return UnavailableError(
                f"{url} closed the connection after the TLS handshake (connection reset, "
                "alert or empty reply); the server probably rejected the client certificate "
                "because it is revoked, expired or issued by an unknown CA. Check it with "
                "`hostca agent status`; if it is no longer valid, ask the administrator for "
                "a reissue token and run `hostca agent enroll --force`.",
                code="client_certificate_rejected",
            )
        return _describe_connection_failure(url, error, causes)


def _client_time_stamper(clock: Callable[[], datetime]) -> Callable[[httpx.Request], None]:
    def stamp(request: httpx.Request) -> None:
        # Stamped as the request leaves, so a retried or delayed request carries its own time.
        request.headers[CLIENT_TIME_HEADER] = clock().isoformat()

    return stamp


def _ssl_context(
    *, ca_file: Path | None, verify: bool, client_cert: tuple[Path, Path] | None
) -> ssl.SSLContext:
    if not verify:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif ca_file is not None:
        cafile = _readable(ca_file, "CA file")
        try:
            context = ssl.create_default_context(cafile=cafile)
        except ssl.SSLError as error:
            raise InvalidRequestError(
                f"{ca_file}: not a PEM CA certificate bundle ({error.reason}); "
                "fetch the CA certificate again.",
                code="file_invalid",
            ) from None
    else:
        context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2

    if client_cert is not None:
        certificate_file, key_file = client_cert
        try:
            context.load_cert_chain(
                _readable(certificate_file, "certificate file"), _readable(key_file, "key file")
            )
        except ssl.SSLError as error:
            raise InvalidRequestError(
                f"{certificate_file} and {key_file}: not a matching PEM certificate and "
                f"unencrypted private key ({error.reason}); check both files.",
                code="file_invalid",
            ) from None
    return context


def _readable(path: Path, role: str) -> str:
    if not path.is_file():
        raise InvalidRequestError(f"{path}: {role} not found.", code="file_not_found")
    return str(path)


def _causes(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _first(causes: list[BaseException], kind: type[_E]) -> _E | None:
    for cause in causes:
        if isinstance(cause, kind):
            return cause
    return None


def _looks_like_client_certificate_rejection(
    error: httpx.TransportError, causes: list[BaseException]
) -> bool:
    """Tell whether a failure matches a server rejecting the client certificate.

    With TLS 1.3 the client finishes its handshake before the server checks the
    client certificate, so a rejection arrives on the first read as an alert, a
    connection reset or an empty reply instead of as a handshake error.
    """
    import httpx

    alert = _first(causes, ssl.SSLError)
    if alert is not None and not isinstance(alert, ssl.SSLCertVerificationError):
        return alert.reason in _CLIENT_CERTIFICATE_ALERTS or isinstance(
            alert, ssl.SSLEOFError | ssl.SSLZeroReturnError
        )
    if _first(causes, ConnectionResetError) is not None:
        return True
    return isinstance(error, httpx.RemoteProtocolError | httpx.ReadError)


def _describe_connection_failure(
    url: str, error: httpx.TransportError, causes: list[BaseException]
) -> HostcaError:
    import httpx

    if _first(causes, ConnectionRefusedError) is not None:
        return _unreachable(url, "connection refused")
    if _first(causes, socket.gaierror) is not None:
        host = urlsplit(url).hostname
        return _unreachable(url, f"the host name {host} could not be resolved")

    tls_error = _first(causes, ssl.SSLError)
    if tls_error is not None:
        return UnavailableError(
            f"the TLS handshake with {url} failed: {tls_error.reason or tls_error}; "
            "check that --server points to the HTTPS port of a hostca primary.",
            code="tls_failed",
        )
    if isinstance(error, httpx.RemoteProtocolError | httpx.ReadError):
        return UnavailableError(
            f"{url} closed the connection before it sent a response; "
            "check that the primary is healthy and try again.",
            code="connection_closed",
        )

    os_error = _first(causes, OSError)
    reason = os_error.strerror if os_error is not None and os_error.strerror else str(error)
    return _unreachable(url, reason or error.__class__.__name__)


def _unreachable(url: str, reason: str) -> UnavailableError:
    return UnavailableError(
        f"could not connect to {url}: {reason}; check --server and that the primary is running.",
        code="server_unreachable",
    )


def _problem_to_error(response: httpx.Response) -> HostcaError:
    """Translate an error response, a problem document when the server is hostca."""
    request = response.request
    where = f"{request.method} {request.url.path}"
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    retry_after = _retry_after_seconds(response.headers.get("retry-after"))

    problem: dict[str, Any] = {}
    if content_type in _PROBLEM_TYPES:
        try:
            decoded = response.json()
        except ValueError:
            decoded = None
        if isinstance(decoded, dict):
            problem = decoded

    title = _text(problem.get("title")) or response.reason_phrase
    detail = (
        _text(problem.get("detail"))
        or _text(problem.get("title"))
        or f"{where} failed with HTTP {response.status_code} {response.reason_phrase}"
    )
    if retry_after is not None and "retry" not in detail.lower():
        detail = f"{detail.rstrip('.')}; retry after {retry_after} s."
    code = _text(problem.get("code")) or f"http_{response.status_code}"

    return ApiError(
        detail,
        code=code,
        http_status=response.status_code,
        title=title,
        retry_after=retry_after,
        server_time=_text(problem.get("server_time")),
        clock_skew_seconds=_finite_number(problem.get("clock_skew_seconds")),
    )


def _decode_json(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return json.loads(response.content)
    except ValueError:
        content_type = response.headers.get("content-type", "no content type")
        raise UnavailableError(
            f"{response.request.url} returned a body that is not JSON ({content_type}); "
            "check that --server points to a hostca primary.",
            code="invalid_response",
        ) from None


def _retry_after_seconds(value: str | None) -> int | None:
    if value is None or not value.strip().isdigit():
        return None
    return int(value.strip())


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _finite_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None
