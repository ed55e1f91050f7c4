"""Deployment policy: who may get a certificate, decided from facts the service gathers.

The decision is a pure function, so every rule of the security levels lives here
and can be tested without a database or network.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import Enum

from hostca.core.errors import ConflictError, ForbiddenError, UnauthorizedError

__all__ = [
    "CRL_REFRESH_INTERVALS",
    "SECURITY_LEVELS",
    "EnrolmentDecision",
    "EnrolmentFacts",
    "NameOwner",
    "decide_enrolment",
]

SECURITY_LEVELS = ("very-high", "high", "medium")

# How often agents refresh the CRL at each level.
CRL_REFRESH_INTERVALS = {
    "very-high": timedelta(hours=1),
    "high": timedelta(hours=4),
    "medium": timedelta(hours=8),
}


class EnrolmentDecision(Enum):
    NEW_HOST = "new_host"  # create a host for the requested primary name
    FIRST_CERTIFICATE = "first_certificate"  # a pre-registered host takes its first certificate
    REISSUE = "reissue"  # a known host gets a new certificate under its host ID


@dataclass(frozen=True)
class NameOwner:
    """The host that has the requested primary name as an approved name."""

    host_id: str
    primary_name: str
    had_certificate: bool
    auto_reissue_open: bool
    shared: bool = False
    is_primary_server: bool = False


@dataclass(frozen=True)
class EnrolmentFacts:
    """Facts the service gathered about an enrolment request without a token."""

    security_level: str
    requested_name: str
    owner: NameOwner | None
    # Only looked up at "medium": whether the name resolves to the request's source IP.
    resolves_to_source: bool | None = None
    resolved_addresses: tuple[str, ...] = ()
    source_ip: str | None = None


def decide_enrolment(facts: EnrolmentFacts) -> EnrolmentDecision:
    """Decide an enrolment that presents no token, or raise why a token is needed."""
    owner = facts.owner
    name = facts.requested_name
    if owner is not None and owner.shared:
        raise ConflictError(
            f"{name}: a shared cluster name, which cannot be a host's primary name; request the host's own name.",
            code="name_conflict",
        )

    if owner is not None and owner.is_primary_server:
        raise ConflictError(
            f"{name}: a name of the primary server's own host ({owner.host_id}); no other host can take it. "
            "Request this host's own name.",
            code="name_conflict",
        )

    if owner is not None and owner.had_certificate:
        # A reissue: only the host's open auto-reissue window replaces a reissue token.
        if owner.auto_reissue_open:
            return EnrolmentDecision.REISSUE
        raise ConflictError(
            f"{name}: already a name of host {owner.host_id} ({owner.primary_name}), which has had a "
            "certificate; a reissue token for that host is required "
            f"('hostca token create --reissue --host {owner.primary_name}'), or an open auto-reissue window.",
            code="reissue_token_required",
        )

    if facts.security_level == "very-high":
        raise UnauthorizedError(
            f"{name}: at security level very-high every first certificate needs an authorization token; "
            "ask the administrator for one.",
            code="token_required",
        )

    if owner is not None:
        # Pre-registered with 'hostca host add' and never certified: allowed at high and medium.
        return EnrolmentDecision.FIRST_CERTIFICATE

    if facts.security_level == "high":
        raise UnauthorizedError(
            f"{name}: not pre-registered, and at security level high a host that is not pre-registered "
            "needs an authorization token; ask the administrator to run 'hostca host add "
            f"{name}' or to create a token.",
            code="token_required",
        )

    if facts.resolves_to_source:
        return EnrolmentDecision.NEW_HOST
    resolved = ", ".join(facts.resolved_addresses) or "no address"
    raise ForbiddenError(
        f"{name}: resolves to {resolved}, not to the request's source address {facts.source_ip}; at security "
        "level medium a host without a token must enrol from an address its name resolves to. "
        "Fix DNS or the hosts file, or use an authorization token.",
        code="name_not_resolved",
        details={"resolved": list(facts.resolved_addresses), "source_ip": facts.source_ip},
    )
