"""The service context: the database, the CA, server secrets and the clock that every use case needs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hostca.ca.keystore import CertificateAuthority
from hostca.service.resolver import NameResolver
from hostca.store.database import Database

__all__ = ["Actor", "Leadership", "ServiceContext", "utc_now"]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Actor:
    """The maker of a request, as the audit log records it.

    ``name`` is a user name, ``host:<host_id>`` or ``anonymous``. ``role`` is set for
    administrators only.
    """

    name: str
    source_ip: str | None = None
    role: str | None = None

    @classmethod
    def anonymous(cls, source_ip: str | None) -> Actor:
        return cls(name="anonymous", source_ip=source_ip)


@dataclass
class Leadership:
    """Whether this process is the elected leader that runs the periodic jobs."""

    is_leader: bool = False


@dataclass
class ServiceContext:
    """The shared state of one primary server process."""

    database: Database
    ca: CertificateAuthority
    token_hmac_key: bytes
    public_base_url: str
    clock: Callable[[], datetime] = utc_now
    resolver: NameResolver = field(default_factory=NameResolver)
    # Called after a revocation commits, so the CRL is regenerated at once.
    on_revocation: list[Callable[[], None]] = field(default_factory=list)
    leadership: Leadership = field(default_factory=Leadership)

    def notify_revocation(self) -> None:
        for callback in self.on_revocation:
            callback()

    @property
    def crl_url(self) -> str:
        return f"{self.public_base_url}/api/v1/crl"

    @property
    def ca_issuers_url(self) -> str:
        return f"{self.public_base_url}/api/v1/ca?format=der"
