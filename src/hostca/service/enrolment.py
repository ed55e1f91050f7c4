"""Enrolment: a host presents a CSR and a token and gets a certificate.

An authorization token gives a new host its first certificate. A reissue token
gives the one host it serves a new certificate under the same host ID, and
revokes that host's earlier certificates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Connection, Row

from hostca.core.csr import CheckedCsr, CsrInvalidError, load_csr
from hostca.core.errors import ConflictError, ForbiddenError, HostcaError, UnauthorizedError
from hostca.core.keys import IssuablePublicKey
from hostca.core.names import is_ip_address, normalize_names
from hostca.core.policy import EnrolmentDecision, EnrolmentFacts, NameOwner, decide_enrolment
from hostca.core.tokens import canonicalize_token_value, hash_token_value
from hostca.service.audit_log import append_event, record_failure
from hostca.service.context import Actor, ServiceContext
from hostca.service.discovered_names import record_discovered_names
from hostca.service.domain_settings import load_domain_settings
from hostca.service.host_lookup import check_not_primary_server
from hostca.service.issuance import IssuedCertificate, issue_next_certificate
from hostca.service.rate_limits import REDEMPTION, check_rate_limit_on, count_auth_failure
from hostca.store import host_records, token_records

__all__ = ["EnrolRequest", "enroll", "requested_primary_name"]

log = structlog.get_logger("hostca.enrol")

# Rejections that count toward the rate limit on token redemptions: the value
# matches no usable token. A valid token used for the wrong host does not count.
TOKEN_FAILURE_CODES = frozenset({"token_invalid", "token_expired", "token_used_up"})


@dataclass(frozen=True)
class EnrolRequest:
    csr_pem: str
    token_value: str | None
    source_ip: str | None


def requested_primary_name(checked: CheckedCsr) -> tuple[str, list[str]]:
    """Return the requested primary name (the first DNS name) and the further names."""
    names = normalize_names(checked.requested_names)
    dns_names = [name for name in names if not is_ip_address(name)]
    if not dns_names:
        raise CsrInvalidError(
            "the CSR names no DNS name; put the host name in the subject alternative name "
            "or the common name.",
        )
    primary = dns_names[0]
    return primary, [name for name in names if name != primary]


def _check_token_usable(token: Row[Any] | None, now: datetime) -> Row[Any]:
    # The same message for every unknown value, so an error reveals nothing about
    # which tokens exist. The audit event records the detail.
    if token is None or token.deleted_at is not None:
        raise UnauthorizedError(
            "the token is not valid; check the value, or ask the administrator for a new token.",
            code="token_invalid",
            details={"token_found": token is not None, "token_deleted": token is not None},
        )
    if token.valid_until <= now:
        raise UnauthorizedError(
            f"the token {token.name} expired at {token.valid_until.isoformat()}; "
            "ask the administrator for a new token.",
            code="token_expired",
            details={"token": token.name},
        )
    if token.uses >= token.max_uses:
        raise UnauthorizedError(
            f"the token {token.name} has been used {token.uses} of {token.max_uses} times; "
            "ask the administrator for a new token.",
            code="token_used_up",
            details={"token": token.name},
        )
    return token


def reissue_required_message(name: str, owner: Row[Any]) -> str:
    """Explain why an authorization token cannot take a registered name, and the two ways on."""
    if name == owner.primary_name:
        known_as = f"the primary name of host {owner.host_id}"
    else:
        known_as = f"a name of host {owner.host_id} ({owner.primary_name})"
    return (
        f"{name}: {known_as}, which has had a certificate. If this is that host, the administrator "
        f"creates a reissue token for it ('hostca token create --reissue --host {owner.primary_name}'). "
        f"If the name now belongs to another machine, the administrator first removes it from that host."
    )


def _host_for_authorization(connection: Connection, primary: str, now: datetime) -> str:
    """Return the host that a first certificate for ``primary`` belongs to, creating it if new."""
    host_records.lock_name(connection, primary)
    owners = host_records.find_name_owners(connection, primary)
    for owner in owners:
        if owner.first_issued_at is not None:
            raise ConflictError(
                reissue_required_message(primary, owner),
                code="reissue_token_required",
                details={"name": primary, "host_id": owner.host_id},
            )
    if owners:
        if owners[0].shared:
            raise ConflictError(
                f"{primary}: a shared cluster name, which cannot be a host's primary name; "
                "request the host's own name.",
                code="name_conflict",
                details={"name": primary},
            )
        # A pre-registered host takes its first certificate.
        return str(owners[0].host_id)

    return host_records.create_host(connection, primary, now)


def rename_if_needed(connection: Connection, host_id: str, name: str, now: datetime) -> str | None:
    """Make ``name``, an approved name of the host, its primary name; return the name it replaced."""
    host = host_records.find_host(connection, host_id)
    if host is None or host.primary_name == name:
        return None
    return host_records.set_primary_name(connection, host_id, name, now)


def _host_for_reissue(connection: Connection, token: Row[Any], primary: str, now: datetime) -> str:
    """Check that ``primary`` is a name of the token's host; a mapped name becomes its primary name."""
    host_id = str(token.host_id)
    host = host_records.find_host(connection, host_id)
    if host is not None:
        check_not_primary_server(host)
    host_records.lock_name(connection, primary)
    owners = host_records.find_name_owners(connection, primary)
    own = next((row for row in owners if row.host_id == host_id), None)
    if own is not None:
        return host_id

    assert host is not None
    if owners:
        raise ForbiddenError(
            f"{primary}: a name of host {owners[0].host_id}, but the reissue token {token.name} "
            f"serves host {host_id} ({host.primary_name}); use a reissue token for the right host.",
            code="token_host_mismatch",
            details={"token": token.name, "name": primary, "token_host_id": host_id},
        )
    raise ForbiddenError(
        f"{primary}: not a name of host {host_id} ({host.primary_name}), which the reissue token "
        f"{token.name} serves; request {host.primary_name}, or first add the new name with "
        f"'hostca host mapping add {host.primary_name} {primary}'.",
        code="name_not_mapped",
        details={"token": token.name, "name": primary, "token_host_id": host_id},
    )


def enroll(context: ServiceContext, request: EnrolRequest) -> IssuedCertificate:
    """Issue a certificate for a CSR authorized by a token, as one transaction."""
    actor = Actor.anonymous(request.source_ip)
    audit: dict[str, Any] = {"target": None, "host_id": None, "details": {}}
    try:
        issued, revoked = _enroll(context, request, actor, audit)
    except HostcaError as error:
        if request.token_value is not None and error.code in TOKEN_FAILURE_CODES:
            count_auth_failure(context, REDEMPTION, request.source_ip)
        record_failure(
            context,
            error,
            category="CERT",
            action="enroll",
            actor=actor,
            target=audit["target"],
            host_id=audit["host_id"],
            details=audit["details"],
        )
        raise
    if revoked:
        context.notify_revocation()
    log.info(
        "certificate_issued",
        host_id=issued.host_id,
        serial_number=issued.serial_number,
        source_ip=request.source_ip,
        revoked=revoked,
    )
    return issued


def _enroll(
    context: ServiceContext, request: EnrolRequest, actor: Actor, audit: dict[str, Any]
) -> tuple[IssuedCertificate, list[str]]:
    checked = load_csr(request.csr_pem)
    primary, further_names = requested_primary_name(checked)
    audit["target"] = primary
    audit["details"]["requested_names"] = [primary, *further_names]
    now = context.clock()
    if request.token_value is None:
        return _enroll_without_token(
            context, request, actor, audit, checked.public_key, primary, further_names, now
        )
    value_hash = hash_token_value(
        context.token_hmac_key, canonicalize_token_value(request.token_value)
    )

    with context.database.transaction() as connection:
        # Checked before the token, so that a limited caller learns nothing about it.
        settings = load_domain_settings(connection)
        check_rate_limit_on(connection, settings, REDEMPTION, request.source_ip, now)
        token = _check_token_usable(token_records.find_token_by_hash(connection, value_hash), now)
        audit["details"]["token"] = token.name
        if token.kind == "reissue":
            audit["host_id"] = token.host_id
            host_id = _host_for_reissue(connection, token, primary, now)
            renamed_from = rename_if_needed(connection, host_id, primary, now)
        else:
            host_id = _host_for_authorization(connection, primary, now)
            renamed_from = None
        audit["host_id"] = host_id

        record_discovered_names(
            connection, host_id, further_names, auto_map=settings.auto_map, now=now
        )
        if not token_records.consume_token(connection, token.id, now):
            # Another request took the last use between our read and this update.
            raise UnauthorizedError(
                f"the token {token.name} has no uses left; ask the administrator for a new token.",
                code="token_used_up",
                details={"token": token.name},
            )

        issued, revoked = issue_next_certificate(
            connection,
            context,
            host_id=host_id,
            public_key=checked.public_key,
            lifetime=settings.certificate_lifetime,
            now=now,
            retire="revoke" if token.kind == "reissue" else "keep",
        )
        append_event(
            connection,
            context,
            category="CERT",
            action="reissue" if token.kind == "reissue" else "enroll",
            actor=actor,
            target=issued.serial_number,
            host_id=host_id,
            details={
                "token": token.name,
                "renamed_from": renamed_from,
                "token_kind": token.kind,
                "names": list(issued.names),
                "not_after": issued.not_after.isoformat(),
                "revoked": revoked,
            },
        )
    return issued, revoked


def _name_owner(connection: Connection, name: str, now: datetime) -> NameOwner | None:
    host_records.lock_name(connection, name)
    owners = host_records.find_name_owners(connection, name)
    if not owners:
        return None
    owner = owners[0]
    host = host_records.find_host(connection, owner.host_id)
    window = None if host is None else host.auto_reissue_until
    return NameOwner(
        host_id=str(owner.host_id),
        primary_name=str(owner.primary_name),
        had_certificate=owner.first_issued_at is not None,
        auto_reissue_open=window is not None and window > now,
        shared=bool(owner.shared),
        is_primary_server=bool(host is not None and host.is_primary_server),
    )


def _enroll_without_token(
    context: ServiceContext,
    request: EnrolRequest,
    actor: Actor,
    audit: dict[str, Any],
    public_key: IssuablePublicKey,
    primary: str,
    further_names: list[str],
    now: datetime,
) -> tuple[IssuedCertificate, list[str]]:
    """Issue as the deployment policy allows: pre-registered, resolving name, or auto-reissue window."""
    with context.database.engine.connect() as connection:
        level = load_domain_settings(connection).security_level
    # Resolve before the write transaction, so that a slow DNS answer holds no lock.
    resolves, addresses = (
        context.resolver.resolves_to(primary, request.source_ip)
        if level == "medium"
        else (None, ())
    )

    with context.database.transaction() as connection:
        settings = load_domain_settings(connection)
        owner = _name_owner(connection, primary, now)
        if owner is not None:
            audit["host_id"] = owner.host_id
        decision = decide_enrolment(
            EnrolmentFacts(
                security_level=settings.security_level,
                requested_name=primary,
                owner=owner,
                resolves_to_source=resolves,
                resolved_addresses=addresses,
                source_ip=request.source_ip,
            )
        )
        audit["details"]["policy"] = decision.value
        if decision is EnrolmentDecision.NEW_HOST:
            host_id = host_records.create_host(connection, primary, now)
        else:
            assert owner is not None
            host_id = owner.host_id
        renamed_from = None
        if decision is EnrolmentDecision.REISSUE:
            renamed_from = rename_if_needed(connection, host_id, primary, now)
            # Using the window closes it.
            host_records.update_host(connection, host_id, auto_reissue_until=None)
        audit["host_id"] = host_id

        record_discovered_names(
            connection, host_id, further_names, auto_map=settings.auto_map, now=now
        )
        issued, revoked = issue_next_certificate(
            connection,
            context,
            host_id=host_id,
            public_key=public_key,
            lifetime=settings.certificate_lifetime,
            now=now,
            retire="revoke" if decision is EnrolmentDecision.REISSUE else "keep",
        )
        append_event(
            connection,
            context,
            category="CERT",
            action="reissue" if decision is EnrolmentDecision.REISSUE else "enroll",
            actor=actor,
            target=issued.serial_number,
            host_id=host_id,
            details={
                "policy": decision.value,
                "renamed_from": renamed_from,
                "security_level": settings.security_level,
                "auto_reissue_window": decision is EnrolmentDecision.REISSUE,
                "names": list(issued.names),
                "not_after": issued.not_after.isoformat(),
                "revoked": revoked,
            },
        )
    return issued, revoked
