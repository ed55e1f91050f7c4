"""The stored administrator session and the API clients that administration commands use.

``hostca login`` stores the session in ``$XDG_CONFIG_HOME/hostca`` (``~/.config/hostca``
when the variable is unset or not absolute)::

    session.json   server URL, session secret, expires_at, user, role, CA file; mode 0600
    ca.pem         the CA bundle that verifies the server; mode 0600

The directory has mode 0700. Scripts can bypass the stored session with
``HOSTCA_SERVER``, ``HOSTCA_API_KEY`` (sent as the bearer credential) and
``HOSTCA_CA_FILE``.

This module imports pydantic-settings and httpx, so command modules import it
inside their commands to keep ``--help`` fast.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from hostca.apiclient import ApiClient, normalize_server_url
from hostca.core.errors import InvalidRequestError, UnauthorizedError

__all__ = [
    "AdminEnvironment",
    "StoredSession",
    "admin_client",
    "config_dir",
    "delete_session",
    "load_session",
    "not_logged_in",
    "parse_time",
    "path_segment",
    "public_client",
    "read_environment",
    "save_session",
]

SESSION_FILE_NAME = "session.json"
CA_FILE_NAME = "ca.pem"
CONFIG_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
DEFAULT_TIMEOUT_SECONDS = 30.0


class AdminEnvironment(BaseSettings):
    """Environment variables that administration commands read."""

    model_config = SettingsConfigDict(env_prefix="HOSTCA_", frozen=True, extra="ignore")

    server: str | None = Field(
        default=None,
        description="Primary server (HOST[:PORT] or https://HOST[:PORT]); overrides the "
        "server of the stored session.",
    )
    api_key: SecretStr | None = Field(
        default=None,
        description="API key sent as the bearer credential instead of the stored session.",
    )
    ca_file: Path | None = Field(
        default=None,
        description="PEM bundle that verifies the server instead of the stored CA.",
    )
    config_home: str | None = Field(
        default=None,
        validation_alias="XDG_CONFIG_HOME",
        description="Base directory of user configuration (XDG Base Directory Specification).",
    )

    def api_key_value(self) -> str | None:
        value = self.api_key.get_secret_value().strip() if self.api_key else ""
        return value or None


@dataclass(frozen=True)
class StoredSession:
    """A session that ``hostca login`` stored. ``secret`` is the bearer credential."""

    server: str
    secret: str = field(repr=False)
    expires_at: datetime
    user: str
    role: str | None = None
    ca_file: Path | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "session": self.secret,
            "expires_at": self.expires_at.isoformat().replace("+00:00", "Z"),
            "user": self.user,
            "role": self.role,
            "ca_file": None if self.ca_file is None else str(self.ca_file),
        }

    def is_expired(self, now: datetime | None = None) -> bool:
        return self.expires_at <= (now or datetime.now(UTC))


def read_environment() -> AdminEnvironment:
    """Read the HOSTCA_* and XDG_CONFIG_HOME variables that administration commands use."""
    return AdminEnvironment()


def config_dir(environment: AdminEnvironment | None = None) -> Path:
    """Return the directory of the stored session.

    ``$XDG_CONFIG_HOME`` is used only when it is an absolute path, as the XDG Base
    Directory Specification 0.8 requires; otherwise ``~/.config``.
    """
    config_home = (environment or read_environment()).config_home or ""
    base = Path(config_home) if os.path.isabs(config_home) else Path.home() / ".config"
    return base / "hostca"


def not_logged_in() -> UnauthorizedError:
    return UnauthorizedError(
        "not logged in; run `hostca login --server URL` first, or set HOSTCA_SERVER and "
        "HOSTCA_API_KEY.",
        code="not_logged_in",
    )


def load_session(environment: AdminEnvironment | None = None) -> StoredSession | None:
    """Read the stored session, or return None when there is none.

    Raises ``InvalidRequestError`` (code ``session_file_invalid``) when the file
    exists but cannot be read or parsed.
    """
    path = config_dir(environment) / SESSION_FILE_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as error:
        raise _invalid_session_file(path, error.strerror or str(error)) from None

    try:
        data = json.loads(text)
        ca_file = data.get("ca_file")
        return StoredSession(
            server=normalize_server_url(str(data["server"])),
            secret=str(data["session"]),
            expires_at=parse_time(str(data["expires_at"])),
            user=str(data["user"]),
            role=None if data.get("role") is None else str(data["role"]),
            ca_file=None if ca_file is None else Path(str(ca_file)),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        raise _invalid_session_file(path, "it is not a session that hostca stored") from None


def parse_time(text: str) -> datetime:
    """Parse an ISO 8601 time with an offset, as the server writes it, into UTC."""
    parsed = datetime.fromisoformat(text)
    if parsed.utcoffset() is None:
        raise ValueError(f"{text}: a time without an offset")
    return parsed.astimezone(UTC)


def _invalid_session_file(path: Path, problem: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"{path}: cannot read the stored session because {problem}; delete the file and run "
        "`hostca login --server URL` again.",
        code="session_file_invalid",
    )


def save_session(session: StoredSession, ca_pem: bytes | None) -> StoredSession:
    """Store ``session``, and ``ca_pem`` as ``ca.pem`` beside it; return what was stored.

    When ``ca_pem`` is given, the stored session points at the new ``ca.pem``.
    """
    directory = config_dir()
    _ensure_private_directory(directory)
    if ca_pem is not None:
        ca_file = directory / CA_FILE_NAME
        _write_private_file(ca_file, ca_pem)
        session = StoredSession(
            server=session.server,
            secret=session.secret,
            expires_at=session.expires_at,
            user=session.user,
            role=session.role,
            ca_file=ca_file,
        )
    _write_private_file(
        directory / SESSION_FILE_NAME, json.dumps(session.to_json(), indent=2).encode() + b"\n"
    )
    return session


def delete_session() -> list[Path]:
    """Delete the stored session and its CA bundle; return the files that were removed."""
    directory = config_dir()
    removed = []
    for name in (SESSION_FILE_NAME, CA_FILE_NAME):
        path = directory / name
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    return removed


def _ensure_private_directory(directory: Path) -> None:
    directory.mkdir(mode=CONFIG_DIR_MODE, parents=True, exist_ok=True)
    # mkdir leaves the mode of an existing directory as it was, and the umask may
    # have narrowed a new one, so set it explicitly.
    os.chmod(directory, CONFIG_DIR_MODE)


def _write_private_file(path: Path, data: bytes) -> None:
    """Replace ``path`` atomically with a new file of mode 0600 holding ``data``."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise


def admin_client(timeout: float = DEFAULT_TIMEOUT_SECONDS) -> ApiClient:
    """Open a client for administration requests.

    The credential is ``HOSTCA_API_KEY`` when it is set, otherwise the stored
    session. The server is ``HOSTCA_SERVER``, otherwise the stored session's. The
    CA bundle is ``HOSTCA_CA_FILE``, otherwise the stored ``ca.pem`` when the server
    is the stored session's, otherwise the system trust store. Raises
    ``UnauthorizedError`` with code ``not_logged_in`` when there is no credential,
    and ``session_expired`` when the stored session has expired.
    """
    environment = read_environment()
    api_key = environment.api_key_value()
    stored = load_session(environment)
    server = environment.server or (stored.server if stored else None)
    if server is None:
        raise not_logged_in()
    server = normalize_server_url(server)

    if api_key is not None:
        bearer = api_key
    elif stored is None:
        raise not_logged_in()
    else:
        bearer = _usable_session_secret(stored, server)

    return ApiClient(
        server,
        ca_file=_trusted_ca_file(environment, stored, server),
        bearer=bearer,
        timeout=timeout,
    )


def _trusted_ca_file(
    environment: AdminEnvironment, stored: StoredSession | None, server: str
) -> Path | None:
    # The stored CA bundle verifies only the server of the stored session.
    if environment.ca_file is not None:
        return environment.ca_file
    if stored is not None and stored.server == server:
        return stored.ca_file
    return None


def _usable_session_secret(stored: StoredSession, server: str) -> str:
    # A session secret is sent only to the server that issued it.
    if stored.server != server:
        raise UnauthorizedError(
            f"HOSTCA_SERVER is {server}, but the stored session belongs to {stored.server}; "
            f"run `hostca login --server {server}`, or set HOSTCA_API_KEY.",
            code="not_logged_in",
        )
    if stored.is_expired():
        expired_at = stored.expires_at.isoformat().replace("+00:00", "Z")
        raise UnauthorizedError(
            f"the session of {stored.user} on {stored.server} expired at {expired_at}; "
            f"log in again with `hostca login --server {stored.server}`.",
            code="session_expired",
        )
    return stored.secret


def public_client(
    server: str | None, ca_file: Path | None, timeout: float = DEFAULT_TIMEOUT_SECONDS
) -> ApiClient:
    """Open a client without a credential, for the public CA and CRL routes.

    ``server`` and ``ca_file`` come from options. Each falls back to
    ``HOSTCA_SERVER`` or ``HOSTCA_CA_FILE``, then to the stored session, whether
    or not it has expired. The stored CA bundle is used only for the stored
    session's server.
    """
    environment = read_environment()
    stored = load_session(environment)
    chosen = server or environment.server or (stored.server if stored else None)
    if chosen is None:
        raise InvalidRequestError(
            "no primary server is known; pass --server HOST[:PORT] or run "
            "`hostca login --server URL` first.",
            code="server_missing",
        )
    url = normalize_server_url(chosen)

    trusted = ca_file or _trusted_ca_file(environment, stored, url)
    return ApiClient(url, ca_file=trusted, timeout=timeout)


def path_segment(value: str) -> str:
    """Percent-encode ``value`` as one segment of an API path.

    "." and ".." are encoded too, because HTTP clients remove them as dot
    segments (RFC 3986 5.2.4) before the request is sent.
    """
    if value in (".", ".."):
        return value.replace(".", "%2E")
    return quote(value, safe="")
