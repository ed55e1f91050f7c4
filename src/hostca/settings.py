"""Process settings of the primary server, from options and ``HOSTCA_*`` environment variables.

This is the only place that reads the environment for server settings. Domain
settings that every replica shares (security level, lifetimes) live in the
database instead, see ``hostca.service.domain_settings``.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "DEFAULT_PORT",
    "SOFTHSM2_MODULE_PATHS",
    "ServerSettings",
    "default_data_dir",
    "default_pkcs11_module",
]

DEFAULT_PORT = 1556

SOFTHSM2_MODULE_PATHS = (
    Path("/usr/lib/softhsm/libsofthsm2.so"),  # Debian and Ubuntu
    Path("/usr/lib64/pkcs11/libsofthsm2.so"),  # Fedora and RHEL
    Path("/usr/local/lib/softhsm/libsofthsm2.so"),  # built from source
)
"""Where SoftHSM2 installs its PKCS #11 library, tried in this order."""


def default_data_dir() -> Path:
    import os

    if os.geteuid() == 0:
        return Path("/var/lib/hostca")
    return Path.home() / ".local" / "share" / "hostca"


def default_pkcs11_module() -> Path | None:
    """Return the first SoftHSM2 library of ``SOFTHSM2_MODULE_PATHS`` that exists, or None."""
    return next((path for path in SOFTHSM2_MODULE_PATHS if path.is_file()), None)


class ServerSettings(BaseSettings):
    """Settings of one ``hostca server`` process."""

    model_config = SettingsConfigDict(env_prefix="HOSTCA_", frozen=True, extra="ignore")

    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Directory of the CA key, database and secrets.",
    )
    listen: str = Field(
        default=f"0.0.0.0:{DEFAULT_PORT}", description="Address and port of the HTTPS listener."
    )
    database_url: str | None = Field(
        default=None,
        description=(
            "Database URL, such as postgresql://hostca@db.example.com/hostca; the default is the "
            "URL that 'hostca server init' recorded, else SQLite in the data directory."
        ),
    )
    database_pool_size: int = Field(
        default=5, ge=1, le=100, description="PostgreSQL connections each worker keeps open."
    )
    database_max_overflow: int = Field(
        default=10,
        ge=0,
        le=100,
        description="Further PostgreSQL connections each worker may open under load.",
    )
    workers: int = Field(
        default=1, ge=1, le=64, description="Worker processes that share the HTTPS listener."
    )
    public_base_url: str | None = Field(
        default=None,
        description=(
            "https://HOST[:PORT] that hosts reach the server at, such as a load balancer's; it goes "
            "into the CRL distribution point of issued certificates. Default: the primary name "
            "and the listen port."
        ),
    )
    crl_interval_seconds: float | None = Field(
        default=None,
        ge=1,
        description=(
            "Seconds between the leader's CRL refreshes and periodic jobs; the default is the "
            "domain setting crl-refresh-minutes. Meant for tests."
        ),
    )
    ca_passphrase_file: Path | None = Field(
        default=None, description="File holding the CA key passphrase."
    )
    ca_pin_file: Path | None = Field(
        default=None,
        description="File holding the user PIN of the token that keeps the CA key (PKCS #11).",
    )
    pkcs11_module: Path | None = Field(
        default_factory=default_pkcs11_module,
        description=(
            "PKCS #11 library of the HSM; the default is SoftHSM2's library when it is "
            "installed. The module-path attribute of the CA key URI takes precedence."
        ),
    )
    log_level: str = Field(default="info", description="debug, info, warning or error.")
    hosts_file: Path | None = Field(
        default=None,
        description="A file in the /etc/hosts format that the medium security level reads before DNS.",
    )

    @field_validator("public_base_url")
    @classmethod
    def _check_public_base_url(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https://[^/?#\s]+", value):
            raise ValueError("give https://HOST or https://HOST:PORT, with no path")
        return value
